"""Multi-process training (issue 8.5): two DDP processes on CPU (gloo), teacher and student.

Each job runs ``python -m pwave train <stage> --trainer.devices 2 --trainer.strategy ddp`` with
a test-only probe (``--trainer.callbacks+=ddp_probe.Probe``) that, in every process,

* records through a Python audit hook every file opened for writing (or renamed into place)
  under the run folder, and
* at the end of training writes a SHA-256 of the LightningModule's state dict (weights and
  EMA) to a file outside the run folder.

Both ranks must end with identical weights, rank 0 must have written the checkpoints, the
TensorBoard events and the export, and rank 1 must have written nothing in the run folder.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from pwave.data.dataset import PreparedDataset
from pwave.models.teacher import Teacher, TeacherConfig
from pwave.serialization import safe_load

ROOT = Path(__file__).resolve().parents[1]

PROBE = """
import atexit, hashlib, json, os, sys
from pathlib import Path

from lightning.pytorch.callbacks import Callback

RUN_DIR = os.path.realpath(os.environ["PWAVE_TEST_RUN_DIR"])
OUT = Path(os.environ["PWAVE_TEST_PROBE_OUT"])
WRITES = []
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC


def _inside(path):
    try:
        real = os.path.realpath(os.fsdecode(path))
    except (TypeError, ValueError):
        return None
    return real if real.startswith(RUN_DIR + os.sep) else None


def _audit(event, args):
    if event == "open":
        path, mode, flags = args
        writes = (mode is not None and any(c in mode for c in "wax+")) or (
            mode is None and isinstance(flags, int) and flags & WRITE_FLAGS
        )
        real = _inside(path) if writes and not isinstance(path, int) else None
        if real:
            WRITES.append(real)
    elif event == "os.rename":
        real = _inside(args[1])
        if real:
            WRITES.append(real)


sys.addaudithook(_audit)
RANK = {"rank": int(os.environ.get("LOCAL_RANK", "0"))}


@atexit.register
def _dump():
    OUT.mkdir(parents=True, exist_ok=True)
    record = {"pid": os.getpid(), "rank": RANK["rank"], "writes": sorted(set(WRITES))}
    (OUT / f"writes-{os.getpid()}.json").write_text(json.dumps(record))


class Probe(Callback):
    def setup(self, trainer, pl_module, stage):
        RANK["rank"] = trainer.global_rank

    def on_train_end(self, trainer, pl_module):
        h = hashlib.sha256()
        for name, value in sorted(pl_module.state_dict().items()):
            h.update(name.encode())
            h.update(value.detach().cpu().contiguous().numpy().tobytes())
        record = {
            "rank": trainer.global_rank,
            "world_size": trainer.world_size,
            "step": trainer.global_step,
            "sha256": h.hexdigest(),
        }
        OUT.mkdir(parents=True, exist_ok=True)
        (OUT / f"digest-{trainer.global_rank}.json").write_text(json.dumps(record))
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch(stage: str, run_dir: Path, probe_dir: Path, data: Path, *extra: str):
    out = probe_dir / f"out-{stage}"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            [str(probe_dir), str(ROOT), os.environ.get("PYTHONPATH", "")]
        ),
        "PWAVE_TEST_RUN_DIR": str(run_dir),
        "PWAVE_TEST_PROBE_OUT": str(out),
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(_free_port()),
        "OMP_NUM_THREADS": "1",
    }
    for key in ("LOCAL_RANK", "NODE_RANK", "WORLD_SIZE", "GLOBAL_RANK"):
        env.pop(key, None)
    cmd = [
        sys.executable,
        "-m",
        "pwave",
        "train",
        stage,
        "--config",
        str(ROOT / "pwave" / "configs" / stage / "debug.yaml"),
        "--trainer.default_root_dir",
        str(run_dir),
        "--data.data_dir",
        str(data),
        "--trainer.accelerator",
        "cpu",
        "--trainer.devices",
        "2",
        "--trainer.strategy",
        "ddp",
        "--checkpoint_every",
        "2",
        "--trainer.callbacks+=ddp_probe.Probe",
        *extra,
    ]
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    return proc, out


def _check(stage: str, proc, out: Path, run_dir: Path, steps: int) -> None:
    log, _ = proc.communicate(timeout=240)
    assert proc.returncode == 0, log[-4000:]
    digests = [json.loads((out / f"digest-{r}.json").read_text()) for r in (0, 1)]
    assert [d["world_size"] for d in digests] == [2, 2]
    assert [d["step"] for d in digests] == [steps, steps]
    assert digests[0]["sha256"] == digests[1]["sha256"], "ranks ended with different weights"

    records = [json.loads(p.read_text()) for p in out.glob("writes-*.json")]
    assert sorted(r["rank"] for r in records) == [0, 1], records
    by_rank = {r["rank"]: [Path(w) for w in r["writes"]] for r in records}
    assert by_rank[1] == [], f"rank 1 wrote {by_rank[1]}"
    wrote = {p.relative_to(run_dir.resolve()).as_posix() for p in by_rank[0]}
    assert "checkpoints/last.ckpt" in wrote and f"{stage}.pt" in wrote
    assert any(w.startswith("events.out.tfevents") for w in wrote)
    assert "config.yaml" in wrote
    # What is in the folder was written by rank 0 (one TensorBoard event file, no stray files).
    on_disk = {p.relative_to(run_dir).as_posix() for p in run_dir.rglob("*") if p.is_file()}
    assert on_disk <= wrote | {w.split(".tmp.")[0] for w in wrote}
    assert len([p for p in on_disk if p.startswith("events.out.tfevents")]) == 1
    for ckpt in run_dir.glob("checkpoints/*.ckpt"):
        assert safe_load(ckpt)["global_step"] in (2, steps)


@pytest.fixture(scope="module")
def ddp_jobs(prepared_demo, tmp_path_factory):
    """Launch the teacher and the student jobs side by side (each is two processes)."""
    root = tmp_path_factory.mktemp("ddp")
    probe_dir = root / "probe"
    probe_dir.mkdir()
    (probe_dir / "ddp_probe.py").write_text(PROBE)
    torch.manual_seed(0)
    teacher_file = root / "teacher.pt"
    cfg = TeacherConfig(
        features=PreparedDataset(prepared_demo).feature_config,
        upsample_factors=(8, 8),
        cond_channels=4,
        residual_channels=4,
        gate_channels=8,
        skip_channels=4,
        layers=2,
        kernel_size=2,
        mel_context_frames=1,
    )
    Teacher(cfg).save(teacher_file)
    jobs = {
        "teacher": (root / "teacher_run", 4, ("--model.lpc_order", "0")),
        "student": (root / "student_run", 3, ("--teacher", str(teacher_file))),
    }
    launched = {
        stage: (*_launch(stage, run_dir, probe_dir, prepared_demo, *extra), run_dir, steps)
        for stage, (run_dir, steps, extra) in jobs.items()
    }
    yield launched
    for proc, *_ in launched.values():
        if proc.poll() is None:
            proc.kill()


@pytest.mark.parametrize("stage", ["teacher", "student"])
def test_two_cpu_processes_agree_and_only_rank_zero_writes(ddp_jobs, stage):
    proc, out, run_dir, steps = ddp_jobs[stage]
    _check(stage, proc, out, run_dir, steps)
