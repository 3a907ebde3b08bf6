"""The demo pipeline's stages (``pwave demo``), each run on tiny inputs, never the whole
demo: the evaluation stage writes ``eval/`` as the README and ``pwave demo --help`` say."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest
import torch
from helpers.models import tiny_teacher_config
from helpers.synthetic import tone_burst

from pwave.apps import demo
from pwave.audio.io import save_wav
from pwave.evaluation.evaluate import METRICS
from pwave.models.teacher import Teacher

RATE = 16000


def _read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture
def synthesized(tmp_path):
    """A demo output folder after stage 4: three eval references, the first one also for
    the teacher; the student's copies of all three and the teacher's of the first, each a
    noisy copy of its reference (1 s at 16 kHz)."""
    paths = demo.DemoPaths(tmp_path / "demo")
    rng = np.random.default_rng(0)
    for i, stem in enumerate(["eval_000", "eval_001", "eval_002"]):
        ref = tone_burst(1.0, RATE, seed=i)
        save_wav(paths.reference / f"{stem}.wav", ref, RATE)
        noisy = ref + 0.02 * rng.standard_normal(ref.shape)
        save_wav(paths.synthesized("student") / f"{stem}.wav", noisy, RATE)
        if i == 0:
            save_wav(paths.teacher_reference / f"{stem}.wav", ref, RATE)
            noisier = ref + 0.05 * rng.standard_normal(ref.shape)
            save_wav(paths.synthesized("teacher") / f"{stem}.wav", noisier, RATE)
    return paths


def test_evaluation_stage_writes_eval_csvs_and_summary(synthesized):
    paths = synthesized
    torch.manual_seed(0)
    teacher = Teacher(tiny_teacher_config()).eval()
    summaries = demo.evaluate_stage(paths, teacher)

    expected_rows = {"student": 1, "teacher": 1, "student_all_eval": 3}
    assert set(summaries) == set(expected_rows)
    for name, n in expected_rows.items():
        rows = _read_csv(paths.eval / f"{name}.csv")  # one line per utterance
        assert len(rows) == n, name
        for row in rows:
            for key in (*METRICS, "teacher_bits", "teacher_bits_reference"):
                assert key in row, (name, key)
            for key in ("log_mel_db", "mcd_db", "mr_stft", "teacher_bits"):
                assert math.isfinite(float(row[key])) and float(row[key]) != 0.0, (name, key)
        assert sorted(r["utterance"] for r in rows) == [f"eval_00{i}" for i in range(n)]
        assert summaries[name]["log_mel_db"]["count"] == n

    on_disk = json.loads((paths.eval / "summary.json").read_text())
    assert on_disk == json.loads(json.dumps(summaries))  # the summaries the demo reports
    table = _read_csv(paths.eval / "summary.csv")
    assert {(r["evaluation"], r["metric"]) for r in table} == {
        (name, key) for name, summary in summaries.items() for key in summary
    }
    mean = {(r["evaluation"], r["metric"]): float(r["mean"]) for r in table}
    assert mean["student", "log_mel_db"] == pytest.approx(
        summaries["student"]["log_mel_db"]["mean"]
    )


def test_demo_paths_lay_out_the_output_folder(tmp_path):
    paths = demo.DemoPaths(tmp_path)
    assert paths.teacher_pt == tmp_path / "teacher" / "teacher.pt"
    assert paths.student_pt == tmp_path / "student" / "student.pt"
    assert paths.eval == tmp_path / "eval" and paths.bench == tmp_path / "bench"
    assert paths.synthesized("teacher").parent == paths.reference.parent == tmp_path / "synth"


def test_max_time_is_a_lightning_duration():
    assert demo._max_time(10) == "00:00:10:00"
    assert demo._max_time(61.5) == "00:01:01:30"
    assert demo._max_time(0) == "00:00:00:01"  # never a zero budget


def _demo_args(**changes):
    import argparse

    from pwave.cli import demo as demo_cli

    parser = argparse.ArgumentParser()
    demo_cli.add_arguments(parser)
    args = parser.parse_args([])
    for key, value in changes.items():
        setattr(args, key, value)
    return args


def test_budgets_are_steps_from_the_config_unless_overridden():
    """The demo trains for the configs' max_steps (no wall-clock budget by default), so the
    same command gives the same models on any machine."""
    from pwave.configs import load_config

    args = _demo_args()
    assert args.teacher_minutes is None and args.student_minutes is None
    for stage in ("teacher", "student"):
        trainer = load_config(stage, "demo")["trainer"]
        assert trainer.get("max_time") is None
        assert demo.planned_steps(stage, args) == trainer["max_steps"] > 0
    assert demo.planned_steps("teacher", _demo_args(teacher_steps=7)) == 7
    assert demo.planned_steps("student", _demo_args(config_name="debug")) == 3


class _FakeCLI:
    def __init__(self, step: int):
        self.trainer = type("T", (), {"global_step": step})()


@pytest.mark.parametrize(("reached", "early"), [(2000, False), (1234, True)])
def test_a_stage_stopped_before_its_steps_says_so_loudly(
    monkeypatch, tmp_path, capsys, reached, early
):
    import pwave.train.cli as train_cli

    seen = {}

    def fake_run_stage(stage, argv):
        seen["argv"] = argv
        return _FakeCLI(reached)

    monkeypatch.setattr(train_cli, "run_stage", fake_run_stage)
    info = demo.train_stage("teacher", demo.DemoPaths(tmp_path), _demo_args(), demo.StageTimer())
    argv = seen["argv"]
    assert argv[argv.index("--trainer.max_steps") + 1] == "2000"
    assert "--trainer.max_time" not in argv  # no wall-clock budget unless asked for
    assert info == {"planned": 2000, "reached": reached, "complete": not early}
    assert ("STOPPED EARLY" in capsys.readouterr().out) is early


def test_the_summary_states_the_steps_reached(tmp_path):
    paths = demo.DemoPaths(tmp_path)
    paths.out.mkdir(parents=True, exist_ok=True)
    steps = {"teacher": {"planned": 4, "reached": 4, "complete": True}}
    path = demo.write_summary(paths, {}, {}, {"total": 1.0}, steps)
    assert json.loads(path.read_text())["steps"] == steps
