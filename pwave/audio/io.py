"""Waveform input and output.

Reading goes through :func:`load_audio`, which returns mono ``float32`` samples in
``[-1, 1]`` at the requested rate and a list of human-readable notes for every change it
made (resampled, mixed down, rescaled) and every quality warning (clipping, 8-bit, DC
offset). Files that cannot be used raise :class:`AudioReadError` whose ``reason`` is a short
sentence fit for a report; no other exception type escapes for a bad file.

Writing goes through :func:`save_wav` (16-bit PCM by default).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

from pwave.errors import AudioError, AudioReadError  # noqa: F401

#: Full-scale threshold: integer files reaching this fraction of full scale count as clipped.
CLIP_LEVEL = 0.999
#: Files whose peak stays below this are treated as digital silence.
SILENCE_PEAK = 1e-4
#: A channel whose mean is this far from 0 (fraction of full scale, -34 dBFS) gets a
#: "DC offset" note. Speech has no DC (microphones and preamps are AC-coupled) and a working
#: recording chain leaves the mean within a few thousandths of full scale; sound itself
#: moves the mean of a file very little (even a full-scale 100 Hz tone cut after 0.245 s
#: averages only 1 / (pi * 100 * 0.245) = 0.013). So a mean of 0.02 or more is a fault of the
#: recording or of a conversion, not part of the sound.
DC_OFFSET_LEVEL = 0.02


def audio_extensions() -> tuple[str, ...]:
    """Lower-case file extensions (with dot) that this libsndfile build can read.

    ``.mp3`` is included only when libsndfile was built with MPEG support.
    """
    exts = [".wav", ".flac", ".ogg", ".oga", ".opus", ".aif", ".aiff", ".aifc", ".au", ".snd"]
    exts += [".w64", ".caf"]
    if "MP3" in sf.available_formats():
        exts.append(".mp3")
    return tuple(exts)


@dataclass
class LoadedAudio:
    """Result of :func:`load_audio`.

    Attributes:
        audio: ``[time]`` float32 mono samples in ``[-1, 1]`` (``[channels, time]`` if loaded
            with ``mono=False``).
        sample_rate: rate of ``audio`` in Hz (the requested one, if any).
        original_sample_rate: rate stored in the file.
        original_channels: channel count stored in the file.
        subtype: libsndfile subtype of the file (``"PCM_16"``, ``"FLOAT"``, ``"PCM_U8"`` ...).
        peak: largest ``|x|`` in the file before any change.
        clipped_samples: samples of the file at or beyond :data:`CLIP_LEVEL` of full scale.
        dc_offset: the mean of the file's channel whose mean is farthest from 0, before any
            change (0 for a file without offset); noted from :data:`DC_OFFSET_LEVEL` on.
        notes: one sentence per change made or warning raised.
    """

    audio: np.ndarray
    sample_rate: int
    original_sample_rate: int
    original_channels: int
    subtype: str
    peak: float
    clipped_samples: int
    dc_offset: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.audio.shape[-1] / self.sample_rate


def _open_binary(path: str):
    """Open a file for reading (a seam so that tests can simulate permission errors)."""
    return open(path, "rb")  # noqa: SIM115 - closed by the caller


def _read_raw(path: str) -> tuple[np.ndarray, int, str]:
    """Read ``[time, channels]`` float32 samples; map every failure to AudioReadError."""
    if os.path.isdir(path):
        raise AudioReadError(path, "is a directory, not an audio file", "unreadable")
    try:
        fh = _open_binary(path)
    except FileNotFoundError:
        raise AudioReadError(path, "file not found", "missing") from None
    except PermissionError:
        raise AudioReadError(
            path, "permission denied (cannot open the file for reading)", "permission"
        ) from None
    except OSError as err:
        raise AudioReadError(path, f"cannot open: {err.strerror or err}", "unreadable") from None
    with fh:
        size = os.fstat(fh.fileno()).st_size
        if size == 0:
            raise AudioReadError(path, "empty file (0 bytes)", "empty")
        try:
            with sf.SoundFile(fh) as snd:
                sr, subtype = int(snd.samplerate), str(snd.subtype)
                data = snd.read(dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as err:
            msg = str(err).strip().splitlines()[-1] if str(err).strip() else type(err).__name__
            msg = re.sub(r"^Error opening .*?>: ", "", msg).strip()
            raise AudioReadError(
                path,
                f"not a readable audio file ({size} bytes; truncated header or not audio: {msg})",
                "unreadable",
            ) from None
        except (OSError, MemoryError) as err:
            raise AudioReadError(path, f"read failed: {err}", "unreadable") from None
    if data.shape[0] == 0:
        raise AudioReadError(path, "audio header is valid but holds no samples", "no_samples")
    return data, sr, subtype


def resample(audio: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """Resample along the last axis with librosa's soxr backend (``soxr_hq``)."""
    if orig_sr == target_sr:
        return audio
    import librosa

    out = librosa.resample(audio, orig_sr=orig_sr, target_sr=target_sr, res_type="soxr_hq")
    return np.ascontiguousarray(out, dtype=np.float32)


def dc_offset_note(mean: float, channel: int | None = None) -> str | None:
    """The note for a channel whose ``mean`` is at least :data:`DC_OFFSET_LEVEL` from 0.

    The offset is kept as is, not removed: the loader changes only what it must to return
    float audio in ``[-1, 1]`` at the requested rate (mix-down, resampling, scaling a peak
    above full scale). An offset fits in that range, and removing it would hide it from
    ``pwave evaluate``, which reads generated audio through this loader, and change the
    likelihood ``pwave score`` reports for the file. The note makes it visible instead, in
    the manifest and report of ``pwave prepare`` and in the report of ``pwave synthesize``.

    Args:
        mean: the channel's mean, as a fraction of full scale.
        channel: its 0-based index in a multi-channel file (``None``: a mono file).

    Returns:
        ``None`` for a smaller offset, else a sentence starting with ``"DC offset"``.
    """
    if abs(mean) < DC_OFFSET_LEVEL:
        return None
    where = "mean" if channel is None else f"channel {channel + 1} mean"
    return (
        f"DC offset: {where} {mean:+.3f} of full scale (at least {DC_OFFSET_LEVEL}), kept as "
        "is; speech averages 0, so check the recording chain or high-pass filter the file"
    )


def load_audio(
    path: str | os.PathLike, sample_rate: int | None = None, mono: bool = True
) -> LoadedAudio:
    """Load an audio file as float32 in ``[-1, 1]``.

    Args:
        path: any format libsndfile reads (wav, flac, ogg, mp3 where supported ...).
        sample_rate: resample to this rate (Hz) with soxr; ``None`` keeps the file's rate.
        mono: average the channels into one (``[time]``); else return ``[channels, time]``.

    Returns:
        :class:`LoadedAudio`; ``notes`` records every resampling, mix-down and rescale, and
        warns of clipping, 8-bit samples and a DC offset (see :func:`dc_offset_note`: the
        offset is reported, never removed).

    Raises:
        AudioReadError: missing, unreadable, empty, truncated, not audio, or holding NaN/inf.
    """
    path = str(path)
    data, sr, subtype = _read_raw(path)
    channels = data.shape[1]
    notes: list[str] = []

    finite = np.isfinite(data)
    if not finite.all():
        bad = int(data.size - finite.sum())
        raise AudioReadError(
            path, f"contains {bad} NaN/inf sample(s) out of {data.size}", "nonfinite"
        )

    peak = float(np.abs(data).max())
    clipped = int((np.abs(data) >= CLIP_LEVEL).sum()) if peak >= CLIP_LEVEL else 0
    if subtype == "PCM_U8" or subtype == "PCM_S8":
        notes.append(f"8-bit audio ({subtype}): coarse quantisation, expect audible noise")
    if clipped >= 3 and peak <= 1.0:
        notes.append(
            f"clipping: {clipped} sample(s) ({100.0 * clipped / data.size:.3f}%) at full scale"
        )
    means = data.mean(axis=0, dtype=np.float64)  # [channels]; float64: no overflow
    worst = int(np.argmax(np.abs(means)))
    dc_offset = float(means[worst])
    dc_note = dc_offset_note(dc_offset, worst if channels > 1 else None)
    if dc_note:
        notes.append(dc_note)

    audio = data.T  # [channels, time]
    if mono and channels > 1:
        audio = audio.mean(axis=0, keepdims=True)
        notes.append(f"mixed down from {channels} channels to mono")
    if sample_rate is not None and sr != sample_rate:
        audio = resample(audio, sr, sample_rate)
        notes.append(f"resampled from {sr} Hz to {sample_rate} Hz")
        out_sr = int(sample_rate)
    else:
        out_sr = sr

    out_peak = float(np.abs(audio).max()) if audio.size else 0.0
    if out_peak > 1.0:
        audio = audio / out_peak
        why = "in the file" if peak > 1.0 else "after resampling"
        notes.append(f"peak {out_peak:.3f} above full scale {why}; scaled by 1/{out_peak:.3f}")

    audio = np.ascontiguousarray(audio[0] if mono else audio, dtype=np.float32)
    return LoadedAudio(
        audio=audio,
        sample_rate=out_sr,
        original_sample_rate=sr,
        original_channels=channels,
        subtype=subtype,
        peak=peak,
        clipped_samples=clipped,
        dc_offset=dc_offset,
        notes=notes,
    )


def save_wav(path: str | os.PathLike, audio, sample_rate: int, subtype: str = "PCM_16") -> Path:
    """Write a wav file.

    Args:
        path: destination; parent folders are created.
        audio: ``[time]`` or ``[channels, time]`` numpy array or torch tensor in ``[-1, 1]``;
            values outside are clipped (integer subtypes would otherwise wrap around).
        sample_rate: rate in Hz.
        subtype: libsndfile subtype, ``"PCM_16"`` by default (``"FLOAT"`` keeps full precision).

    Returns:
        The path written.
    """
    if hasattr(audio, "detach"):
        audio = audio.detach().cpu().numpy()
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim == 2:
        audio = audio.T  # soundfile wants [time, channels]
    elif audio.ndim != 1:
        raise ValueError(f"audio must be [time] or [channels, time], got shape {audio.shape}")
    if not subtype.startswith(("FLOAT", "DOUBLE")):
        audio = np.clip(audio, -1.0, 1.0)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), audio, int(sample_rate), subtype=subtype)
    return path
