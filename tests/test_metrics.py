"""Objective metrics: known values from independent computations, invariances, and the
argument order of the PESQ and STOI packages.

The spectral metrics are checked twice: against closed forms on crafted log-mels (a
``log_mel`` callable that returns fixed matrices), and against a few lines of numpy written
here from the formulas in :mod:`pwave.evaluation.metrics` on real signals.
"""

import math

import numpy as np
import pytest
import torch

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
DB = 20.0 / math.log(10.0)  # dB per neper of amplitude
MCD_CONST = 10.0 / math.log(10.0)


def _speechlike(seconds: float = 1.5, seed: int = 0, sample_rate: int = SR) -> np.ndarray:
    from pwave.data.demo import make_speaker, synthesize_utterance  # procedural demo voice

    rng = np.random.default_rng(seed)
    return synthesize_utterance(rng, seconds, make_speaker(seed, 0), sample_rate=sample_rate)


def _lowpass(x: np.ndarray, hz: float, sample_rate: int = SR) -> np.ndarray:
    from scipy.signal import butter, lfilter

    b, a = butter(4, hz / (sample_rate / 2))
    return lfilter(b, a, x).astype(np.float32)


@pytest.fixture(scope="module")
def log_mel():
    return natural_log_mel(MelSpectrogram(FeatureConfig()))


def fixed_log_mels(generated: np.ndarray, reference: np.ndarray):
    """``(log_mel, gen_tag, ref_tag)``: a ``log_mel`` callable that returns ``generated`` /
    ``reference`` (``[n_mels, frames]`` natural logs) for the one-sample "audio" tags."""
    mats = {1.0: generated, 0.0: reference}

    def log_mel(audio: torch.Tensor) -> torch.Tensor:
        return torch.as_tensor(mats[float(audio.reshape(-1)[0])], dtype=torch.float64)[None]

    return log_mel, np.ones(1, np.float32), np.zeros(1, np.float32)


# -- the existing sanity checks ------------------------------------------------------------


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


# -- log-mel distance: known values --------------------------------------------------------


def test_log_mel_distance_is_the_mean_over_frames_of_the_rms_over_bins():
    """Frame ``f`` differs by ``d_f`` nepers in every bin: the distance is ``DB * mean |d_f|``
    (an RMS over frames, or a mean over bins first, would give another number)."""
    d = np.array([0.5, -1.0, 2.0, 0.0, 0.25])
    ref = np.random.default_rng(0).normal(size=(6, d.size))
    fn, g, r = fixed_log_mels(ref + d[None, :], ref)
    assert log_mel_distance_db(g, r, fn) == pytest.approx(DB * np.abs(d).mean(), rel=1e-6)
    # a random difference, against the formula written out in numpy
    diff = np.random.default_rng(1).normal(size=(6, 9))
    fn, g, r = fixed_log_mels(ref[:, :1] + diff, np.repeat(ref[:, :1], 9, axis=1))
    expected = np.sqrt(((DB * diff) ** 2).mean(axis=0)).mean()
    assert log_mel_distance_db(g, r, fn) == pytest.approx(expected, rel=1e-6)


def test_log_mel_distance_on_speech_matches_numpy_and_is_symmetric(log_mel):
    ref = _speechlike(seed=2)
    deg = _lowpass(ref, 2000.0)
    lg = log_mel(torch.from_numpy(deg)[None])[0].double().numpy()
    lr = log_mel(torch.from_numpy(ref)[None])[0].double().numpy()
    expected = np.sqrt(((DB * (lg - lr)) ** 2).mean(axis=0)).mean()
    got = log_mel_distance_db(deg, ref, log_mel)
    assert got == pytest.approx(expected, rel=1e-5)
    assert got > 1.0  # a real difference, not a floor artefact
    assert log_mel_distance_db(ref, deg, log_mel) == pytest.approx(got, rel=1e-6)


def test_natural_log_mel_is_in_nepers_whatever_the_config_log_base():
    audio = torch.from_numpy(_speechlike(seconds=0.5))[None]
    cfg = FeatureConfig()
    ln = natural_log_mel(MelSpectrogram(cfg.replace(log_base="e")))(audio)
    log10_cfg = natural_log_mel(MelSpectrogram(cfg.replace(log_base="10")))(audio)
    torch.testing.assert_close(ln, log10_cfg)
    mel = MelSpectrogram(cfg.replace(log_base="e"))
    torch.testing.assert_close(ln, mel(audio))  # pwave's own log-mel, floor included


# -- mel-cepstral distortion: known values -------------------------------------------------


def _cosine(k: int, m: int) -> np.ndarray:
    return np.cos(np.pi * k * (np.arange(m) + 0.5) / m)


@pytest.mark.parametrize("k", [1, 7, 24])
def test_mcd_of_one_cepstral_cosine_is_known(k):
    """``ln|S_m|`` differing by ``A + a cos(pi k (m + 1/2) / M)``: ``c_0`` changes by ``A``
    (ignored) and ``c_k`` by ``a / 2``, so MCD = ``10 / ln 10 * sqrt(2 (a/2)^2)``."""
    m, frames, a = 40, 5, 0.8
    ref = np.random.default_rng(k).normal(size=(m, frames))
    diff = 3.0 + a * _cosine(k, m)
    fn, g, r = fixed_log_mels(ref + diff[:, None], ref)
    expected = MCD_CONST * math.sqrt(2.0 * (a / 2) ** 2)
    assert mel_cepstral_distortion_db(g, r, fn) == pytest.approx(expected, rel=1e-9)


def test_mcd_uses_coefficients_one_to_order_only():
    m, a = 40, 0.8
    ref = np.random.default_rng(0).normal(size=(m, 3))
    fn, g, r = fixed_log_mels(ref + a * _cosine(25, m)[:, None], ref)
    assert mel_cepstral_distortion_db(g, r, fn) == pytest.approx(0.0, abs=1e-9)  # k > 24
    assert mel_cepstral_distortion_db(g, r, fn, order=25) == pytest.approx(
        MCD_CONST * a / math.sqrt(2.0), rel=1e-9
    )
    fn, g, r = fixed_log_mels(ref + 5.0, ref)  # energy (c0) only
    assert mel_cepstral_distortion_db(g, r, fn) == pytest.approx(0.0, abs=1e-9)


def test_mcd_on_speech_matches_an_explicit_dct_in_numpy(log_mel):
    ref = _speechlike(seed=3)
    deg = _lowpass(ref, 2500.0)
    lg = log_mel(torch.from_numpy(deg)[None])[0].double().numpy()  # [n_mels, frames]
    lr = log_mel(torch.from_numpy(ref)[None])[0].double().numpy()
    m, order = lg.shape[0], 24
    basis = np.stack([_cosine(k, m) for k in range(1, order + 1)]) / m  # c_k = (1/M) sum ...
    dc = basis @ (lg - lr)  # [order, frames]
    expected = MCD_CONST * np.sqrt(2.0 * (dc**2).sum(axis=0)).mean()
    got = mel_cepstral_distortion_db(deg, ref, log_mel)
    assert got == pytest.approx(expected, rel=1e-6)
    assert got > 0.5


def test_mcd_is_gain_invariant_the_log_mel_distance_is_not(log_mel):
    ref = _speechlike(seed=4)
    for gain in (0.5, 2.0, 3.0):
        assert mel_cepstral_distortion_db(gain * ref, ref, log_mel) < 1e-3
        assert log_mel_distance_db(gain * ref, ref, log_mel) == pytest.approx(
            abs(20 * math.log10(gain)), abs=0.05
        )
    # ... while a spectral-shape change is not hidden by it
    assert mel_cepstral_distortion_db(2.0 * _lowpass(ref, 2000.0), ref, log_mel) > 0.5


def test_spectral_metrics_of_near_silent_audio_are_finite(log_mel):
    """Near-silence (not exact zeros): the floor keeps every number finite, and two
    near-silent signals under the floor are equal to the metrics."""
    rng = np.random.default_rng(5)
    hush = (1e-7 * rng.standard_normal(SR)).astype(np.float32)
    hush2 = (1e-7 * rng.standard_normal(SR)).astype(np.float32)
    speech = _speechlike(seconds=1.0, seed=5)
    for g, r in ((hush, hush2), (hush, speech), (speech, hush)):
        assert math.isfinite(log_mel_distance_db(g, r, log_mel))
        assert math.isfinite(mel_cepstral_distortion_db(g, r, log_mel))
    assert log_mel_distance_db(hush, hush2, log_mel) == 0.0
    assert log_mel_distance_db(hush, speech, log_mel) > 20.0
    for g, r in ((hush, speech), (hush, hush2)):  # PESQ never raises: a score or NaN
        score = pesq_score(g, r, SR)
        assert math.isnan(score) or 1.0 <= score <= 4.7


# -- multi-resolution STFT distance: a numpy reference -------------------------------------


def _np_stft_mag(x: np.ndarray, n_fft: int, hop: int, win: int) -> np.ndarray:
    """``|STFT|`` ``[bins, frames]``: centred frames (reflect padding), periodic Hann window
    of ``win`` samples centred in ``n_fft``, magnitude ``sqrt(re^2 + im^2 + 1e-9)``."""
    x = np.pad(x.astype(np.float64), n_fft // 2, mode="reflect")
    w = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(win) / win)
    left = (n_fft - win) // 2
    window = np.zeros(n_fft)
    window[left : left + win] = w
    frames = 1 + (len(x) - n_fft) // hop
    idx = np.arange(n_fft)[None, :] + hop * np.arange(frames)[:, None]
    spec = np.fft.rfft(x[idx] * window, axis=1).T
    return np.sqrt(spec.real**2 + spec.imag**2 + 1e-9)


def _np_mr_stft(deg: np.ndarray, ref: np.ndarray) -> float:
    eps, total = 1e-7, []
    for n_fft, hop, win in ((1024, 120, 600), (2048, 240, 1200), (512, 50, 240)):
        s, s_hat = _np_stft_mag(ref, n_fft, hop, win), _np_stft_mag(deg, n_fft, hop, win)
        sc = np.linalg.norm(s - s_hat) / (np.linalg.norm(s) + eps)
        mag = np.abs(np.log(np.maximum(s, eps)) - np.log(np.maximum(s_hat, eps))).mean()
        total.append((sc, mag))
    sc, mag = np.mean(total, axis=0)
    return float(sc + mag)


def test_mr_stft_distance_matches_a_numpy_reference():
    from pwave.evaluation.evaluate import mr_stft_distance

    ref = _speechlike(seconds=1.0, seed=6)
    rng = np.random.default_rng(6)
    for deg in (_lowpass(ref, 1500.0), ref + 0.02 * rng.standard_normal(ref.shape), 0.5 * ref):
        deg = deg.astype(np.float32)
        assert mr_stft_distance(deg, ref) == pytest.approx(_np_mr_stft(deg, ref), rel=1e-4)
    assert mr_stft_distance(ref, ref) == pytest.approx(0.0, abs=1e-6)
    # spectral convergence is relative to the reference: the distance is not symmetric
    deg = 0.5 * ref
    assert mr_stft_distance(deg, ref) == pytest.approx(0.5 + math.log(2.0), rel=1e-3)
    assert mr_stft_distance(ref, deg) == pytest.approx(1.0 + math.log(2.0), rel=1e-3)


# -- PESQ and STOI: the packages' documented argument order --------------------------------


@pytest.fixture(scope="module")
def asymmetric_pair():
    """A speech-like reference and a low-passed (1.5 kHz) copy: PESQ tells them apart in
    one order and not the other (about 3.1 vs 1.2)."""
    ref = _speechlike(seconds=3.0, seed=1)
    return ref, _lowpass(ref, 1500.0)


def test_pesq_is_pesq_of_reference_then_degraded(asymmetric_pair):
    from pesq import pesq

    ref, deg = asymmetric_pair
    documented = pesq(SR, ref, deg, "wb")  # pesq.pesq(fs, ref, deg, mode)
    swapped = pesq(SR, deg, ref, "wb")
    assert abs(documented - swapped) > 0.5  # the order matters on this pair
    assert pesq_score(deg, ref, SR) == pytest.approx(documented, abs=1e-6)
    assert pesq_score(ref, deg, SR) == pytest.approx(swapped, abs=1e-6)


def test_pesq_is_narrow_band_at_8k_and_resamples_other_rates(asymmetric_pair):
    import librosa
    from pesq import pesq

    ref, deg = asymmetric_pair
    r8 = librosa.resample(ref, orig_sr=SR, target_sr=8000)
    d8 = librosa.resample(deg, orig_sr=SR, target_sr=8000)
    assert pesq_score(d8, r8, 8000) == pytest.approx(pesq(8000, r8, d8, "nb"), abs=1e-6)
    # 24 kHz is scored wide-band on the signals brought back to 16 kHz
    r24 = librosa.resample(ref, orig_sr=SR, target_sr=24000)
    d24 = librosa.resample(deg, orig_sr=SR, target_sr=24000)
    back_r = librosa.resample(r24, orig_sr=24000, target_sr=SR)
    back_d = librosa.resample(d24, orig_sr=24000, target_sr=SR)
    got = pesq_score(d24, r24, 24000)
    assert got == pytest.approx(pesq(SR, back_r, back_d, "wb"), abs=1e-6)
    assert got == pytest.approx(pesq_score(deg, ref, SR), abs=0.3)  # about the 16 kHz score


def test_stoi_is_stoi_of_clean_then_processed():
    from pystoi import stoi

    ref = _speechlike(seconds=3.0, seed=1)
    rng = np.random.default_rng(1)
    deg = (ref + 0.05 * rng.standard_normal(ref.shape)).astype(np.float32)
    documented = stoi(ref, deg, SR)  # pystoi.stoi(clean, denoised, fs)
    swapped = stoi(deg, ref, SR)
    assert abs(documented - swapped) > 0.01
    assert stoi_score(deg, ref, SR) == pytest.approx(documented, abs=1e-9)
    assert stoi_score(ref, deg, SR) == pytest.approx(swapped, abs=1e-9)
    assert stoi_score(deg, ref, SR) != pytest.approx(stoi(ref, deg, SR, extended=True), abs=1e-3)
