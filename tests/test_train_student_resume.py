"""Student resume: a distillation run resumed from a checkpoint (mid-epoch, or a finished
shorter run given more steps) sees the same batches, draws the same noise, gets the same
losses and ends with the same EMA student as an uninterrupted run.

The teacher's resume (signals included) is tested in ``test_resume.py``; the student's
checkpoint adds the frozen teacher, its path and the student's own noise seed.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from helpers.step_log import ENV, read_steps

from pwave.data.dataset import PreparedDataset
from pwave.models.teacher import Teacher, TeacherConfig
from pwave.serialization import safe_load
from pwave.train.cli import run_stage

ROOT = Path(__file__).resolve().parents[1]
DEBUG = str(ROOT / "pwave" / "configs" / "student" / "debug.yaml")
STEPS = 7  # past the end of the first epoch (5 batches of 2) and past two validations


@pytest.fixture(scope="module")
def teacher_file(prepared_demo, tmp_path_factory) -> Path:
    torch.manual_seed(0)
    cfg = TeacherConfig(
        features=PreparedDataset(prepared_demo).feature_config,
        upsample_factors=(8, 8), cond_channels=4, residual_channels=4, gate_channels=8,
        skip_channels=4, layers=3, kernel_size=2, mel_context_frames=1,
    )  # fmt: skip
    path = tmp_path_factory.mktemp("teacher") / "teacher.pt"
    Teacher(cfg).eval().save(path)
    return path


def _args(run_dir: Path, data: Path, teacher: Path, steps: int, *extra: str) -> list[str]:
    return [
        "--config", DEBUG,
        "--trainer.default_root_dir", str(run_dir),
        "--data.data_dir", str(data),
        "--teacher", str(teacher),
        "--trainer.max_steps", str(steps),
        "--trainer.callbacks+=helpers.step_log.StepLog",
        # the power term on (the config's 0.1 made larger): the real audio of each batch matters
        "--model.power_weight", "0.5",
        *extra,
    ]  # fmt: skip


EVERY_STEP = [
    "--trainer.callbacks+=lightning.pytorch.callbacks.ModelCheckpoint",
    "--trainer.callbacks.every_n_train_steps=1",
    "--trainer.callbacks.save_top_k=-1",
]


def test_student_resumes_exactly(prepared_demo, teacher_file, tmp_path, monkeypatch):
    def run(name: str, steps: int, *extra: str) -> dict[int, dict]:
        log = tmp_path / f"{name}-{steps}.jsonl"
        monkeypatch.setenv(ENV, str(log))
        cli = run_stage("student", _args(tmp_path / name, prepared_demo, teacher_file, steps,
                                         *extra))  # fmt: skip
        assert cli.trainer.global_step == steps
        return read_steps(log)

    per_epoch = len(PreparedDataset(prepared_demo).split("train")) // 2
    assert 2 < per_epoch < STEPS
    reference = run("reference", STEPS, *EVERY_STEP)
    assert sorted(reference) == list(range(1, STEPS + 1))
    ckpts = {int(p.stem.rsplit("step=", 1)[1]): p for p in
             (tmp_path / "reference" / "checkpoints").glob("epoch=*-step=*.ckpt")}  # fmt: skip

    def same(rows: dict[int, dict], first: int, name: str) -> None:
        assert sorted(rows) == list(range(first, STEPS + 1)), name
        for step, row in rows.items():
            ref = reference[step]
            assert (row["ids"], row["starts"]) == (ref["ids"], ref["starts"]), (name, step)
            assert row["loss"] == pytest.approx(ref["loss"], rel=1e-5, abs=1e-6), (name, step)
        final = safe_load(tmp_path / name / "student.pt")["state_dict"]
        expected = safe_load(tmp_path / "reference" / "student.pt")["state_dict"]
        assert final.keys() == expected.keys()
        for key, value in expected.items():
            torch.testing.assert_close(final[key], value, rtol=1e-5, atol=1e-6, msg=key)

    # 1. from a mid-epoch step checkpoint of the reference run
    (tmp_path / "from_2" / "checkpoints").mkdir(parents=True)
    shutil.copy(ckpts[2], tmp_path / "from_2" / "checkpoints" / "last.ckpt")
    ckpt = safe_load(ckpts[2])
    assert ckpt["global_step"] == 2 and "pwave_noise_seed" in ckpt
    assert ckpt["pwave"]["kind"] == "student" and ckpt["pwave"]["teacher_path"] == str(teacher_file)
    same(run("from_2", STEPS), 3, "from_2")

    # 2. a finished shorter run (3 steps, validated at its end) given more steps
    short = run("short", 3)
    assert [short[s]["loss"] for s in (1, 2, 3)] == pytest.approx(
        [reference[s]["loss"] for s in (1, 2, 3)], rel=1e-5
    )
    same(run("short", STEPS), 4, "short")

    # the resumed losses are not all alike: the comparison above has teeth
    assert len({round(reference[s]["loss"], 6) for s in reference}) == STEPS
