"""Small synthetic corpora in every supported layout, for tests, CI recipes and benchmarks.

Nothing here downloads anything: each ``write_*_tree`` function writes a miniature copy of a
corpus layout (same folder and file names as the real corpus) filled with short synthetic
audio, and :func:`write_bad_files` writes one file per kind of bad input that preparation
must survive. Audio comes from :func:`tone_burst` (cheap) or the demo generator (realistic).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import soundfile as sf

from pwave.audio.io import save_wav


def tone_burst(seconds: float, sample_rate: int = 16000, seed: int = 0) -> np.ndarray:
    """A cheap speech-like test signal: harmonics of a gliding f0 plus noise, with an envelope.

    Returns ``[round(seconds * sample_rate)]`` float32 with peak 0.5.
    """
    rng = np.random.default_rng(seed)
    n = max(1, int(round(seconds * sample_rate)))
    t = np.arange(n) / sample_rate
    f0 = rng.uniform(90, 220) * (1.0 + 0.1 * np.sin(2 * np.pi * rng.uniform(0.5, 2.0) * t))
    phase = 2 * np.pi * np.cumsum(f0) / sample_rate
    x = sum(np.sin(k * phase) / k for k in range(1, 8) if k * f0.max() < sample_rate / 2)
    x = x + 0.05 * rng.standard_normal(n)
    env = np.sin(np.pi * np.clip(t / max(t[-1], 1e-9), 0, 1)) ** 0.5 if n > 1 else np.ones(1)
    x = x * env
    return (0.5 * x / max(np.abs(x).max(), 1e-9)).astype(np.float32)


def _write(path: Path, seconds: float, sample_rate: int, seed: int) -> Path:
    fmt = {".flac": "PCM_16", ".ogg": "VORBIS", ".mp3": "MPEG_LAYER_III"}.get(path.suffix, "PCM_16")
    return save_wav(path, tone_burst(seconds, sample_rate, seed), sample_rate, subtype=fmt)


def write_folder_tree(
    root: str | os.PathLike,
    speakers: int = 2,
    per_speaker: int = 3,
    seconds: float = 0.8,
    sample_rate: int = 16000,
    ext: str = ".wav",
    speaker_level: bool = True,
    seed: int = 0,
) -> list[Path]:
    """``root/<speaker>/<speaker>_<k>.<ext>`` (or flat ``root/utt_<k>.<ext>``)."""
    root = Path(root)
    paths = []
    for s in range(speakers):
        for k in range(per_speaker):
            i = s * per_speaker + k
            name = f"spk{s}/spk{s}_{k:03d}{ext}" if speaker_level else f"utt_{i:04d}{ext}"
            paths.append(_write(root / name, seconds, sample_rate, seed + i))
    return paths


def write_ljspeech_tree(
    root: str | os.PathLike, n: int = 8, seconds: float = 0.8, sample_rate: int = 22050
) -> Path:
    """``root/LJSpeech-1.1/{metadata.csv, wavs/LJ001-0001.wav ...}``; returns the corpus folder."""
    base = Path(root) / "LJSpeech-1.1"
    lines = []
    for i in range(n):
        utt = f"LJ{1 + i // 5:03d}-{1 + i % 5:04d}"
        _write(base / "wavs" / f"{utt}.wav", seconds, sample_rate, i)
        lines.append(f"{utt}|Text number {i}.|Text number {i}.")
    (base / "metadata.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return base


def write_vctk_tree(
    root: str | os.PathLike,
    speakers: tuple[str, ...] = ("p225", "p226"),
    per_speaker: int = 4,
    version: str = "0.92",
    seconds: float = 0.8,
    sample_rate: int = 48000,
) -> Path:
    """VCTK 0.92 or 0.80 under ``root/VCTK-Corpus``; returns that folder.

    0.92: ``wav48_silence_trimmed/p225/p225_001_mic{1,2}.flac``; 0.80: ``wav48/p225/p225_001.wav``.
    """
    base = Path(root) / "VCTK-Corpus"
    for s, spk in enumerate(speakers):
        (base / "txt" / spk).mkdir(parents=True, exist_ok=True)
        for k in range(1, per_speaker + 1):
            seed = 100 * s + k
            (base / "txt" / spk / f"{spk}_{k:03d}.txt").write_text("Please call Stella.\n")
            if version == "0.92":
                for mic in ("mic1", "mic2"):
                    name = f"wav48_silence_trimmed/{spk}/{spk}_{k:03d}_{mic}.flac"
                    _write(base / name, seconds, sample_rate, seed)
            else:
                _write(base / f"wav48/{spk}/{spk}_{k:03d}.wav", seconds, sample_rate, seed)
    return base


def write_libritts_tree(
    root: str | os.PathLike,
    subsets: tuple[str, ...] = ("train-clean-100", "dev-clean", "test-clean"),
    speakers: int = 2,
    per_speaker: int = 3,
    seconds: float = 0.8,
    sample_rate: int = 24000,
) -> Path:
    """``LibriTTS/<subset>/<speaker>/<chapter>/<spk>_<chapter>_000001_000000.wav`` (+ text)."""
    base = Path(root) / "LibriTTS"
    for j, sub in enumerate(subsets):
        for s in range(speakers):
            spk, chapter = str(100 + 10 * j + s), str(2000 + s)
            for k in range(per_speaker):
                stem = f"{spk}_{chapter}_{k:06d}_000000"
                d = base / sub / spk / chapter
                _write(d / f"{stem}.wav", seconds, sample_rate, 1000 * j + 10 * s + k)
                (d / f"{stem}.normalized.txt").write_text("Some text.\n")
    return base


def write_arctic_tree(
    root: str | os.PathLike,
    speakers: tuple[str, ...] = ("bdl", "slt"),
    per_speaker: int = 4,
    seconds: float = 0.8,
    sample_rate: int = 16000,
) -> Path:
    """``root/cmu_us_<spk>_arctic/{wav/arctic_a0001.wav, etc/txt.done.data}``; returns root."""
    root = Path(root)
    for s, spk in enumerate(speakers):
        voice = root / f"cmu_us_{spk}_arctic"
        lines = []
        for k in range(1, per_speaker + 1):
            utt = f"arctic_a{k:04d}"
            _write(voice / "wav" / f"{utt}.wav", seconds, sample_rate, 50 * s + k)
            lines.append(f'( {utt} "Author of the danger trail." )')
        (voice / "etc").mkdir(parents=True, exist_ok=True)
        (voice / "etc" / "txt.done.data").write_text("\n".join(lines) + "\n")
    return root


#: What preparation must do with each file written by :func:`write_bad_files`:
#: ``("skip", kind)`` with the report's skip kind, or ``("note", prefix)`` for a file that is
#: used with a note starting with ``prefix``, or ``("ok", "")``.
BAD_FILE_EXPECTATIONS: dict[str, tuple[str, str]] = {
    "empty.wav": ("skip", "empty"),
    "truncated_header.wav": ("skip", "unreadable"),
    "text_not_audio.wav": ("skip", "unreadable"),
    "random_bytes.flac": ("skip", "unreadable"),
    "nan_samples.wav": ("skip", "nonfinite"),
    "inf_samples.wav": ("skip", "nonfinite"),
    "all_silence.wav": ("skip", "silence"),
    "too_short.wav": ("skip", "too_short"),
    "no_permission.wav": ("skip", "permission"),
    "stereo.wav": ("note", "mixed down from 2 channels"),
    "six_channels.flac": ("note", "mixed down from 6 channels"),
    "eight_bit.wav": ("note", "8-bit audio"),
    "rate_96k.wav": ("note", "resampled from 96000 Hz"),
    "clipped.wav": ("note", "clipping"),
    "float_above_full_scale.wav": ("note", "peak"),
    "dc_offset.wav": ("note", "DC offset"),
    "folder_named_like.wav": ("skip", "unreadable"),
    "good_1.wav": ("ok", ""),
    "good_2.flac": ("ok", ""),
    "good_3.ogg": ("ok", ""),
    "good_4.wav": ("ok", ""),
}


def write_bad_files(
    root: str | os.PathLike, sample_rate: int = 16000, seconds: float = 0.8
) -> dict[str, Path]:
    """One file per entry of :data:`BAD_FILE_EXPECTATIONS` in ``root``; returns name -> path.

    ``no_permission.wav`` is made unreadable with ``chmod 000`` (which does not stop root;
    tests running as root must simulate the error). ``too_short.wav`` is 0.1 s long.
    ``dc_offset.wav`` has mean +0.8 and standard deviation 0.02; ``folder_named_like.wav`` is
    an empty folder.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    sr = sample_rate
    good = tone_burst(seconds, sr, 7)
    paths = {name: root / name for name in BAD_FILE_EXPECTATIONS}

    paths["empty.wav"].write_bytes(b"")
    save_wav(paths["truncated_header.wav"], good, sr)
    paths["truncated_header.wav"].write_bytes(paths["truncated_header.wav"].read_bytes()[:30])
    paths["text_not_audio.wav"].write_text("this is a text file that only pretends to be audio\n")
    paths["random_bytes.flac"].write_bytes(np.random.default_rng(0).bytes(4096))
    bad = good.copy()
    bad[100:110] = np.nan
    sf.write(paths["nan_samples.wav"], bad, sr, subtype="FLOAT")
    bad = good.copy()
    bad[200] = np.inf
    sf.write(paths["inf_samples.wav"], bad, sr, subtype="FLOAT")
    save_wav(paths["all_silence.wav"], np.zeros_like(good), sr)
    save_wav(paths["too_short.wav"], tone_burst(0.1, sr, 8), sr)
    save_wav(paths["no_permission.wav"], good, sr)
    os.chmod(paths["no_permission.wav"], 0)
    save_wav(paths["stereo.wav"], np.stack([good, 0.5 * good]), sr)
    save_wav(paths["six_channels.flac"], np.stack([good * (k + 1) / 6 for k in range(6)]), sr)
    save_wav(paths["eight_bit.wav"], good, sr, subtype="PCM_U8")
    save_wav(paths["rate_96k.wav"], tone_burst(seconds, 96000, 9), 96000)
    save_wav(paths["clipped.wav"], np.clip(4.0 * good, -1.0, 1.0), sr)
    save_wav(paths["float_above_full_scale.wav"], 3.0 * good, sr, subtype="FLOAT")
    noise = np.random.default_rng(1).standard_normal(good.shape[0])
    save_wav(paths["dc_offset.wav"], 0.8 + 0.02 * noise, sr, subtype="FLOAT")
    paths["folder_named_like.wav"].mkdir()
    for k, name in enumerate(("good_1.wav", "good_2.flac", "good_3.ogg", "good_4.wav")):
        _write(paths[name], seconds, sr, 20 + k)
    return paths
