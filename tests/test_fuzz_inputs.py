"""Bad inputs never crash a run (issue 8.3): a fuzz corpus through ``pwave prepare`` and
``pwave synthesize``.

The corpus (:func:`write_fuzz_corpus`) mixes a few good recordings and mels with many
malformed ones: truncated at every depth, empty, random bytes under audio and ``.npy``
names, NaN/inf samples, huge amplitudes (up to float32 overflow), wrong and odd sample
rates, 2 to 16 channels, odd sample formats, one-sample files, silence, a folder and a
dangling link named like audio; and mels with zero frames, the wrong number of bins,
transposed, NaN/inf, the wrong rank, odd dtypes, pickled objects, truncated and empty files.

Properties: both commands exit normally (code 0) without a traceback; every input ends up
either used (prepared / synthesised, with finite outputs) or reported with its path and a
reason; the inputs known to be bad are reported; the good ones are used, and those with a
planted quality problem carry a note saying so (:data:`NOTED`). The counts of cases tried and
survived are printed (``pytest -s``) and recorded in docs/reliability.md.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from helpers.synthetic import tone_burst

from pwave.audio.config import FeatureConfig
from pwave.audio.io import save_wav
from pwave.data.dataset import PreparedDataset
from pwave.models.student import Student, StudentConfig

SR, HOP, N_MELS = 16000, 64, 20
FEATURES = FeatureConfig(SR, 256, HOP, 256, N_MELS, fmax=8000.0)

# How an input must end: "bad" (reported), "good" (used), "any" (either, but never a crash).
BAD, GOOD, ANY = "bad", "good", "any"
# Inputs that are used but must carry a note starting with this text (both commands).
NOTED = {
    "dc_offset.wav": "DC offset",
    "channels_2.wav": "mixed down from 2 channels",
    "channels_16.wav": "mixed down from 16 channels",
    "rate_96000.wav": "resampled from 96000 Hz",
    "format_PCM_U8.wav": "8-bit audio",
}


def _wav_bytes(tmp: Path, audio: np.ndarray, sr: int = SR, subtype: str = "PCM_16") -> bytes:
    sf.write(tmp, audio, sr, subtype=subtype)
    data = tmp.read_bytes()
    tmp.unlink()
    return data


def write_fuzz_corpus(root: Path) -> dict[str, tuple[str, str, str]]:
    """Write the corpus under ``root``; returns ``name -> (kind, prepare, synthesize)``.

    ``kind`` is ``"audio"`` (read by both commands) or ``"mel"`` (``.npy``, synthesis only);
    ``prepare`` and ``synthesize`` say how each command must end with the input (a file too
    short to train on, or silence, is bad for ``prepare`` but fine to synthesise).
    """
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1234)
    good = tone_burst(1.0, SR, seed=1)
    cases: dict[str, tuple[str, str, str]] = {}

    def audio(name: str, expect: str, write: Callable[[Path], object], synth: str = "") -> None:
        write(root / name)
        cases[name] = ("audio", expect, synth or expect)

    def mel(name: str, expect: str, write: Callable[[Path], object]) -> None:
        write(root / name)
        cases[name] = ("mel", "", expect)

    # -- good recordings -----------------------------------------------------------------
    for k in range(3):
        audio(f"good_{k}.wav", GOOD, lambda p, k=k: save_wav(p, tone_burst(1.0, SR, 10 + k), SR))

    # -- empty, truncated, not audio -----------------------------------------------------
    whole = _wav_bytes(root / ".tmp.wav", good)
    audio("empty.wav", BAD, lambda p: p.write_bytes(b""))
    for n in (1, 4, 12, 30, 43, 44):  # inside the 44-byte header
        audio(f"truncated_{n:05d}.wav", BAD, lambda p, n=n: p.write_bytes(whole[:n]))
    for n in (45, 100):  # a few samples: too short to train on, enough to synthesise
        audio(f"truncated_{n:05d}.wav", BAD, lambda p, n=n: p.write_bytes(whole[:n]), ANY)
    for n in (4000, len(whole) // 2):  # the data chunk cut short: too short, or usable
        audio(f"truncated_{n:05d}.wav", ANY, lambda p, n=n: p.write_bytes(whole[:n]))
    no_data = _wav_bytes(root / ".tmp.wav", np.zeros(0, np.float32))
    audio("header_only.wav", BAD, lambda p: p.write_bytes(no_data))
    for ext in (".wav", ".flac", ".ogg", ".mp3", ".aiff"):
        for size in (1, 100, 5000):
            data = rng.bytes(size)
            audio(f"random_{size}{ext}", BAD, lambda p, d=data: p.write_bytes(d))
    audio(
        "riff_garbage.wav",
        BAD,
        lambda p: p.write_bytes(b"RIFF\xff\xff\xff\xffWAVEfmt " + rng.bytes(64)),
    )
    audio("text.wav", BAD, lambda p: p.write_text("not audio at all\n" * 20))

    # -- NaN / inf / huge amplitude ------------------------------------------------------
    def float_wav(values: np.ndarray, subtype: str = "FLOAT") -> Callable[[Path], object]:
        return lambda p: sf.write(p, values, SR, subtype=subtype)

    for name, pos, value in (("nan_one", 5, np.nan), ("inf_one", 100, np.inf),
                             ("neg_inf", 7000, -np.inf)):  # fmt: skip
        x = good.copy()
        x[pos] = value
        audio(f"{name}.wav", BAD, float_wav(x))
    audio("all_nan.wav", BAD, float_wav(np.full(SR, np.nan, np.float32)))
    for scale in (1e3, 1e30, 3e38):
        audio(f"huge_{scale:.0e}.wav", ANY, float_wav((good * scale).astype(np.float32)))
    audio("overflow_f64.wav", BAD, float_wav(good.astype(np.float64) * 1e300, "DOUBLE"))
    audio("silence.wav", BAD, lambda p: save_wav(p, np.zeros(SR, np.float32), SR), ANY)
    audio("dc_only.wav", ANY, float_wav(np.full(SR, 0.5, np.float32)))
    offset = (0.8 + 0.02 * rng.standard_normal(SR)).astype(np.float32)  # mean +0.8, std 0.02
    audio("dc_offset.wav", GOOD, float_wav(offset))

    # -- rates, channels, formats, lengths -----------------------------------------------
    for rate in (100, 8000, 22050, 44100, 96000, 192000):
        x = tone_burst(1.0, rate, seed=rate)
        audio(f"rate_{rate}.wav", ANY if rate < 4000 else GOOD, lambda p, x=x, r=rate:
              sf.write(p, x, r, subtype="PCM_16"))  # fmt: skip
    for ch in (2, 6, 16):
        x = np.stack([good * (c + 1) / ch for c in range(ch)], axis=1)
        audio(f"channels_{ch}.wav", GOOD, lambda p, x=x: sf.write(p, x, SR, subtype="PCM_16"))
    x = np.stack([good, good], axis=1)
    x[50, 1] = np.nan
    audio("stereo_nan.wav", BAD, float_wav(x))
    for subtype in ("PCM_U8", "PCM_24", "PCM_32", "DOUBLE", "ULAW", "ALAW"):
        audio(f"format_{subtype}.wav", GOOD, float_wav(good, subtype))
    for n in (1, 10, 2000):
        audio(f"short_{n}.wav", BAD, lambda p, n=n: save_wav(p, good[:n], SR), ANY)

    # -- things that are not files -------------------------------------------------------
    audio("folder.wav", BAD, lambda p: p.mkdir(), BAD)
    audio("dangling.wav", ANY, lambda p: os.symlink(root / "does_not_exist.wav", p))

    # -- mels (synthesis only) -----------------------------------------------------------
    base = rng.normal(-5.0, 2.0, (N_MELS, 40)).astype(np.float32)
    mel("good_mel_a.npy", GOOD, lambda p: np.save(p, base))
    mel("good_mel_b.npy", GOOD, lambda p: np.save(p, base[:, :7]))
    mel("mel_int.npy", ANY, lambda p: np.save(p, base.astype(np.int32)))
    mel("mel_float16.npy", ANY, lambda p: np.save(p, base.astype(np.float16)))
    mel("mel_float64.npy", ANY, lambda p: np.save(p, base.astype(np.float64)))
    mel("mel_huge.npy", ANY, lambda p: np.save(p, np.full((N_MELS, 5), 1e30, np.float32)))
    mel("mel_zero_frames.npy", BAD, lambda p: np.save(p, np.zeros((N_MELS, 0), np.float32)))
    mel("mel_empty_array.npy", BAD, lambda p: np.save(p, np.zeros((0, 0), np.float32)))
    for bins in (1, N_MELS - 1, N_MELS + 1, 80):
        mel(f"mel_bins_{bins}.npy", BAD, lambda p, b=bins: np.save(p, np.zeros((b, 9), np.float32)))
    mel("mel_transposed.npy", BAD, lambda p: np.save(p, base.T.copy()))
    for name, value in (("nan", np.nan), ("inf", np.inf), ("neg_inf", -np.inf)):
        bad = base.copy()
        bad[3, 4] = value
        mel(f"mel_{name}.npy", BAD, lambda p, b=bad: np.save(p, b))
    mel("mel_1d.npy", BAD, lambda p: np.save(p, base[0]))
    mel("mel_3d.npy", ANY, lambda p: np.save(p, base[None]))  # [1, n_mels, F] may be squeezed
    mel("mel_scalar.npy", BAD, lambda p: np.save(p, np.float32(1.0)))
    mel("mel_bool.npy", ANY, lambda p: np.save(p, base > -5))
    mel("mel_complex.npy", ANY, lambda p: np.save(p, base.astype(np.complex64)))
    mel("mel_strings.npy", BAD, lambda p: np.save(p, np.full((N_MELS, 3), "x")))
    mel("mel_pickled.npy", BAD, lambda p: np.save(p, np.array([{"a": 1}], dtype=object)))
    mel("mel_npz.npy", BAD, lambda p: p.write_bytes(_npz_bytes(root, base)))
    npy = _npy_bytes(root, base)
    mel("mel_empty_file.npy", BAD, lambda p: p.write_bytes(b""))
    for n in (6, 60, len(npy) // 2):
        mel(f"mel_truncated_{n}.npy", BAD, lambda p, n=n: p.write_bytes(npy[:n]))
    for size in (1, 200, 4000):
        data = rng.bytes(size)
        mel(f"mel_random_{size}.npy", BAD, lambda p, d=data: p.write_bytes(d))
    return cases


def _npy_bytes(root: Path, array: np.ndarray) -> bytes:
    tmp = root / ".tmp.npy"
    np.save(tmp, array)
    data = tmp.read_bytes()
    tmp.unlink()
    return data


def _npz_bytes(root: Path, array: np.ndarray) -> bytes:
    tmp = root / ".tmp.npz"
    np.savez(tmp, mel=array)
    data = tmp.read_bytes()
    tmp.unlink()
    return data


def _tiny_student(features: FeatureConfig) -> Student:
    torch.manual_seed(0)
    cfg = StudentConfig(
        features=features,
        mel_context_frames=1,
        upsample_factors=(8, 8),
        cond_channels=4,
        flow_layers=(2, 1),
        flow_cycles=(1, 1),
        residual_channels=4,
        gate_channels=8,
        skip_channels=4,
    )
    return Student(cfg).eval()


@pytest.fixture(scope="module")
def fuzz(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz")
    corpus = root / "corpus"
    return root, corpus, write_fuzz_corpus(corpus)


def _no_traceback(text: str) -> None:
    assert "Traceback" not in text, text[-3000:]


def test_prepare_survives_the_fuzz_corpus(fuzz, capsys):
    from pwave.cli.prepare import main as prepare_main

    root, corpus, cases = fuzz
    audio_cases = {n: e for n, (kind, e, _) in cases.items() if kind == "audio"}
    out = root / "prepared"
    code = prepare_main([str(corpus), "-o", str(out), "--layout", "folder",
                         "--sample-rate", str(SR), "--n-fft", "256", "--hop-length", str(HOP),
                         "--win-length", "256", "--n-mels", str(N_MELS), "--fmax", "8000",
                         "--segment-min-seconds", "0.2", "--num-workers", "0",
                         "--no-progress"])  # fmt: skip
    printed = capsys.readouterr()
    _no_traceback(printed.out + printed.err)
    assert code == 0, printed.err

    data = PreparedDataset(out)
    report = json.loads((out / "report.json").read_text())
    skipped = {Path(s["path"]).name: s["reason"] for s in report["skipped"]}
    used = {Path(u.source).name for u in data.utterances}
    assert not used & set(skipped)
    for name, reason in skipped.items():
        assert name in audio_cases and reason.strip(), (name, reason)
        assert str(corpus / name) in (out / "report.txt").read_text()
    handled = used | set(skipped)
    for name, expect in audio_cases.items():
        if expect == BAD:
            assert name in skipped, f"{name} should be reported"
        elif expect == GOOD:
            assert name in used, f"{name} should be prepared: {skipped.get(name)}"
    notes = {Path(u.source).name: u.notes for u in data.utterances}
    for name, prefix in NOTED.items():
        assert any(n.startswith(prefix) for n in notes[name]), (name, notes[name])
    for utt in data.utterances:  # what was kept is clean
        a = data.load_audio(utt)
        assert a.ndim == 1 and np.isfinite(a).all() and np.abs(a).max() <= 1.0
        assert np.isfinite(data.load_mel(utt)).all()
    missing = sorted(set(audio_cases) - handled)
    tried, survived = len(audio_cases), len(set(audio_cases) & handled)
    print(f"\nfuzz prepare: {tried} cases tried, {survived} handled (used or reported), "
          f"{len(used)} used, {len(skipped)} reported; silently left out: {missing}")  # fmt: skip
    assert not missing, f"every input must be used or reported with a reason: {missing}"


def test_synthesize_survives_the_fuzz_corpus(fuzz, capsys):
    from pwave.cli.synthesize import main as synthesize_main

    root, corpus, cases = fuzz
    student = _tiny_student(FEATURES.replace(mel_mean=(-5.0,) * N_MELS, mel_std=(2.0,) * N_MELS))
    ckpt = root / "student.pt"
    student.save(ckpt)
    out = root / "synth"
    code = synthesize_main(["--checkpoint", str(ckpt), "--input", str(corpus), "--output",
                            str(out), "--device", "cpu", "--batch-seconds", "1.0",
                            "--no-progress"])  # fmt: skip
    printed = capsys.readouterr()
    _no_traceback(printed.out + printed.err)
    assert code == 0, printed.err

    report = json.loads((out / "report.json").read_text())
    skipped = {Path(s["path"]).name: s["reason"] for s in report["skipped"]}
    done = {Path(d["input"]).name: d for d in report["files"]}
    assert not set(done) & set(skipped)
    for name, reason in skipped.items():
        assert name in cases and reason.strip(), (name, reason)
        assert f"{corpus / name}: {reason}" in printed.out
    for name, prefix in NOTED.items():
        assert any(n.startswith(prefix) for n in done[name]["notes"]), (name, done[name])
    for d in done.values():
        wav, sr = sf.read(d["output"], dtype="float32")
        assert sr == SR and wav.shape == (d["samples"],) and np.isfinite(wav).all()
    for name, (_, _, expect) in cases.items():
        if expect == BAD:
            assert name in skipped, f"{name} should be reported"
        elif expect == GOOD:
            assert name in done, f"{name} should be synthesised: {skipped.get(name)}"
    handled = set(done) | set(skipped)
    missing = sorted(set(cases) - handled)
    print(f"\nfuzz synthesize: {len(cases)} cases tried, {len(cases) - len(missing)} handled "
          f"(synthesised or reported), {len(done)} synthesised, {len(skipped)} reported; "
          f"silently left out: {missing}")  # fmt: skip
    assert not missing, f"every input must be synthesised or reported with a reason: {missing}"
