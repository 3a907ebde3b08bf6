import pytest

from pwave.audio.config import FeatureConfig, FeatureMismatchError


def test_round_trip_through_dict():
    cfg = FeatureConfig(n_mels=4, mel_mean=(0.1, 0.2, 0.3, 0.4), mel_std=(1.0, 1.0, 2.0, 2.0))
    assert FeatureConfig.from_dict(cfg.to_dict()) == cfg


def test_mismatch_names_each_field():
    a = FeatureConfig()
    b = a.replace(sample_rate=22050, hop_length=275)
    with pytest.raises(FeatureMismatchError, match="sample_rate: 16000 != 22050") as err:
        a.check_matches(b, what="teacher", against="student")
    assert "hop_length: 256 != 275" in str(err.value)
    assert "teacher" in str(err.value)
    a.check_matches(a.replace())  # equal configs pass


def test_invalid_values_are_refused():
    with pytest.raises(ValueError, match="win_length"):
        FeatureConfig(n_fft=512, win_length=1024)
    with pytest.raises(ValueError, match="mel_mean has 2 entries"):
        FeatureConfig(n_mels=3, mel_mean=(0.0, 1.0))
    with pytest.raises(ValueError, match="unknown feature config fields"):
        FeatureConfig.from_dict({"sr": 16000})
