"""``pwave evaluate`` and :func:`pwave.evaluation.evaluate.evaluate_folders`: files paired by
name, one CSV line per pair, the teacher's bits with ``--teacher``, unmatched files listed."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest
import torch
from helpers.models import tiny_teacher_config
from helpers.synthetic import tone_burst

from pwave.audio.io import save_wav
from pwave.cli import main
from pwave.evaluation.evaluate import METRICS, evaluate_folders
from pwave.models.teacher import Teacher

RATE = 16000


@pytest.fixture
def folders(tmp_path):
    """``reference/`` with a, b, c; ``generated/`` with a (identical), b (noisy), d (alone)."""
    gen, ref = tmp_path / "generated", tmp_path / "reference"
    rng = np.random.default_rng(0)
    for i, stem in enumerate("abc"):
        save_wav(ref / f"{stem}.wav", tone_burst(1.0, RATE, seed=i), RATE)
    a, b = tone_burst(1.0, RATE, seed=0), tone_burst(1.0, RATE, seed=1)
    save_wav(gen / "a.wav", a, RATE)
    save_wav(gen / "b.wav", b + 0.05 * rng.standard_normal(b.shape), RATE)
    save_wav(gen / "d.wav", tone_burst(1.0, RATE, seed=3), RATE)
    return gen, ref


def test_evaluate_writes_one_row_per_pair_and_lists_the_unmatched(folders, tmp_path, capsys):
    gen, ref = folders
    out = tmp_path / "out"
    argv = ["evaluate", "--generated", str(gen), "--reference", str(ref), "--output", str(out)]
    assert main(argv) == 0
    with open(out / "metrics.csv", newline="") as f:
        rows = {row["utterance"]: row for row in csv.DictReader(f)}
    assert set(rows) == {"a", "b"}
    assert float(rows["a"]["log_mel_db"]) == 0.0 and float(rows["a"]["mcd_db"]) == 0.0
    assert float(rows["b"]["log_mel_db"]) > 0.0 and float(rows["b"]["mr_stft"]) > 0.0
    assert float(rows["a"]["stoi"]) > float(rows["b"]["stoi"])
    assert "teacher_bits" not in rows["a"]
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["summary"]) == {"seconds", *METRICS}
    assert summary["summary"]["log_mel_db"]["count"] == 2
    assert sorted(p["file"] for p in summary["skipped"]) == ["c", "d"]
    printed = capsys.readouterr().out
    assert "evaluation over 2 utterance(s)" in printed and "skipped d" in printed


def test_evaluate_with_a_teacher_reports_its_bits(folders, tmp_path):
    gen, ref = folders
    torch.manual_seed(0)
    teacher = Teacher(tiny_teacher_config())
    teacher.save(tmp_path / "teacher.pt")
    out = tmp_path / "out"
    argv = ["evaluate", "--generated", str(gen), "--reference", str(ref), "--output", str(out)]
    assert main([*argv, "--teacher", str(tmp_path / "teacher.pt")]) == 0
    with open(out / "metrics.csv", newline="") as f:
        rows = {row["utterance"]: row for row in csv.DictReader(f)}
    for row in rows.values():
        assert math.isfinite(float(row["teacher_bits"]))
    # the same file scores the same, whichever side it is on
    assert float(rows["a"]["teacher_bits"]) == pytest.approx(
        float(rows["a"]["teacher_bits_reference"]), abs=1e-9
    )
    assert float(rows["b"]["teacher_bits"]) != pytest.approx(
        float(rows["b"]["teacher_bits_reference"]), abs=1e-6
    )


def test_evaluate_fails_in_one_line_without_pairs(tmp_path, capsys):
    (tmp_path / "g").mkdir()
    (tmp_path / "r").mkdir()
    save_wav(tmp_path / "g" / "x.wav", tone_burst(0.5, RATE), RATE)
    save_wav(tmp_path / "r" / "y.wav", tone_burst(0.5, RATE), RATE)
    code = main(
        ["evaluate", "--generated", str(tmp_path / "g"), "--reference", str(tmp_path / "r")]
    )
    assert code == 2
    assert "pwave: error: no generated/reference pair" in capsys.readouterr().err


def test_teacher_bits_need_the_teacher_features(folders):
    gen, ref = folders
    with pytest.raises(ValueError, match="feature_config"):
        evaluate_folders(gen, ref, teacher_bits=lambda audio: 0.0)
