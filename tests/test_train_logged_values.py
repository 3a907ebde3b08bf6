"""Logged numbers are the right numbers, not just present: the dev metrics in TensorBoard
equal what the EMA model gives on the dev set, computed here from the model directly (and
differ from what the live weights give, so that the comparison can fail).

Both debug runs validate once, after their last optimizer step, so the EMA that was
validated is the one the module holds at the end.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from pwave.data.dataset import PreparedDataset
from pwave.distill.objective import distillation_loss
from pwave.models.likelihood import DRAWS, SEED
from pwave.models.teacher import Teacher, TeacherConfig
from pwave.train.cli import run_stage
from pwave.units import BIN_WIDTH_16BIT

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "pwave" / "configs"
LN2 = math.log(2.0)


def _logged(run_dir: Path, tag: str) -> list[tuple[int, float]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run_dir))
    events.Reload()
    return [(e.step, e.value) for e in events.Scalars(tag)]


def _dev_batches(cli):
    return list(cli.datamodule.val_dataloader())


def _real_length(audio: torch.Tensor, hop: int, given=None) -> int:
    """The batch's own count when it gives one, else the row less the exact zeros that pad
    its last frame (at most ``hop - 1``)."""
    if given is not None:
        return int(given)
    nonzero = torch.nonzero(audio).flatten()
    last = int(nonzero[-1]) + 1 if nonzero.numel() else 0
    return max(last, audio.shape[-1] - hop + 1)


def _teacher_dev_bits(model: Teacher, batches, draws: int = DRAWS) -> float:
    """Bits per 16-bit sample over every dev item (``docs/likelihood.md``): draw ``k`` adds
    ``(rand(T) - 1/2) * 2/65536`` from ``Generator().manual_seed(SEED + k)``, the per-step
    log-densities are averaged over the draws and summed over the item's real samples."""
    bits = []
    hop = model.features.hop_length
    with torch.no_grad():
        for batch in batches:
            audio, mel = batch["audio"].double(), batch["mel"].double()
            T = audio.shape[-1]
            lp = torch.zeros_like(audio)
            for k in range(max(draws, 1)):
                g = torch.Generator().manual_seed(SEED + k)
                u = (torch.rand(T, generator=g, dtype=torch.float64) - 0.5) * BIN_WIDTH_16BIT
                x = audio + u if draws else audio
                mu, log_scale = model.conditionals(x, mel)
                lp += model.base.loc_scale_log_prob(x, mu, log_scale) / max(draws, 1)
            given = batch.get("num_samples")
            for i in range(audio.shape[0]):
                n = _real_length(audio[i], hop, None if given is None else given[i])
                bits.append(-(float(lp[i, :n].sum()) / n + math.log(BIN_WIDTH_16BIT)) / LN2)
    return float(np.mean(bits))


def test_teacher_dev_bits_are_the_ema_teachers(prepared_demo, tmp_path):
    run_dir = tmp_path / "teacher"
    args = ["--config", str(CONFIGS / "teacher" / "debug.yaml")]
    args += ["--trainer.default_root_dir", str(run_dir), "--data.data_dir", str(prepared_demo)]
    args += ["--model.lpc_order", "0"]
    cli = run_stage("teacher", args)
    ((_, logged),) = _logged(run_dir, "teacher/dev_bits_per_sample")  # once, at the end

    batches = _dev_batches(cli)
    ema = cli.model.ema.module.double().eval()
    live = cli.model.model.double().eval()
    expected = _teacher_dev_bits(ema, batches)
    assert logged == pytest.approx(expected, rel=1e-5)
    # what the live weights would have logged is far enough away to be told apart
    assert abs(_teacher_dev_bits(live, batches) - expected) > 1e-3
    ((_, nll),) = _logged(run_dir, "teacher/dev_nll")
    assert (nll - math.log(BIN_WIDTH_16BIT)) / LN2 == pytest.approx(logged, rel=1e-5)


def test_student_dev_kl_is_the_ema_students(prepared_demo, tmp_path):
    torch.manual_seed(0)
    cfg = TeacherConfig(
        features=PreparedDataset(prepared_demo).feature_config,
        upsample_factors=(8, 8), cond_channels=4, residual_channels=4, gate_channels=8,
        skip_channels=4, layers=3, kernel_size=2, mel_context_frames=1,
    )  # fmt: skip
    teacher_path = tmp_path / "teacher.pt"
    Teacher(cfg).eval().save(teacher_path)
    run_dir = tmp_path / "student"
    args = ["--config", str(CONFIGS / "student" / "debug.yaml"), "--teacher", str(teacher_path)]
    args += ["--trainer.default_root_dir", str(run_dir), "--data.data_dir", str(prepared_demo)]
    args += ["--model.sample_seconds", "0"]
    cli = run_stage("student", args)
    logged = {tag: _logged(run_dir, f"student/{tag}") for tag in ("dev_kl", "dev_power")}
    assert all(len(v) == 1 for v in logged.values()), logged

    module = cli.model
    batches = _dev_batches(cli)

    def dev(student) -> dict[str, float]:
        sums, count = {"kl": 0.0, "power": 0.0}, 0
        with torch.no_grad():
            for i, batch in enumerate(batches):
                g = torch.Generator().manual_seed(7919 * (i + 1))
                _, logs = distillation_loss(
                    student, module.teacher, batch["mel"], batch["audio"], module.variant,
                    generator=g, **module.loss_kwargs,
                )  # fmt: skip
                n = batch["audio"].shape[0]
                sums = {k: sums[k] + n * float(logs[k]) for k in sums}
                count += n
        return {k: v / count for k, v in sums.items()}

    expected = dev(module.ema.module.eval())
    for key in ("kl", "power"):
        assert logged[f"dev_{key}"][0][1] == pytest.approx(expected[key], rel=1e-4), key
    live = dev(module.model.eval())
    assert abs(live["kl"] - expected["kl"]) > 1e-3 * abs(expected["kl"])
