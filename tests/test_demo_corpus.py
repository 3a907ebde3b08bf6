"""The procedural demo corpus: determinism, format, and speech-like structure."""

from __future__ import annotations

import numpy as np
import pytest

from pwave.audio.io import load_audio
from pwave.data.demo import generate_demo_corpus, make_speaker, synthesize_utterance


@pytest.fixture(scope="module")
def corpus():
    return generate_demo_corpus(num_utterances=4, seconds=2.0, seed=3)


def test_deterministic_and_prefix_stable(corpus):
    again = generate_demo_corpus(num_utterances=2, seconds=2.0, seed=3)
    for a, b in zip(corpus, again):
        assert a.id == b.id and np.array_equal(a.audio, b.audio)
    other = generate_demo_corpus(num_utterances=1, seconds=2.0, seed=4)
    assert not np.array_equal(other[0].audio, corpus[0].audio)


def test_format(corpus):
    assert len({u.id for u in corpus}) == 4 and len({u.speaker for u in corpus}) == 4
    for u in corpus:
        assert u.audio.dtype == np.float32 and u.audio.shape == (32000,) and u.sample_rate == 16000
        assert np.isfinite(u.audio).all() and 0.3 < np.abs(u.audio).max() < 1.0
    ranged = generate_demo_corpus(num_utterances=3, seconds=(0.5, 1.0), seed=0)
    assert all(8000 <= u.audio.shape[0] <= 16000 for u in ranged)


def test_speech_like_structure():
    """Pauses, voiced frames at the speaker's pitch, and noisy high-frequency bursts."""
    sr, n = 16000, 640  # 40 ms frames
    speaker = make_speaker(0, 1)
    x = synthesize_utterance(np.random.default_rng(0), 4.0, speaker, sr).astype(np.float64)
    frames = x[: len(x) // n * n].reshape(-1, n)
    energy_db = 10 * np.log10((frames**2).mean(1) + 1e-12)
    loud = energy_db > energy_db.max() - 20
    assert (energy_db < energy_db.max() - 40).mean() > 0.05  # pauses exist
    assert 0.3 < loud.mean() < 0.95

    pitches, centroids = [], []
    freqs = np.fft.rfftfreq(n, 1 / sr)
    lo, hi = sr // 400, sr // 60  # lags for 400 Hz .. 60 Hz
    for f in frames[loud]:
        spec = np.abs(np.fft.rfft(f * np.hanning(n)))
        centroids.append((freqs * spec).sum() / spec.sum())
        ac = np.correlate(f, f, "full")[n - 1 :] / (n - np.arange(n))  # unbiased
        lag = lo + int(np.argmax(ac[lo:hi]))
        if ac[lag] > 0.5 * ac[0]:  # clearly periodic frame
            pitches.append(sr / lag)
    assert len(pitches) > 0.5 * loud.sum()
    assert 0.8 * speaker.f0 < np.median(pitches) < 1.2 * speaker.f0
    assert np.std(pitches) > 3  # the pitch wanders
    assert max(centroids) > 2500 and min(centroids) < 1200  # fricatives and vowels


def test_written_tree_is_readable(tmp_path):
    utts = generate_demo_corpus(tmp_path, num_utterances=3, seconds=0.5, seed=1)
    for u in utts:
        assert u.path == tmp_path / u.speaker / f"{u.id}.wav"
        got = load_audio(u.path)
        assert got.sample_rate == 16000 and np.abs(got.audio - u.audio).max() < 1e-4
