r"""A built-in, procedural, speech-like demo corpus.

It is what ``pwave`` trains on when no corpus is named: a few minutes of 16 kHz audio,
generated in seconds, identical for a given seed. It is not speech, but it has the
structure a vocoder must model: a quasi-periodic source with a wandering pitch, formant
resonances that glide between vowels, amplitude envelopes, pauses, and noise bursts.

Source-filter model per utterance:

* **Glottal source.** Cycle by cycle, period :math:`T_k = f_s / f_0(t_k)\,(1 + j\,\epsilon_k)`
  (jitter :math:`j \approx 1\%`) and amplitude :math:`1 + s\,\eta_k` (shimmer). Within a cycle,
  a Rosenberg pulse (raised-cosine opening over 40% of the period, quarter-cosine closing over
  16%, closed otherwise); its time derivative models lip radiation. :math:`f_0(t)` is a
  speaker base times a smoothed AR(1) wander in log frequency (about 2 semitones), with
  declination and a small accent per syllable.
* **Noise source.** White noise gated by fricative bursts (onsets of some syllables), plus
  weak aspiration during voicing.
* **Filters.** Applied frame by frame in the STFT domain (so that they can vary in time at no
  cost): the voiced part through a cascade of five resonances

  .. math:: |H(f)| = \prod_i \frac{F_i^2 + (B_i/2)^2}
            {\sqrt{\big((F_i - f)^2 + (B_i/2)^2\big)\big((F_i + f)^2 + (B_i/2)^2\big)}}

  whose first three formants interpolate between vowel targets (Peterson-Barney averages,
  scaled per speaker); the noise through one broad resonance per fricative ('s', 'sh', 'f')
  times a high-pass.

Randomness: utterance ``i`` uses ``numpy.random.default_rng([seed, i])`` and speaker ``s``
``default_rng([seed, 1_000_000 + s])``, so an utterance does not depend on how many others
are generated.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.signal import lfilter

# F1, F2, F3 in Hz (adult male averages).
VOWELS: dict[str, tuple[float, float, float]] = {
    "i": (270.0, 2290.0, 3010.0),
    "I": (390.0, 1990.0, 2550.0),
    "e": (530.0, 1840.0, 2480.0),
    "ae": (660.0, 1720.0, 2410.0),
    "a": (730.0, 1090.0, 2440.0),
    "o": (570.0, 840.0, 2410.0),
    "u": (300.0, 870.0, 2240.0),
    "U": (440.0, 1020.0, 2240.0),
    "er": (490.0, 1350.0, 1690.0),
    "^": (640.0, 1190.0, 2390.0),
}
# Centre and bandwidth (Hz) of the noise resonance of each fricative.
FRICATIVES: dict[str, tuple[float, float]] = {
    "s": (5500.0, 2500.0),
    "sh": (3000.0, 1500.0),
    "f": (4000.0, 5000.0),
}
BANDWIDTHS = (70.0, 100.0, 140.0, 200.0, 250.0)
_N_FFT = 512
_HOP = 128


@dataclass(frozen=True)
class DemoSpeaker:
    """Voice parameters of one demo speaker."""

    name: str
    f0: float  # base pitch in Hz
    formant_scale: float  # vocal-tract length factor (1.0 adult male, ~1.15 adult female)
    rate: float  # speaking-rate factor (>1 faster)
    jitter: float
    shimmer: float
    breathiness: float


@dataclass
class DemoUtterance:
    """One generated utterance: ``audio`` is ``[time]`` float32 in ``[-1, 1]``."""

    id: str
    speaker: str
    audio: np.ndarray
    sample_rate: int
    path: Path | None = None


def make_speaker(seed: int, index: int) -> DemoSpeaker:
    """Draw the voice of demo speaker ``index`` (alternating lower and higher voices)."""
    rng = np.random.default_rng([seed, 1_000_000 + index])
    high = index % 2 == 1
    return DemoSpeaker(
        name=f"demo{index:02d}",
        f0=float(rng.uniform(175.0, 235.0) if high else rng.uniform(90.0, 135.0)),
        formant_scale=float(rng.uniform(1.1, 1.2) if high else rng.uniform(0.95, 1.05)),
        rate=float(rng.uniform(0.85, 1.2)),
        jitter=float(rng.uniform(0.005, 0.015)),
        shimmer=float(rng.uniform(0.03, 0.08)),
        breathiness=float(rng.uniform(0.02, 0.08)),
    )


def _smooth(x: np.ndarray, width: int) -> np.ndarray:
    """Moving average with a Hann kernel of ``width`` samples (same length out)."""
    if width <= 1:
        return x
    kernel = np.hanning(width + 2)[1:-1]
    kernel /= kernel.sum()
    return np.convolve(
        np.pad(x, (width // 2, width - 1 - width // 2), mode="edge"), kernel, "valid"
    )


def _resonance(freqs: np.ndarray, centre: np.ndarray, bandwidth: np.ndarray) -> np.ndarray:
    """Magnitude of an analog pole pair at ``centre`` Hz, unit gain at DC; broadcasts."""
    half = bandwidth / 2.0
    num = centre**2 + half**2
    den = np.sqrt(((centre - freqs) ** 2 + half**2) * ((centre + freqs) ** 2 + half**2))
    return num / den


_WINDOW = np.hanning(_N_FFT + 1)[:-1]  # periodic Hann; squared, it sums to 1.5 at hop N/4


def _stft(x: np.ndarray, frames: int) -> np.ndarray:
    """``[bins, frames]`` spectrum; frame ``k`` is centred on sample ``k * _HOP``."""
    pad = np.pad(x, (_N_FFT // 2, _N_FFT // 2 + frames * _HOP))
    view = np.lib.stride_tricks.sliding_window_view(pad, _N_FFT)[::_HOP][:frames]
    return np.fft.rfft(view * _WINDOW, axis=1).T


def _istft(spec: np.ndarray, n: int) -> np.ndarray:
    """Weighted overlap-add inverse of :func:`_stft` (exact for unmodified spectra)."""
    frames = spec.shape[1]
    chunks = np.fft.irfft(spec.T, n=_N_FFT, axis=1) * _WINDOW
    out = np.zeros((frames + 3) * _HOP + _N_FFT)
    norm = np.zeros_like(out)
    for k in range(_N_FFT // _HOP):  # add every 4th frame at once (they do not overlap)
        sel = chunks[k::4]
        starts = (np.arange(sel.shape[0]) * 4 + k) * _HOP
        idx = starts[:, None] + np.arange(_N_FFT)[None, :]
        out[idx.ravel()] += sel.ravel()
        norm[idx.ravel()] += np.tile(_WINDOW**2, sel.shape[0])
    out = out[_N_FFT // 2 : _N_FFT // 2 + n]
    return out / np.maximum(norm[_N_FFT // 2 : _N_FFT // 2 + n], 1e-8)


def _glottal_source(
    rng: np.random.Generator, f0: np.ndarray, speaker: DemoSpeaker, sample_rate: int
) -> np.ndarray:
    """Differentiated Rosenberg pulse train following ``f0`` (per-sample Hz) with jitter."""
    n = f0.shape[0]
    starts, periods, amps = [], [], []
    t = float(rng.uniform(0.0, sample_rate / f0[0]))
    while t < n:
        period = sample_rate / f0[int(t)] * (1.0 + speaker.jitter * rng.standard_normal())
        period = max(period, 2.0)
        starts.append(t)
        periods.append(period)
        amps.append(1.0 + speaker.shimmer * rng.standard_normal())
        t += period
    starts_a, periods_a, amps_a = np.array(starts), np.array(periods), np.array(amps)
    idx = np.arange(n, dtype=np.float64)
    k = np.searchsorted(starts_a, idx, side="right") - 1
    inside = k >= 0
    k = np.clip(k, 0, None)
    phase = np.where(inside, (idx - starts_a[k]) / periods_a[k], 1.0)
    open_q, close_q = 0.4, 0.16
    pulse = np.where(
        phase < open_q,
        0.5 * (1.0 - np.cos(np.pi * phase / open_q)),
        np.where(phase < open_q + close_q, np.cos(0.5 * np.pi * (phase - open_q) / close_q), 0.0),
    )
    pulse = pulse * np.where(inside, amps_a[k], 0.0)
    return np.diff(pulse, prepend=0.0) * (f0 / 100.0)


def _plan(rng: np.random.Generator, n: int, sample_rate: int, speaker: DemoSpeaker):
    """Segment the utterance: returns per-sample voicing/noise gates and vowel targets."""
    voiced = np.zeros(n)
    noise = np.zeros(n)
    fric_kind = np.full(n, -1, dtype=np.int64)
    targets: list[tuple[int, str]] = []  # (sample at vowel centre, vowel)
    accents: list[int] = []
    names = list(VOWELS)
    fric_names = list(FRICATIVES)

    def ramp(gate: np.ndarray, a: int, b: int, level: float, edge: int) -> None:
        b = min(b, n)
        if b <= a:
            return
        env = np.ones(b - a) * level
        e = min(edge, (b - a) // 2)
        if e > 0:
            rise = 0.5 * (1.0 - np.cos(np.linspace(0.0, np.pi, e)))
            env[:e] *= rise
            env[-e:] *= rise[::-1]
        gate[a:b] = np.maximum(gate[a:b], env)

    ms = sample_rate / 1000.0
    t = int(rng.uniform(80, 250) * ms)
    while t < n - int(150 * ms):
        for _ in range(int(rng.integers(1, 4))):  # syllables in a word
            if rng.random() < 0.4:  # fricative onset
                length = int(rng.uniform(60, 140) * ms / speaker.rate)
                kind = int(rng.integers(len(fric_names)))
                ramp(noise, t, t + length, float(rng.uniform(0.4, 1.0)), int(15 * ms))
                fric_kind[t : min(t + length, n)] = kind
                t += int(length * 0.8)
            length = int(rng.uniform(90, 260) * ms / speaker.rate)
            ramp(voiced, t, t + length, float(rng.uniform(0.6, 1.0)), int(25 * ms))
            targets.append((min(t + length // 2, n - 1), names[int(rng.integers(len(names)))]))
            if rng.random() < 0.35:
                accents.append(min(t + length // 3, n - 1))
            t += length + int(rng.uniform(0, 30) * ms)
            if t >= n:
                break
        t += int(rng.uniform(60, 350) * ms) if rng.random() < 0.5 else int(rng.uniform(0, 40) * ms)
    return voiced, noise, fric_kind, targets, accents


def synthesize_utterance(
    rng: np.random.Generator, seconds: float, speaker: DemoSpeaker, sample_rate: int = 16000
) -> np.ndarray:
    """One speech-like utterance, ``[round(seconds * sample_rate)]`` float32, peak < 1."""
    n = int(round(seconds * sample_rate))
    voiced, noise_gate, fric_kind, targets, accents = _plan(rng, n, sample_rate, speaker)

    # Pitch: smoothed log-random walk + declination + accents.
    ctrl_rate = 100
    n_ctrl = n * ctrl_rate // sample_rate + 2
    walk = lfilter([0.03], [1.0, -0.97], rng.standard_normal(n_ctrl))  # AR(1): std ~0.12
    walk = _smooth(walk - walk.mean(), 15)
    log_f0 = np.log(speaker.f0) + walk - 0.15 * np.linspace(0.0, 1.0, n_ctrl)
    for a in accents:
        c = a * ctrl_rate / sample_rate
        log_f0 += 0.12 * np.exp(-0.5 * ((np.arange(n_ctrl) - c) / 8.0) ** 2)
    f0 = np.exp(np.interp(np.arange(n) * ctrl_rate / sample_rate, np.arange(n_ctrl), log_f0))

    source = _glottal_source(rng, f0, speaker, sample_rate) * voiced
    white = rng.standard_normal(n)
    aspiration = speaker.breathiness * white * voiced * (0.5 + np.clip(source * 20.0, 0.0, 1.0))
    burst = white * noise_gate

    # Per-frame filter parameters (frames of the STFT below, centred).
    frames = 1 + n // _HOP
    centres = np.minimum(np.arange(frames) * _HOP, n - 1)
    if targets:
        pos = np.array([p for p, _ in targets], dtype=np.float64)
        formants = np.stack(
            [np.interp(centres, pos, [VOWELS[v][i] for _, v in targets]) for i in range(3)]
        )
    else:
        formants = np.array(VOWELS["^"], dtype=np.float64)[:, None].repeat(frames, axis=1)
    nyquist = sample_rate / 2.0
    fixed = np.array([[3400.0], [4300.0]]).repeat(frames, axis=1)  # F4, F5
    formants = np.concatenate([formants, fixed], axis=0)
    formants = np.minimum(formants * speaker.formant_scale, 0.9 * nyquist)
    freqs = np.fft.rfftfreq(_N_FFT, 1.0 / sample_rate)[:, None]  # [bins, 1]
    voiced_env = np.ones((freqs.shape[0], frames))
    for i, bw in enumerate(BANDWIDTHS):
        voiced_env *= _resonance(freqs, formants[i][None, :], bw * speaker.formant_scale)

    kinds = fric_kind[centres]
    fric_c = np.array([FRICATIVES[k][0] for k in FRICATIVES])
    fric_b = np.array([FRICATIVES[k][1] for k in FRICATIVES])
    c = np.minimum(np.where(kinds >= 0, fric_c[kinds], 4000.0), 0.8 * nyquist)
    b = np.where(kinds >= 0, fric_b[kinds], 4000.0)
    highpass = (freqs / (freqs + 1500.0)) ** 2
    noise_env = _resonance(freqs, c[None, :], b[None, :]) * highpass

    def shaped(x: np.ndarray, env: np.ndarray) -> np.ndarray:
        return _istft(_stft(x, frames) * env, n)

    out = shaped(source + aspiration, voiced_env) + 0.1 * shaped(burst, noise_env)
    peak = float(np.abs(out).max())
    out = out / max(peak, 1e-9) * float(rng.uniform(0.5, 0.8))
    out = out + 3e-4 * rng.standard_normal(n)  # room-noise floor
    return np.clip(out, -0.99, 0.99).astype(np.float32)


def generate_demo_corpus(
    out_dir: str | os.PathLike | None = None,
    num_utterances: int = 48,
    seconds: float | tuple[float, float] = 4.0,
    seed: int = 0,
    sample_rate: int = 16000,
    num_speakers: int = 4,
    subtype: str = "PCM_16",
) -> list[DemoUtterance]:
    """Generate the demo corpus (defaults: 48 x 4 s = 3.2 minutes at 16 kHz, 4 speakers).

    Args:
        out_dir: if given, each utterance is written to ``out_dir/<speaker>/<id>.wav``
            (a folder layout with a speaker level); else everything stays in memory.
        num_utterances: how many utterances.
        seconds: length of each utterance, or a ``(low, high)`` range drawn per utterance.
        seed: everything is a function of the seed.
        sample_rate: output rate in Hz.
        num_speakers: utterance ``i`` is spoken by speaker ``i % num_speakers``.
        subtype: wav subtype when writing.

    Returns:
        The utterances, in order (``path`` set when written).
    """
    from pwave.audio.io import save_wav

    speakers = [make_speaker(seed, s) for s in range(num_speakers)]
    out = []
    for i in range(num_utterances):
        rng = np.random.default_rng([seed, i])
        spk = speakers[i % num_speakers]
        length = float(rng.uniform(*seconds)) if isinstance(seconds, tuple) else float(seconds)
        audio = synthesize_utterance(rng, length, spk, sample_rate)
        utt = DemoUtterance(f"{spk.name}_{i:05d}", spk.name, audio, sample_rate)
        if out_dir is not None:
            utt.path = save_wav(
                Path(out_dir) / spk.name / f"{utt.id}.wav", audio, sample_rate, subtype
            )
        out.append(utt)
    return out
