"""`pwave mels check` finds each planted fault; `pwave mels convert` is exact where it can be.

The "model" is a feature config whose statistics come from speech-like audio; the checked
mels are made from other audio of the same kind, then spoiled one way each.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import soundfile as sf
import torch
from helpers.speech import speech_like

from pwave.audio.config import FeatureConfig
from pwave.audio.features import MelStatsAccumulator, save_feature_config
from pwave.audio.mel import MelSpectrogram
from pwave.audio.mel_check import check_mels
from pwave.audio.mel_convert import MelConvention, conversion_loss, convert, is_exact
from pwave.audio.presets import get_preset
from pwave.cli.mels import main

SR = 16000
BASE = FeatureConfig(sample_rate=SR, n_fft=256, hop_length=64, win_length=256, n_mels=20)


def logmel(features: FeatureConfig, audio: np.ndarray) -> np.ndarray:
    return MelSpectrogram(features)(torch.from_numpy(audio)[None])[0].numpy()


@pytest.fixture(scope="module")
def model_features() -> FeatureConfig:
    """The model's feature config, statistics from six training utterances."""
    acc = MelStatsAccumulator(BASE.n_mels)
    for seed in range(6):
        acc.add(logmel(BASE, speech_like(SR, 1.0, seed=seed)))
    return acc.apply(BASE)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Four held-out recordings (seconds 0.7-1.0, one with silence) and their good mels."""
    root = tmp_path_factory.mktemp("check")
    (root / "wavs").mkdir()
    items = {}
    for i in range(4):
        audio = speech_like(SR, 0.7 + 0.1 * i, seed=100 + i, gap=i == 0)
        audio = audio[: len(audio) // 64 * 64]
        sf.write(root / "wavs" / f"utt{i}.wav", audio, SR, "FLOAT")
        items[f"utt{i}"] = audio
    return root, items


def write(folder, mels: dict[str, np.ndarray]):
    folder.mkdir(parents=True, exist_ok=True)
    for stem, mel in mels.items():
        np.save(folder / f"{stem}.npy", mel.astype(np.float32))
    return folder


def good_mels(items) -> dict[str, np.ndarray]:
    return {stem: logmel(BASE, a) for stem, a in items.items()}


def normalise(mel: np.ndarray, f: FeatureConfig) -> np.ndarray:
    return (mel - np.asarray(f.mel_mean)[:, None]) / np.asarray(f.mel_std)[:, None]


def run_check(features, folder, audio=None, normalized=False):
    return check_mels(features, folder, audio, normalized=normalized)


def test_correct_folder_passes(model_features, corpus, tmp_path):
    root, items = corpus
    report = run_check(model_features, write(tmp_path / "good", good_mels(items)), root / "wavs")
    assert report.usable, report.text()
    assert report.convention.startswith("the model")
    normed = {k: normalise(v, model_features) for k, v in good_mels(items).items()}
    report = run_check(model_features, write(tmp_path / "normed", normed), normalized=True)
    assert report.usable, report.text()


PLANTED = {
    # name: (how the mels are spoiled, normalized flag, expected kind, words in the message)
    "transposed": (lambda m, f: m.T, False, "transposed", "[frames, n_mels]"),
    "log10 vs ln": (lambda m, f: m / math.log(10.0), False, "log_base", "log10"),
    "un-normalised": (lambda m, f: m, True, "missing_normalization", "un-normalised"),
    "double-normalised": (
        lambda m, f: normalise(normalise(m, f), f), True, "double_normalization", "twice"
    ),
    "normalised, raw expected": (
        lambda m, f: normalise(m, f), False, "double_normalization", "double normalisation"
    ),
}


@pytest.mark.parametrize("fault", list(PLANTED))
def test_each_planted_fault_is_named(model_features, corpus, tmp_path, fault):
    root, items = corpus
    spoil, normalized, kind, words = PLANTED[fault]
    mels = {k: spoil(v, model_features) for k, v in good_mels(items).items()}
    report = run_check(model_features, write(tmp_path / "bad", mels), root / "wavs", normalized)
    assert not report.usable
    assert kind in report.kinds(), report.text()
    assert words in report.text(), report.text()


def test_wrong_number_of_bins(model_features, corpus, tmp_path):
    root, items = corpus
    other = BASE.replace(n_mels=32)
    mels = {k: logmel(other, a) for k, a in items.items()}
    report = run_check(model_features, write(tmp_path / "bins", mels))
    assert not report.usable and report.kinds() == {"n_mels"}
    assert "wrong number of mel bins" in report.text() and "n_mels=20" in report.text()


def test_hop_mismatch_against_audio(model_features, corpus, tmp_path):
    root, items = corpus
    other = BASE.replace(hop_length=48)
    mels = {k: logmel(other, a) for k, a in items.items()}
    report = run_check(model_features, write(tmp_path / "hop", mels), root / "wavs")
    assert "frames" in report.kinds(), report.text()
    assert "frame count does not match the audio" in report.text()
    assert "hop of 48" in report.text()  # the hop the file implies
    # one trailing frame more (a center=True front end) is a note, not a fault
    extra = {k: np.concatenate([m, m[:, -1:]], axis=1) for k, m in good_mels(items).items()}
    report = run_check(model_features, write(tmp_path / "extra", extra), root / "wavs")
    assert report.usable and any(f.kind == "frames" for f in report.findings)


def test_lower_log_floor(model_features, corpus, tmp_path):
    root, items = corpus
    low = BASE.replace(log_floor=1e-9)
    mels = {k: logmel(low, a) for k, a in items.items()}
    report = run_check(model_features, write(tmp_path / "floor", mels))
    assert "log_floor" in report.kinds(), report.text()


def test_cli_exit_codes_and_json(model_features, corpus, tmp_path, capsys):
    root, items = corpus
    save_feature_config(model_features, tmp_path / "feature_config.json")
    good = write(tmp_path / "good", good_mels(items))
    argv = ["check", "--checkpoint", str(tmp_path / "feature_config.json"), str(good)]
    assert main([*argv, "--audio", str(root / "wavs")]) == 0
    bad = write(tmp_path / "bad", {k: m.T for k, m in good_mels(items).items()})
    out = tmp_path / "report.json"
    assert main(["check", "--checkpoint", str(tmp_path), str(bad), "--output", str(out)]) == 1
    data = json.loads(out.read_text())
    assert not data["usable"] and {f["kind"] for f in data["findings"]} == {"transposed"}
    assert "FAULT [transposed]" in capsys.readouterr().out


def test_cli_reads_a_checkpoint(model_features, corpus, tmp_path):
    from pwave.models.student import Student, StudentConfig

    config = StudentConfig.demo().replace(features=model_features, upsample_factors=(8, 8))
    Student(config).save(tmp_path / "student.pt")
    _, items = corpus
    good = write(tmp_path / "good", good_mels(items))
    assert main(["check", "--checkpoint", str(tmp_path / "student.pt"), str(good)]) == 0


# --------------------------------------------------------------------- convert


def test_exact_conversions_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    pwg = MelConvention.of_preset("parallelwavegan")
    stats = (rng.normal(-2, 0.5, 80), rng.uniform(0.5, 1.5, 80))
    pwg_norm = MelConvention("pwg-normalised", pwg.features, stats, "first")
    model = MelConvention.of_model(pwg.features.replace(log_base="e", log_floor=1e-10))
    assert is_exact(pwg.features, model.features)
    assert conversion_loss(pwg.features, model.features) == 0
    y = speech_like(22050, seed=5)
    raw = logmel(pwg.features, y)  # log10, [80, frames]
    stored = pwg_norm.from_log(raw)  # normalised, [frames, 80]
    ln, exact = convert(stored, pwg_norm, model)
    assert exact and np.abs(ln - raw * math.log(10.0)).max() < 1e-12
    back, _ = convert(ln, model, pwg_norm)
    assert np.abs(back - stored).max() < 1e-12  # round trip to float64 precision


def test_cli_convert_round_trip_in_float32(tmp_path):
    y = speech_like(22050, seed=6)
    hifi = get_preset("hifigan").features
    mel = logmel(hifi, y).astype(np.float32)
    np.save(tmp_path / "a.npy", mel)
    target = hifi.replace(log_base="10", log_floor=1e-6)
    save_feature_config(target, tmp_path / "t.json")
    assert main(["convert", "--from-preset", "hifigan", "--checkpoint", str(tmp_path / "t.json"),
                 str(tmp_path / "a.npy"), "--output", str(tmp_path / "b.npy")]) == 0  # fmt: skip
    assert main(["convert", "--from-checkpoint", str(tmp_path / "t.json"), "--to-preset", "hifigan",
                 str(tmp_path / "b.npy"), "--output", str(tmp_path / "c.npy")]) == 0  # fmt: skip
    back = np.load(tmp_path / "c.npy")
    assert np.abs(back - np.maximum(mel, math.log(1e-6))).max() < 1e-5  # float32 files


@pytest.mark.parametrize(
    "src, dst, mean_bound",
    [("hifigan", "vocos", 0.25), ("vocos", "hifigan", 0.25), ("parallelwavegan", "hifigan", 0.2)],
)
def test_approximate_conversion_accuracy(src, dst, mean_bound):
    """Converted mels against the target computed from the same audio, on the bins whose
    centre the source covers (the docstring of pwave.audio.mel_convert has the numbers)."""
    import librosa

    from pwave.audio.mel import mel_filterbank
    from pwave.audio.mel_convert import _covered

    a, b = get_preset(src).features, get_preset(dst).features
    y = speech_like(a.sample_rate, seed=7)
    yb = librosa.resample(y, orig_sr=a.sample_rate, target_sr=b.sample_rate)
    ref = logmel(b, yb) * (math.log(10.0) if b.log_base == "10" else 1.0)
    out, exact = convert(logmel(a, y), MelConvention(src, a), MelConvention(dst, b))
    out = out * (math.log(10.0) if b.log_base == "10" else 1.0)
    assert not exact and abs(out.shape[1] - ref.shape[1]) <= 1
    lo, hi = _covered(a)
    centres = np.fft.rfftfreq(b.n_fft, 1 / b.sample_rate)[mel_filterbank(b).argmax(axis=1)]
    inside = (centres >= lo) & (centres <= hi)
    n = min(out.shape[1], ref.shape[1])
    err = np.abs(out[inside, :n] - ref[inside, :n])
    assert err.mean() < mean_bound, err.mean()


def test_help_lists_the_presets_as_defined_and_imports_no_torch():
    import subprocess
    import sys

    from pwave.audio.presets import PRESETS
    from pwave.cli import mels

    for name, preset in PRESETS.items():
        line = next(x for x in mels.DESCRIPTION.splitlines() if x.strip().startswith(name + " "))
        f = preset.features
        if "as parallelwavegan" not in line:
            assert f"{f.sample_rate} Hz" in line and f"{f.n_mels} " in line, line
    code = (
        "import sys\nfrom pwave.cli import main\n"
        "try:\n    main(['mels', 'check', '--help'])\nexcept SystemExit:\n    pass\n"
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "False"


def test_convert_for_model_refuses_lossy_conversions():
    from pwave.audio.mel_convert import convert_for_model
    from pwave.errors import FeatureMismatchError

    hifi, vocos = get_preset("hifigan").features, get_preset("vocos").features
    mel = logmel(hifi, speech_like(22050, 0.5, seed=8))
    out, exact = convert_for_model(mel, "hifigan", hifi.replace(log_base="10"))
    assert exact and np.allclose(out, mel / math.log(10.0))
    out, exact = convert_for_model(logmel(vocos, speech_like(24000, 0.5)), "vocos", hifi)
    assert not exact and out.shape[0] == 80  # 24 kHz, 100 HTK bins -> 80 Slaney: accepted
    with pytest.raises(FeatureMismatchError, match="too lossy: 15%"):
        convert_for_model(mel, "hifigan", vocos)  # vocos' bins above 8 kHz
