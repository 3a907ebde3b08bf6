"""Objective metrics: zero for identical signals, ordered by degradation, known identities."""

import math

import numpy as np
import pytest

from pwave.audio.config import FeatureConfig
from pwave.audio.mel import MelSpectrogram
from pwave.evaluation.metrics import (
    log_mel_distance_db,
    mel_cepstral_distortion_db,
    natural_log_mel,
    pesq_score,
    stoi_score,
)

SR = 16000


def _speechlike(seconds: float = 1.5, seed: int = 0) -> np.ndarray:
    from pwave.data.demo import make_speaker, synthesize_utterance  # procedural demo voice

    rng = np.random.default_rng(seed)
    return synthesize_utterance(rng, seconds, make_speaker(seed, 0), sample_rate=SR)


@pytest.fixture(scope="module")
def log_mel():
    return natural_log_mel(MelSpectrogram(FeatureConfig()))


def test_spectral_distances_zero_for_identical_and_grow_with_noise(log_mel):
    ref = _speechlike()
    rng = np.random.default_rng(0)
    noise = rng.standard_normal(ref.shape).astype(np.float32)
    assert log_mel_distance_db(ref, ref, log_mel) == 0.0
    assert mel_cepstral_distortion_db(ref, ref, log_mel) == 0.0
    lsd = [log_mel_distance_db(ref + a * noise, ref, log_mel) for a in (0.001, 0.01, 0.1)]
    mcd = [mel_cepstral_distortion_db(ref + a * noise, ref, log_mel) for a in (0.001, 0.01, 0.1)]
    assert lsd[0] < lsd[1] < lsd[2]
    assert mcd[0] < mcd[1] < mcd[2]


def test_log_mel_distance_of_a_gain_is_the_gain_in_db(log_mel):
    ref = _speechlike()
    # A gain of 2 shifts every (unfloored) log magnitude by 20 log10(2) dB.
    got = log_mel_distance_db(2.0 * ref, ref, log_mel)
    assert abs(got - 20 * math.log10(2.0)) < 0.05


def test_pesq_and_stoi_rank_clean_above_noisy():
    ref = _speechlike(seconds=3.0, seed=1)
    rng = np.random.default_rng(1)
    noisy = ref + 0.05 * rng.standard_normal(ref.shape).astype(np.float32)
    assert pesq_score(ref, ref, SR) > pesq_score(noisy, ref, SR)
    assert stoi_score(ref, ref, SR) > 0.99
    assert stoi_score(noisy, ref, SR) < stoi_score(ref, ref, SR)
    silent = np.zeros_like(ref)
    assert math.isnan(pesq_score(silent, silent, SR)) or pesq_score(silent, silent, SR) > 0
