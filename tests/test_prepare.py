"""Corpus preparation: cached arrays, statistics, reports, bad input, reuse, CLI."""

from __future__ import annotations

import argparse
import json
import os

import numpy as np
import pytest
import torch
from helpers.synthetic import BAD_FILE_EXPECTATIONS

from pwave.audio import io
from pwave.audio.features import load_feature_config
from pwave.audio.mel import MelSpectrogram
from pwave.cli.prepare import add_arguments, run
from pwave.cli.prepare import main as prepare_main
from pwave.data.dataset import PreparedDataset
from pwave.data.prepare import NothingUsableError, PrepareError, prepare_corpus


def _prepare(source, out, cfg, **kw):
    kw.setdefault("num_workers", 0)
    return prepare_corpus(source, out, feature_config=cfg, progress=False, log=None, **kw)


def test_prepared_ljspeech_is_consistent(tmp_path, corpus_tree, tiny_feature_config):
    cfg = tiny_feature_config
    root = corpus_tree("ljspeech", n=8, seconds=0.61, sample_rate=22050)
    ds = _prepare(root, tmp_path / "out", cfg, layout="ljspeech")
    assert len(ds) == 8 and ds.speakers == ["LJ"]
    assert [len(ds.split(s)) for s in ("train", "dev", "eval")] == [6, 1, 1]
    mel = MelSpectrogram(cfg).double()
    train_mels = []
    for utt in ds.utterances:
        audio, m = ds.load_audio(utt), ds.load_mel(utt)
        assert audio.dtype == np.float32 and m.dtype == np.float32
        assert audio.shape == (utt.num_samples,) and utt.num_samples == utt.frames * cfg.hop_length
        assert m.shape == (cfg.n_mels, utt.frames)
        # 0.61 s at 16 kHz = 9760 samples -> padded up to the next multiple of the hop.
        assert utt.num_samples == -(-9760 // cfg.hop_length) * cfg.hop_length
        ref = mel(torch.from_numpy(audio).double()).float().numpy()
        np.testing.assert_allclose(m, ref, atol=1e-4)  # cached mel == front end on cached audio
        assert utt.original_sample_rate == 22050
        assert "resampled from 22050 Hz to 16000 Hz" in utt.notes  # never silent
        if utt.split == "train":
            train_mels.append(m.astype(np.float64))
    allm = np.concatenate(train_mels, axis=1)
    got = ds.feature_config
    np.testing.assert_allclose(got.mel_mean, allm.mean(1), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(got.mel_std, np.maximum(allm.std(1), 1e-3), rtol=1e-5)
    assert got.replace(mel_mean=(), mel_std=()) == cfg
    assert load_feature_config(tmp_path / "out") == got
    report = ds.report
    assert report["prepared"] == 8 and report["changes"]["resampled"] == 8
    assert (tmp_path / "out" / "report.txt").read_text().count("resampled from 22050 Hz") == 8


def test_bad_input_corpus_is_fully_reported(
    tmp_path, corpus_tree, tiny_feature_config, monkeypatch
):
    root = corpus_tree("bad", sample_rate=16000)
    locked = root / "no_permission.wav"
    if os.access(locked, os.R_OK):  # root ignores chmod 000: simulate the refusal
        real = io._open_binary

        def guarded(path):
            if os.path.basename(path) == "no_permission.wav":
                raise PermissionError(13, "Permission denied", path)
            return real(path)

        monkeypatch.setattr(io, "_open_binary", guarded)
    ds = _prepare(root, tmp_path / "out", tiny_feature_config, segment_min_seconds=0.5)
    report = ds.report
    skipped = {os.path.basename(s["path"]): s for s in report["skipped"]}
    notes = {os.path.basename(n["path"]): n["notes"] for n in report["notes"]}
    prepared = {os.path.basename(u.source) for u in ds.utterances}
    text = (tmp_path / "out" / "report.txt").read_text()
    for name, (what, detail) in BAD_FILE_EXPECTATIONS.items():
        if what == "skip":
            assert name in skipped, f"{name} should be skipped"
            assert skipped[name]["kind"] == detail and skipped[name]["reason"]
            assert f"{root / name}: {skipped[name]['reason']}" in text
        else:
            assert name in prepared, f"{name} should be prepared"
        if what == "note":
            assert any(n.startswith(detail) for n in notes[name]), (name, notes.get(name))
            assert str(root / name) in text
    n_skip = sum(w == "skip" for w, _ in BAD_FILE_EXPECTATIONS.values())
    assert (
        report["skipped_count"] == n_skip
        and report["prepared"] == len(BAD_FILE_EXPECTATIONS) - n_skip
    )
    assert report["found"] == len(BAD_FILE_EXPECTATIONS)
    assert f"skipped {n_skip}" in text
    assert report["changes"]["mixed_down"] == 2 and report["changes"]["resampled"] == 1
    for utt in ds.utterances:  # everything that was kept is clean mono at the target rate
        a = ds.load_audio(utt)
        assert np.isfinite(a).all() and np.abs(a).max() <= 1.0 and a.ndim == 1


def test_dc_offset_is_noted_in_the_manifest(tmp_path, corpus_tree, tiny_feature_config):
    root = corpus_tree("folder", speakers=1, per_speaker=4, seconds=0.6, speaker_level=False)
    rng = np.random.default_rng(0)
    io.save_wav(root / "offset.wav", 0.8 + 0.02 * rng.standard_normal(9600), 16000, "FLOAT")
    out = tmp_path / "out"
    ds = _prepare(root, out, tiny_feature_config)
    rows = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    notes = {os.path.basename(r["source"]): r["notes"] for r in rows}
    assert len(notes) == 5
    dc = [n for n in notes["offset.wav"] if n.startswith("DC offset")]
    assert len(dc) == 1 and "+0.80" in dc[0] and "kept as is" in dc[0]
    assert all(not n for name, n in notes.items() if name != "offset.wav")  # no false alarm
    utt = next(u for u in ds.utterances if u.source.endswith("offset.wav"))
    assert ds.load_audio(utt)[:9600].mean() == pytest.approx(0.8, abs=0.01)  # kept as is
    assert ds.report["changes"]["dc_offset"] == 1
    assert f"{root / 'offset.wav'}: {dc[0]}" in (out / "report.txt").read_text()


def test_folder_named_like_audio_is_reported(tmp_path, corpus_tree, tiny_feature_config):
    root = corpus_tree("folder", speakers=1, per_speaker=4, seconds=0.6, speaker_level=False)
    (root / "take_2.wav").mkdir()
    ds = _prepare(root, tmp_path / "out", tiny_feature_config)
    assert len(ds) == 4 and ds.report["found"] == 5
    assert ds.report["skipped"] == [
        {
            "path": str(root / "take_2.wav"),
            "reason": "is a directory, not an audio file",
            "kind": "unreadable",
        }
    ]
    assert f"{root / 'take_2.wav'}: is a directory" in (tmp_path / "out" / "report.txt").read_text()


def test_nothing_usable_is_a_clear_error(tmp_path, tiny_feature_config, capsys):
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.wav").write_bytes(b"")
    (src / "b.wav").write_text("text")
    with pytest.raises(NothingUsableError, match="nothing usable.*2 file.*report.txt"):
        _prepare(src, tmp_path / "out", tiny_feature_config)
    assert "a.wav: empty file" in (tmp_path / "out" / "report.txt").read_text()
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(NothingUsableError, match="no audio files found"):
        _prepare(empty, tmp_path / "out2", tiny_feature_config)
    # Through the command line: exit code 2 and one line `pwave: error: ...`, no traceback.
    assert prepare_main([str(src), "-o", str(tmp_path / "out3"), "--no-progress",
                         "--num-workers", "0"]) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert err.startswith("pwave: error: nothing usable") and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert prepare_main([str(tmp_path / "missing"), "-o", str(tmp_path / "o4"),
                         "--no-progress"]) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert err.startswith("pwave: error:") and "does not exist" in err


def test_reuse_overwrite_and_guards(tmp_path, corpus_tree, tiny_feature_config):
    cfg = tiny_feature_config
    root = corpus_tree("folder", speakers=1, per_speaker=4, seconds=0.6)
    out = tmp_path / "out"
    first = _prepare(root, out, cfg)
    stamp = os.path.getmtime(out / "manifest.jsonl")
    again = _prepare(root, out, cfg)  # same settings: reused, not rebuilt
    assert os.path.getmtime(out / "manifest.jsonl") == stamp
    assert again.feature_config == first.feature_config
    with pytest.raises(PrepareError, match="other settings.*--overwrite"):
        _prepare(root, out, cfg.replace(n_mels=10))
    rebuilt = _prepare(root, out, cfg.replace(n_mels=10), overwrite=True)
    assert (
        rebuilt.feature_config.n_mels == 10
        and rebuilt.load_mel(rebuilt.utterances[0]).shape[0] == 10
    )
    with pytest.raises(PrepareError, match="must not be inside"):
        _prepare(root, root / "prepared", cfg)
    with pytest.raises(PrepareError, match="needs a corpus folder"):
        _prepare(None, tmp_path / "x", cfg, layout="vctk")


def test_workers_and_reruns_give_identical_results(tmp_path, corpus_tree, tiny_feature_config):
    cfg = tiny_feature_config
    root = corpus_tree("folder", speakers=2, per_speaker=3, seconds=0.6)
    a = _prepare(root, tmp_path / "a", cfg, num_workers=0)
    b = _prepare(root, tmp_path / "b", cfg, num_workers=2)
    rows_a = [(u.id, u.split, u.frames) for u in a.utterances]
    assert rows_a == [(u.id, u.split, u.frames) for u in b.utterances]
    assert a.feature_config == b.feature_config
    for ua, ub in zip(a.utterances, b.utterances):
        np.testing.assert_array_equal(a.load_mel(ua), b.load_mel(ub))


def test_demo_layout_via_cli(tmp_path):
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    out = tmp_path / "demo"
    argv = ["-o", str(out), "--demo-utterances", "4", "--demo-seconds", "1.0", "--n-mels", "16"]
    args = parser.parse_args(argv + ["--n-fft", "256", "--win-length", "256", "--hop-length", "64"])
    assert run(args) == 0
    ds = PreparedDataset(out)
    assert len(ds) == 4 and ds.feature_config.n_mels == 16 and len(ds.speakers) == 4
    assert json.loads((out / "prepare.json").read_text())["layout"] == "demo"
    assert ds.report["skipped_count"] == 0
