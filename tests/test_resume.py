"""Kill and resume (issue 8.1): atomic checkpoints, graceful SIGTERM, SIGKILL, exact resume.

The chain, on the tiny debug teacher (CPU):

1. an uninterrupted run of ``N`` steps records the loss and the batch of every step;
2. the same command in another folder gets ``SIGTERM`` after a few steps: it saves
   ``last.ckpt`` at the end of the step and exits with ``128 + SIGTERM``;
3. the same command again, in a subprocess, resumes from it and is ``SIGKILL``-ed once a
   newer checkpoint exists;
4. the same command once more resumes and runs to step ``N``.

Every checkpoint file must be loadable (weights-only), the step count must continue from the
newest checkpoint, and the resumed steps must see the same batches and give the same losses
(and final weights) as the uninterrupted run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from pwave.serialization import safe_load
from pwave.train.cli import main, run_stage
from pwave.train.random_state import rng_state, set_rng_state
from pwave.train.resume import SkipFirst, find_resume_checkpoint

ROOT = Path(__file__).resolve().parents[1]
DEBUG = str(ROOT / "pwave" / "configs" / "teacher" / "debug.yaml")
STEPS = 12  # N: the fixed later step both runs reach
EVERY = 2  # checkpoint interval (steps)


# A test-only callback: appends {step, loss, ids, starts} per optimizer step to a JSONL file,
# sends itself a signal at a given step, and sleeps a little when asked (so that a SIGKILL
# reliably lands mid-run).
PROBE = """
import json, os, signal, time
from lightning.pytorch.callbacks import Callback


class StepLog(Callback):
    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        row = {
            "step": int(trainer.global_step),
            "loss": float(loss),
            "ids": list(batch["id"]),
            "starts": [int(s) for s in batch["start_frame"]],
        }
        with open(os.environ["PWAVE_TEST_STEPS"], "a") as f:
            f.write(json.dumps(row) + "\\n")
        if int(os.environ.get("PWAVE_TEST_SIGNAL_AT", "0")) == trainer.global_step:
            os.kill(os.getpid(), getattr(signal, os.environ.get("PWAVE_TEST_SIGNAL", "SIGTERM")))
        time.sleep(float(os.environ.get("PWAVE_TEST_SLEEP", "0")))
"""


@pytest.fixture
def probe(tmp_path, monkeypatch):
    folder = tmp_path / "probe"
    folder.mkdir()
    (folder / "resume_probe.py").write_text(PROBE)
    monkeypatch.syspath_prepend(str(folder))
    return folder


def _args(run_dir: Path, data_dir: Path, *extra: str) -> list[str]:
    return [
        "--config",
        DEBUG,
        "--trainer.default_root_dir",
        str(run_dir),
        "--data.data_dir",
        str(data_dir),
        "--trainer.max_steps",
        str(STEPS),
        "--checkpoint_every",
        str(EVERY),
        "--trainer.callbacks+=resume_probe.StepLog",
        *extra,
    ]


def _read_steps(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _ckpt_steps(folder: Path) -> list[int]:
    out = []
    for p in folder.glob("epoch=*-step=*.ckpt"):
        out.append(int(p.stem.rsplit("step=", 1)[1]))
    return sorted(out)


def _wait_for_checkpoint(proc: subprocess.Popen, folder: Path, past: int, timeout=120.0) -> int:
    """Poll until a step checkpoint newer than ``past`` exists; return its step."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        steps = [s for s in _ckpt_steps(folder) if s > past]
        if steps:
            return steps[-1]
        if proc.poll() is not None:
            out = proc.stdout.read() if proc.stdout else ""
            pytest.fail(f"training ended (rc {proc.returncode}) before a checkpoint:\n{out}")
        time.sleep(0.05)
    proc.kill()
    pytest.fail("no checkpoint appeared in time")


def test_sigterm_sigkill_and_resume_match_an_uninterrupted_run(
    prepared_demo, probe, tmp_path, monkeypatch, capsys
):
    # 1. the uninterrupted reference
    ref_log = tmp_path / "reference.jsonl"
    monkeypatch.setenv("PWAVE_TEST_STEPS", str(ref_log))
    cli = run_stage("teacher", _args(tmp_path / "reference", prepared_demo))
    assert cli.trainer.global_step == STEPS
    reference = {row["step"]: row for row in _read_steps(ref_log)}
    assert sorted(reference) == list(range(1, STEPS + 1))

    run_dir = tmp_path / "interrupted"
    ckpt_dir = run_dir / "checkpoints"
    log = tmp_path / "interrupted.jsonl"
    args = _args(run_dir, prepared_demo)
    monkeypatch.setenv("PWAVE_TEST_STEPS", str(log))

    # 2. SIGTERM during step 3: last.ckpt at the end of that step, exit code 128 + 15
    monkeypatch.setenv("PWAVE_TEST_SIGNAL_AT", "3")
    capsys.readouterr()
    assert main("teacher", args) == 128 + signal.SIGTERM
    err = capsys.readouterr().err
    assert "received SIGTERM" in err and "run the same command again to resume" in err
    monkeypatch.delenv("PWAVE_TEST_SIGNAL_AT")
    stopped_at = _read_steps(log)[-1]["step"]
    assert stopped_at == 3
    assert safe_load(ckpt_dir / "last.ckpt")["global_step"] == stopped_at  # nothing lost
    assert find_resume_checkpoint(ckpt_dir) == ckpt_dir / "last.ckpt"
    assert not list(run_dir.rglob("*.tmp.*"))  # no temporary file left after clean writes

    # 3. resume by default (in a subprocess), SIGKILL once a newer checkpoint exists
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(probe), str(ROOT), os.environ.get("PYTHONPATH", "")]),
        "PWAVE_TEST_SLEEP": "0.2",
        "OMP_NUM_THREADS": "1",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "pwave", "train", "teacher", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    killed_after = _wait_for_checkpoint(proc, ckpt_dir, past=stopped_at)
    proc.send_signal(signal.SIGKILL)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert f"resuming from {ckpt_dir / 'last.ckpt'}" in out
    second = [r["step"] for r in _read_steps(log) if r["step"] > stopped_at]
    assert second and second[0] == stopped_at + 1  # the step count continued
    assert killed_after < STEPS

    # every checkpoint file left behind is whole and weights-only loadable
    files = sorted(ckpt_dir.glob("*.ckpt"))
    assert files
    for path in files:
        ckpt = safe_load(path)
        assert "PwaveResume" in ckpt["callbacks"] and "pwave_nonfinite_guard" in ckpt
    newest = find_resume_checkpoint(ckpt_dir)
    resume_step = safe_load(newest)["global_step"]
    assert resume_step >= killed_after  # nothing before the last checkpoint is lost

    # 4. resume (in process) and finish
    log.write_text("")
    cli = run_stage("teacher", args)
    assert cli.trainer.global_step == STEPS
    rows = _read_steps(log)
    assert [r["step"] for r in rows] == list(range(resume_step + 1, STEPS + 1))
    for row in rows:  # same batches, same losses as without interruption
        ref = reference[row["step"]]
        assert (row["ids"], row["starts"]) == (ref["ids"], ref["starts"]), row["step"]
        assert row["loss"] == pytest.approx(ref["loss"], rel=1e-5, abs=1e-6), row["step"]

    # the final weights (the exported EMA teacher) agree too
    final = safe_load(run_dir / "teacher.pt")["state_dict"]
    expected = safe_load(tmp_path / "reference" / "teacher.pt")["state_dict"]
    for name, value in expected.items():
        torch.testing.assert_close(final[name], value, rtol=1e-5, atol=1e-6, msg=name)


def test_sigint_resume_false_more_steps_and_a_mismatched_config(
    prepared_demo, probe, tmp_path, monkeypatch, capsys
):
    run_dir = tmp_path / "run"
    base = [
        "--config",
        DEBUG,
        "--trainer.default_root_dir",
        str(run_dir),
        "--data.data_dir",
        str(prepared_demo),
        "--trainer.max_steps",
        "3",
        "--model.lpc_order",
        "0",
        "--trainer.callbacks+=resume_probe.StepLog",
    ]
    monkeypatch.setenv("PWAVE_TEST_STEPS", str(tmp_path / "steps.jsonl"))
    # Ctrl-C (SIGINT) during step 2: last.ckpt at the end of it, exit code 128 + 2
    monkeypatch.setenv("PWAVE_TEST_SIGNAL", "SIGINT")
    monkeypatch.setenv("PWAVE_TEST_SIGNAL_AT", "2")
    assert main("teacher", base) == 128 + signal.SIGINT
    assert "received SIGINT" in capsys.readouterr().err
    monkeypatch.delenv("PWAVE_TEST_SIGNAL_AT")
    assert safe_load(run_dir / "checkpoints" / "last.ckpt")["global_step"] == 2
    # The same command resumes and finishes; more steps continue a finished run.
    assert run_stage("teacher", base).trainer.global_step == 3
    assert safe_load(run_dir / "checkpoints" / "last.ckpt")["global_step"] == 3  # at the end
    assert run_stage("teacher", [*base, "--trainer.max_steps", "4"]).trainer.global_step == 4
    # A checkpoint that does not fit the model is a one-line error naming the way out.
    capsys.readouterr()
    assert main("teacher", [*base, "--model.teacher.residual_channels", "4"]) == 2
    err = capsys.readouterr().err
    assert "cannot resume from" in err and "--resume false" in err
    # --resume false starts afresh in the same folder.
    fresh = run_stage("teacher", [*base, "--resume", "false", "--trainer.max_steps", "1"])
    assert fresh.trainer.global_step == 1


def test_resume_mid_epoch_at_an_epoch_end_and_after_the_end(
    prepared_demo, probe, tmp_path, monkeypatch
):
    """Deterministic positions: a checkpoint in the middle of an epoch, one at the end of an
    epoch, and the ``last.ckpt`` of a finished shorter run all continue the reference run."""
    import shutil

    from pwave.data.dataset import PreparedDataset

    per_epoch = len(PreparedDataset(prepared_demo).split("train")) // 2  # batch size 2
    steps = per_epoch + 3
    every_step = [
        "--trainer.callbacks+=lightning.pytorch.callbacks.ModelCheckpoint",
        "--trainer.callbacks.every_n_train_steps=1",
        "--trainer.callbacks.save_top_k=-1",
    ]

    def run(name: str, max_steps: int, *extra: str) -> dict[int, dict]:
        log = tmp_path / f"{name}-{max_steps}.jsonl"
        monkeypatch.setenv("PWAVE_TEST_STEPS", str(log))
        args = _args(tmp_path / name, prepared_demo, *extra)
        args += ["--trainer.max_steps", str(max_steps), "--model.lpc_order", "0"]
        assert run_stage("teacher", args).trainer.global_step == max_steps
        return {row["step"]: row for row in _read_steps(log)}

    reference = run("reference", steps, *every_step)
    ckpts = {int(p.stem.rsplit("step=", 1)[1]): p for p in
             (tmp_path / "reference" / "checkpoints").glob("epoch=*-step=*.ckpt")}  # fmt: skip
    assert sorted(ckpts) == list(range(1, steps + 1))

    def same(rows: dict[int, dict], first: int) -> None:
        assert sorted(rows) == list(range(first, steps + 1))
        for step, row in rows.items():
            ref = reference[step]
            assert (row["ids"], row["starts"]) == (ref["ids"], ref["starts"]), step
            assert row["loss"] == pytest.approx(ref["loss"], rel=1e-5, abs=1e-6), step

    for start in (2, per_epoch):  # mid-epoch, end of the first epoch
        name = f"from_{start}"
        (tmp_path / name / "checkpoints").mkdir(parents=True)
        shutil.copy(ckpts[start], tmp_path / name / "checkpoints" / "last.ckpt")
        same(run(name, steps), start + 1)
    run("short", 4)  # a finished run (stopped inside an epoch), continued with more steps
    run("short", per_epoch)  # ... to the end of the epoch, then past it
    same(run("short", steps), per_epoch + 1)


def test_skip_first_and_random_state_round_trip():
    inner = list(range(10))
    sampler = SkipFirst(inner, 4)
    assert len(sampler) == 10
    assert list(sampler) == inner[4:]
    assert list(sampler) == inner  # only the first pass skips

    import random

    import numpy as np

    torch.manual_seed(3)
    np.random.seed(3)  # noqa: NPY002 (the global state is what is under test)
    random.seed(3)
    state = rng_state()
    a = (torch.rand(3), np.random.rand(3), random.random())  # noqa: NPY002
    torch.manual_seed(99)
    set_rng_state(state)
    b = (torch.rand(3), np.random.rand(3), random.random())  # noqa: NPY002
    torch.testing.assert_close(a[0], b[0], rtol=0, atol=0)
    np.testing.assert_array_equal(a[1], b[1])
    assert a[2] == b[2]


def test_a_run_removes_the_temporaries_of_dead_writers_only(prepared_demo, tmp_path):
    """A writer killed mid-save leaves ``<name>.tmp.<pid>``; the next run removes it when that
    process is gone, and leaves the temporaries of live processes (here: our own) alone."""
    run_dir = tmp_path / "run"
    folder = run_dir / "checkpoints"
    folder.mkdir(parents=True)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    stale = folder / f"last.ckpt.tmp.{gone.pid}"
    stale.write_bytes(b"\0" * 4096)
    live = folder / f"epoch=0-step=99.ckpt.tmp.{os.getpid()}"
    live.write_bytes(b"\0")
    other = folder / "notes.tmp.txt"
    other.write_text("not a checkpoint temporary")
    args = _args(run_dir, prepared_demo, "--trainer.max_steps", "1", "--model.lpc_order", "0")
    args.remove("--trainer.callbacks+=resume_probe.StepLog")
    assert run_stage("teacher", args).trainer.global_step == 1
    assert not stale.exists()
    assert live.exists() and other.exists()
    assert (folder / "last.ckpt").is_file()


def test_a_temporary_whose_writer_we_may_not_signal_is_kept(tmp_path, monkeypatch):
    """``os.kill(pid, 0)`` raising ``PermissionError`` means the process exists (another
    user's): its temporary stays; ``ProcessLookupError`` means it is gone."""
    from pwave.train import resume

    other, gone = tmp_path / "last.ckpt.tmp.4000001", tmp_path / "last.ckpt.tmp.4000002"
    other.write_bytes(b"\0")
    gone.write_bytes(b"\0")

    def kill(pid, sig):
        assert sig == 0
        raise PermissionError if pid == 4000001 else ProcessLookupError

    monkeypatch.setattr(resume.os, "kill", kill)
    assert resume.remove_stale_temporaries(tmp_path) == [gone]
    assert other.exists() and not gone.exists()


def test_model_checkpoints_in_the_run_folder_hand_last_to_the_resume_callback(tmp_path):
    """``last.ckpt`` has one writer: a ``ModelCheckpoint`` saving ``last`` into the same folder
    stops doing so, and its interval becomes one of the resume callback's."""
    from lightning.pytorch.callbacks import ModelCheckpoint

    from pwave.train.lightning_cli import take_over_last
    from pwave.train.resume import ResumeCallback

    folder = tmp_path / "checkpoints"
    same = ModelCheckpoint(dirpath=folder, every_n_train_steps=200, save_last=True)
    implicit = ModelCheckpoint(every_n_train_steps=50, save_last="link")
    elsewhere = ModelCheckpoint(dirpath=tmp_path / "best", every_n_train_steps=7, save_last=True)
    numbered = ModelCheckpoint(dirpath=folder, every_n_train_steps=3)
    callbacks = [same, implicit, elsewhere, numbered]
    assert take_over_last(callbacks, folder) == [200, 50]
    assert [c.save_last for c in callbacks] == [False, False, True, None]
    resume = ResumeCallback(folder, every_n_steps=[1000, 200, 50])
    assert resume.every_n_steps == (50, 200, 1000)
    assert ResumeCallback(folder, every_n_steps=None).every_n_steps == ()
