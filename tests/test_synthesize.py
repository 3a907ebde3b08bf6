"""``pwave synthesize`` and the :class:`~pwave.inference.vocoder.Vocoder` API: copy
synthesis sees the training features, batching does not change outputs, bad inputs are
reported, never raised."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from pwave.audio.config import FeatureConfig
from pwave.audio.io import load_audio, save_wav
from pwave.cli.synthesize import add_arguments, run
from pwave.errors import CheckpointError
from pwave.inference.batch_synthesis import synthesize_paths
from pwave.inference.inputs import find_inputs, make_batches
from pwave.inference.vocoder import Vocoder
from pwave.model_io.loading import load_model
from pwave.models.student import Student, StudentConfig
from pwave.models.teacher import Teacher, TeacherConfig
from pwave.sampling.chunking import context_frames_needed

SR, HOP, N_MELS, CTX = 8000, 16, 8, 2


def features(stats: bool = True) -> FeatureConfig:
    cfg = FeatureConfig(
        sample_rate=SR, n_fft=64, hop_length=HOP, win_length=64, n_mels=N_MELS, fmax=4000.0
    )
    if stats:
        rng = np.random.default_rng(0)
        cfg = cfg.replace(
            mel_mean=tuple(rng.uniform(-6, -2, N_MELS).tolist()),
            mel_std=tuple(rng.uniform(1, 3, N_MELS).tolist()),
        )
    return cfg


def randomise_heads(model, seed: int) -> None:
    """Push every output head far from its near-zero initialisation (non-trivial outputs)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for net in model.wavenets:
            net.head_out.weight.normal_(0.0, 0.3, generator=g)


def tiny_student(seed: int = 0, feats: FeatureConfig | None = None) -> Student:
    torch.manual_seed(seed)
    cfg = StudentConfig(
        features=feats or features(),
        mel_context_frames=CTX,
        upsample_factors=(4, 4),
        cond_channels=6,
        flow_layers=(3, 2),
        flow_cycles=(1, 1),
        residual_channels=8,
        gate_channels=8,
        skip_channels=8,
        base="gaussian",
    )
    student = Student(cfg)
    randomise_heads(student, seed + 1)
    return student.eval()


def tiny_teacher(seed: int = 0) -> Teacher:
    torch.manual_seed(seed)
    cfg = TeacherConfig(
        features=features(),
        mel_context_frames=CTX,
        upsample_factors=(4, 4),
        cond_channels=6,
        residual_channels=8,
        gate_channels=8,
        skip_channels=8,
        layers=3,
    )
    teacher = Teacher(cfg)
    randomise_heads(teacher, seed + 1)
    return teacher.eval()


def tone(n: int, sr: int = SR, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n) / sr
    x = 0.4 * np.sin(2 * np.pi * rng.uniform(100, 400) * t) + 0.05 * rng.standard_normal(n)
    return x.astype(np.float32)


def cli(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return run(parser.parse_args([*argv, "--device", "cpu", "--no-progress"]))


# --------------------------------------------------------------------------------------------


def test_front_end_matches_the_training_data_module(tmp_path):
    """Copy synthesis feeds the model exactly what the data module feeds it in training."""
    from pwave.data.dataset import PreparedDataset
    from pwave.data.prepare import prepare_corpus
    from pwave.data.segments import UtteranceDataset

    corpus = tmp_path / "corpus"
    for i, n in enumerate((4000, 4321, 5003)):
        save_wav(corpus / f"u{i}.wav", tone(n, seed=i), SR)
    prepare_corpus(
        corpus, tmp_path / "prepared", feature_config=features(stats=False),
        segment_min_seconds=0.1, num_workers=0, progress=False, log=None,
    )  # fmt: skip
    data = PreparedDataset(tmp_path / "prepared")
    vocoder = Vocoder(tiny_student(feats=data.feature_config), "cpu", "float32")
    ds = UtteranceDataset(data, data.utterances, context=CTX, normalize=True)
    for i, utt in enumerate(data.utterances):
        audio = load_audio(utt.source, sample_rate=SR).audio
        mine = vocoder.model_input(vocoder.audio_to_mel(audio))
        torch.testing.assert_close(mine, ds[i]["mel"], rtol=1e-5, atol=1e-5)
        assert vocoder.model.num_samples(mine[None]) == ds[i]["audio"].shape[-1]


def test_python_api_on_one_array():
    vocoder = Vocoder(tiny_student(), "cpu", "float32")
    audio = tone(1000)
    out = vocoder.vocode_audio(audio, seed=5)
    assert out.shape == (-(-1000 // HOP) * HOP,) and out.dtype == np.float32
    assert np.isfinite(out).all() and out.std() > 0
    np.testing.assert_array_equal(out, vocoder.vocode_mel(vocoder.audio_to_mel(audio), seed=5))
    np.testing.assert_array_equal(out, vocoder.vocode_audio(torch.from_numpy(audio), seed=5))
    assert not np.allclose(out, vocoder.vocode_audio(audio, seed=6))
    # Another rate is resampled to the model's: 0.125 s at 16 kHz -> 1000 samples at 8 kHz.
    assert vocoder.vocode_audio(tone(2000, sr=16000), sample_rate=16000).shape == (1008,)
    # Temperature 0 gives the noise-free (mean) path: the same for every seed.
    np.testing.assert_allclose(
        vocoder.vocode_audio(audio, temperature=0.0, seed=1),
        vocoder.vocode_audio(audio, temperature=0.0, seed=2),
    )


def test_vocode_audio_mixes_down_channels_last_audio():
    """``[T, C]`` audio (what ``soundfile.read`` returns for stereo) is one item, mixed down
    with a warning; ``[B, T]`` stays a batch."""
    vocoder = Vocoder(tiny_student(), "cpu", "float32")
    left, right = tone(1000, seed=1), tone(1000, seed=2)
    stereo = np.stack([left, right], axis=1)  # [T, 2]
    with pytest.warns(UserWarning, match="mixed down"):
        out = vocoder.vocode_audio(stereo, seed=5)
    assert out.shape == (-(-1000 // HOP) * HOP,)
    np.testing.assert_array_equal(out, vocoder.vocode_audio(stereo.mean(axis=1), seed=5))
    stereo_16k = np.stack([tone(2000, sr=16000)] * 2, axis=1)
    with pytest.warns(UserWarning, match="mixed down"):  # mixed before resampling
        assert vocoder.vocode_audio(stereo_16k, sample_rate=16000).shape == (1008,)
    one_channel = vocoder.vocode_audio(left[:, None], seed=5)  # [T, 1]: nothing to mix
    np.testing.assert_array_equal(one_channel, vocoder.vocode_audio(left, seed=5))
    batch = vocoder.vocode_audio(np.stack([left, right]), seed=5)  # [B, T]
    assert batch.shape == (2, 1008)
    np.testing.assert_allclose(batch[1], vocoder.vocode_audio(right, seed=6), rtol=0, atol=1e-6)


@pytest.mark.parametrize("shape", [(2, 2), (8, 8), (3, 5), (1000, 2, 2), (2, 3, 1000)])
def test_vocode_audio_rejects_ambiguous_shapes(shape):
    vocoder = Vocoder(tiny_student(), "cpu", "float32")
    with pytest.raises(ValueError) as info:
        vocoder.vocode_audio(np.zeros(shape, np.float32))
    text = str(info.value)
    assert str(shape) in text and "[T]" in text and "[B, T]" in text and "[T, C]" in text


def test_batching_does_not_change_the_outputs():
    vocoder = Vocoder(tiny_student(), "cpu", "float32")
    mels = [vocoder.audio_to_mel(tone(n, seed=n)) for n in (480, 800, 800)]
    inputs = [vocoder.model_input(m) for m in mels]
    noises = [vocoder.noise(m.shape[1], seed=i) for i, m in enumerate(mels)]
    batched = vocoder.synthesize_batch(inputs, noises)
    single = [vocoder.synthesize_batch([x], [z])[0] for x, z in zip(inputs, noises)]
    for b, s, m in zip(batched, single, mels):
        assert b.shape == s.shape == (m.shape[1] * HOP,)
    # Equal lengths: identical; the shorter item differs at most in its last two frames.
    torch.testing.assert_close(batched[1], single[1], rtol=0, atol=1e-6)
    torch.testing.assert_close(batched[2], single[2], rtol=0, atol=1e-6)
    torch.testing.assert_close(batched[0][: -2 * HOP], single[0][: -2 * HOP], rtol=0, atol=1e-6)
    # Batched API: item i uses seed + i.
    both = vocoder.vocode_mel(np.stack(mels[1:]), seed=7)
    np.testing.assert_allclose(both[1], vocoder.vocode_mel(mels[2], seed=8), atol=1e-6)


def test_chunked_student_pass_equals_one_pass():
    vocoder = Vocoder(tiny_student(), "cpu", "float32")
    mel = vocoder.audio_to_mel(tone(60 * HOP))
    x, z = vocoder.model_input(mel), vocoder.noise(mel.shape[1], seed=3)
    whole = vocoder.synthesize_batch([x], [z])[0]
    left, right = context_frames_needed(vocoder.model)
    for max_frames in (left + right + 1, left + right + 7, 200):
        chunked = vocoder.synthesize_long(x, z, max_samples=max_frames * HOP)
        torch.testing.assert_close(chunked, whole, rtol=0, atol=1e-6)
    # Without the overlap the chunks would lose their past: the property can fail.
    parts = [vocoder.synthesize_batch([x[:, f0 : f1 + 2 * CTX]], [z[f0 * HOP : f1 * HOP]])[0]
             for f0, f1 in ((0, 30), (30, 60))]  # fmt: skip
    assert not torch.allclose(torch.cat(parts), whole, atol=1e-4)


def test_fast_and_reference_samplers_agree():
    """The default fused path and the model's own modules make the same audio."""
    student = tiny_student().double()
    fast, ref = Vocoder(student, "cpu", "float32"), Vocoder(student, "cpu", "float32", "reference")
    assert fast.sampler == "fast" and ref.sampler == "reference"
    mels = [fast.audio_to_mel(tone(n, seed=n)) for n in (480, 800)]
    inputs = [fast.model_input(m) for m in mels]
    noises = [fast.noise(m.shape[1], seed=i) for i, m in enumerate(mels)]
    for a, b in zip(fast.synthesize_batch(inputs, noises), ref.synthesize_batch(inputs, noises)):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)  # float64 model, float32 output
    # bf16: the fused path runs a bf16 conditioner (flow arithmetic in float32), no autocast
    low = Vocoder(tiny_student(), "cpu", "bf16")
    assert not low.uses_autocast
    a = low.synthesize_batch(inputs[:1], noises[:1])[0]
    b = Vocoder(tiny_student(), "cpu", "float32").synthesize_batch(inputs[:1], noises[:1])[0]
    assert (a - b).abs().max() < 0.05 * b.abs().max() + 1e-3
    with pytest.raises(ValueError, match="sampler"):
        Vocoder(student, "cpu", "float32", "turbo")


def test_make_batches_sorts_and_respects_the_budget():
    class J:
        def __init__(self, frames):
            self.frames, self.path = frames, f"f{frames}"

    jobs = [J(f) for f in (50, 10, 30, 20, 100, 40)]
    batches = make_batches(jobs, hop=10, sample_rate=1000, batch_seconds=1.0)  # 1000 samples
    flat = [j.frames for b in batches for j in b]
    assert flat == sorted(flat)
    for b in batches:
        assert len(b) == 1 or len(b) * max(j.frames for j in b) * 10 <= 1000


def write_bad_inputs(folder: Path) -> dict[str, str]:
    """Bad inputs -> a word their skip reason must contain."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "empty.wav").write_bytes(b"")
    (folder / "random_bytes.wav").write_bytes(np.random.default_rng(0).bytes(3000))
    nan = tone(500)
    nan[10] = np.nan
    sf.write(folder / "nan.wav", nan, SR, subtype="FLOAT")
    np.save(folder / "zero_length.npy", np.zeros((N_MELS, 0), np.float32))
    np.save(folder / "wrong_bins.npy", np.zeros((N_MELS + 3, 10), np.float32))
    np.save(folder / "transposed.npy", np.zeros((10, N_MELS), np.float32))
    bad = np.zeros((N_MELS, 10), np.float32)
    bad[1, 2] = np.inf
    np.save(folder / "nan_mel.npy", bad)
    (folder / "random_bytes.npy").write_bytes(np.random.default_rng(1).bytes(500))
    np.save(folder / "pickled.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    return {
        "empty.wav": "empty",
        "random_bytes.wav": "not a readable audio file",
        "nan.wav": "NaN",
        "zero_length.npy": "0 frames",
        "wrong_bins.npy": f"{N_MELS + 3} bins",
        "transposed.npy": "transposed",
        "nan_mel.npy": "NaN/inf",
        "random_bytes.npy": "not a readable .npy",
        "pickled.npy": ".npy",
    }


def test_cli_synthesises_a_folder_and_reports_bad_files(tmp_path):
    student = tiny_student()
    ckpt = tmp_path / "student.pt"
    student.save(ckpt)
    vocoder = Vocoder(student, "cpu", "float32")
    src = tmp_path / "in"
    save_wav(src / "a.wav", tone(810, seed=1), SR)
    save_wav(src / "sub" / "b.flac", tone(1600, sr=16000, seed=2), 16000, subtype="PCM_16")
    mel = vocoder.audio_to_mel(tone(13 * HOP, seed=3))
    np.save(src / "c.npy", mel)
    (src / "readme.txt").write_text("not an input\n")
    bad = write_bad_inputs(src / "bad")
    out = tmp_path / "out"

    assert cli("--checkpoint", str(ckpt), "--input", str(src), "--output", str(out),
               "--batch-seconds", "0.08", "--seed", "10") == 0  # fmt: skip

    expected = {"a.wav": 51 * HOP, "sub/b.wav": 50 * HOP, "c.wav": 13 * HOP}
    for name, n in expected.items():
        data, sr = sf.read(out / name)
        assert sr == SR and data.shape == (n,), name
        assert sf.info(out / name).subtype == "PCM_16"
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.wav")) == sorted(expected)

    report = json.loads((out / "report.json").read_text())
    reasons = {Path(s["path"]).name: s["reason"] for s in report["skipped"]}
    assert set(reasons) == set(bad)
    for name, word in bad.items():
        assert word in reasons[name], (name, reasons[name])
    assert report["synthesized_count"] == 3 and report["found"] == 3 + len(bad)
    assert [Path(p).name for p in report["ignored"]] == ["readme.txt"]
    files = {Path(d["input"]).name: d for d in report["files"]}
    assert any("resampled" in n for n in files["b.flac"]["notes"])
    assert "lower is better" in report["rtf_definition"]
    assert report["total"]["audio_seconds"] == pytest.approx(sum(expected.values()) / SR)
    for d in report["files"]:
        assert d["rtf"] > 0 and d["x_real_time"] == pytest.approx(1 / d["rtf"], rel=1e-3)

    # CLI outputs equal the API's with the seed of the input's position in path order: c.npy
    # (batched; up to its last two frames) and a.wav (longer than --batch-seconds: chunked).
    paths, _ = find_inputs(src, exclude=out)
    ref = vocoder.vocode_mel(mel, seed=10 + paths.index(src / "c.npy"))
    got, _ = sf.read(out / "c.wav", dtype="float32")
    np.testing.assert_allclose(got[: -2 * HOP], np.clip(ref, -1, 1)[: -2 * HOP], atol=1e-4)
    mel_a = vocoder.audio_to_mel(load_audio(src / "a.wav").audio)
    ref = vocoder.vocode_mel(mel_a, seed=10 + paths.index(src / "a.wav"))
    got, _ = sf.read(out / "a.wav", dtype="float32")
    np.testing.assert_allclose(got, np.clip(ref, -1, 1), atol=1e-4)


def test_folders_named_like_inputs_are_reported_as_skipped(tmp_path):
    """A folder called ``x.wav`` or ``y.npy`` is listed as skipped, with its reason; the files
    inside it are still inputs."""
    vocoder = Vocoder(tiny_student(), "cpu", "float32")
    src = tmp_path / "in"
    save_wav(src / "a.wav", tone(400), SR)
    save_wav(src / "folder.wav" / "b.wav", tone(300), SR)
    (src / "mels.npy").mkdir()
    report = synthesize_paths(vocoder, src, tmp_path / "out", progress=False, log=None)
    reasons = {Path(s["path"]).name: s["reason"] for s in report["skipped"]}
    assert set(reasons) == {"folder.wav", "mels.npy"}
    assert all("folder" in r for r in reasons.values()), reasons
    out = tmp_path / "out"
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.wav") if p.is_file())
    assert written == ["a.wav", "folder.wav/b.wav"]
    assert report["synthesized_count"] == 2 and report["skipped_count"] == 2


def test_cli_exit_code_when_nothing_can_be_synthesised(tmp_path, capsys):
    ckpt = tmp_path / "student.pt"
    tiny_student().save(ckpt)
    bad = write_bad_inputs(tmp_path / "in")
    code = cli("--checkpoint", str(ckpt), "--input", str(tmp_path / "in"), "--output",
               str(tmp_path / "out"))  # fmt: skip
    assert code == 1
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["synthesized_count"] == 0 and report["skipped_count"] == len(bad)
    printed = capsys.readouterr().out
    for name in bad:
        assert name in printed


def test_cli_with_a_teacher_checkpoint(tmp_path, capsys):
    ckpt = tmp_path / "teacher.pt"
    teacher = tiny_teacher()
    teacher.save(ckpt)
    save_wav(tmp_path / "in.wav", tone(10 * HOP), SR)
    assert cli("--checkpoint", str(ckpt), "--input", str(tmp_path / "in.wav"), "--output",
               str(tmp_path / "out")) == 0  # fmt: skip
    assert "teacher" in capsys.readouterr().err
    got, sr = sf.read(tmp_path / "out" / "in.wav", dtype="float32")
    assert sr == SR and got.shape == (10 * HOP,)
    vocoder = Vocoder(teacher, "cpu", "float32")
    mel = vocoder.audio_to_mel(load_audio(tmp_path / "in.wav").audio)
    ref = vocoder.vocode_mel(mel, seed=0)
    np.testing.assert_allclose(got, np.clip(ref, -1, 1), atol=1e-4)


def test_load_checkpoint_detects_the_kind(tmp_path):
    student, teacher = tiny_student(), tiny_teacher()
    student.save(tmp_path / "s.pt")
    teacher.save(tmp_path / "t.pt")
    assert isinstance(load_model(tmp_path / "s.pt"), Student)
    assert isinstance(load_model(tmp_path / "t.pt"), Teacher)
    # A Lightning checkpoint of `pwave train student` (EMA weights under ema.module.).
    state = {f"ema.module.{k}": v for k, v in student.state_dict().items()}
    state.update({f"model.{k}": torch.zeros_like(v) for k, v in student.state_dict().items()})
    info = {"kind": "student", "config": student.config.to_dict()}
    torch.save({"pwave": info, "state_dict": state}, tmp_path / "run.ckpt")
    loaded = load_model(tmp_path / "run.ckpt")
    assert isinstance(loaded, Student)
    for k, v in student.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[k], v)
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="not a pwave checkpoint"):
        load_model(tmp_path / "junk.pt")
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "missing.pt")


def test_synthesis_benchmark_script_times_both_samplers():
    import subprocess
    import sys

    script = Path(__file__).resolve().parents[1] / "scripts" / "bench_synthesis.py"
    args = ["--student-config", "debug", "--seconds", "0.05", "--repeats", "1", "--threads", "1"]
    done = subprocess.run(
        [sys.executable, str(script), *args], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    rows = [line.split() for line in done.stdout.splitlines() if "real time" in line]
    assert sorted((r[0], r[1]) for r in rows) == [
        ("bf16", "fast"),
        ("bf16", "reference"),
        ("float32", "fast"),
        ("float32", "reference"),
    ]
    assert all(float(r[2]) > 0 for r in rows)
