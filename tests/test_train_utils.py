"""Shared training machinery: bits per sample, EMA, LR schedule, non-finite guard, LPC baseline."""

from __future__ import annotations

import math

import lightning.pytorch as pl
import numpy as np
import pytest
import torch
from scipy.signal import lfilter
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from pwave.errors import NonFiniteTrainingError
from pwave.train.baseline import fit_lpc
from pwave.train.defaults import DEFAULTS, FLOW_TRAINING_ARGS
from pwave.train.ema import EMA
from pwave.train.flow_module import FlowTrainingModule
from pwave.train.nonfinite import NonFiniteGuard
from pwave.train.schedule import lr_factor
from pwave.units import BIN_WIDTH_16BIT, bits_per_sample

# --- bits per sample -------------------------------------------------------------------------


def test_bits_per_sample_reference_points():
    T = 1000
    # The uniform density on [-1, 1] (p = 1/2 per sample) is 16 bits: every bin equally likely.
    uniform = torch.tensor([T * math.log(0.5)], dtype=torch.float64)
    assert bits_per_sample(uniform, T).item() == pytest.approx(16.0, abs=1e-12)
    # A density of 1/bin-width puts probability ~1 on one bin: 0 bits.
    one_bin = torch.tensor(-T * math.log(BIN_WIDTH_16BIT), dtype=torch.float64)
    assert bits_per_sample(one_bin, T).item() == pytest.approx(0.0, abs=1e-9)


def test_bits_per_sample_matches_bin_probability():
    g = torch.Generator().manual_seed(0)
    log_p = torch.randn(5, generator=g, dtype=torch.float64) * 100.0
    T = 37
    # Probability of the bin = density * bin width, per sample; bits = -log2 of it.
    p_bin_per_sample = torch.exp(log_p / T) * (2.0 / 65536.0)
    expected = -torch.log2(p_bin_per_sample)
    got = bits_per_sample(log_p, T)
    assert got.dtype == torch.float64
    torch.testing.assert_close(got, expected)


def test_bits_per_sample_promotes_half_and_rejects_bad_length():
    assert bits_per_sample(torch.tensor([-1.0], dtype=torch.bfloat16), 1).dtype == torch.float32
    with pytest.raises(ValueError):
        bits_per_sample(torch.tensor(0.0), 0)


# --- EMA --------------------------------------------------------------------------------------


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))


def test_ema_update_math_without_warmup():
    net = _net()
    ema = EMA(net, decay=0.9, warmup=False)
    old = [p.detach().clone() for p in ema.module.parameters()]
    with torch.no_grad():
        for p in net.parameters():
            p.add_(1.0)
        net[1].running_mean.fill_(2.0)
        net[1].num_batches_tracked.fill_(7)
    ema.update(net)
    for e, o, p in zip(ema.module.parameters(), old, net.parameters()):
        torch.testing.assert_close(e, 0.9 * o + 0.1 * p)
    torch.testing.assert_close(ema.module[1].running_mean, torch.full((4,), 0.2))
    assert int(ema.module[1].num_batches_tracked) == 7  # integer buffers are copied
    assert int(ema.num_updates) == 1
    assert all(not p.requires_grad for p in ema.module.parameters())


def test_ema_warmup_decay_and_eval_mode():
    net = _net()
    ema = EMA(net, decay=0.999, warmup=True)
    decays = []
    for _ in range(3):
        decays.append(ema.current_decay())
        ema.update(net)
    assert decays == pytest.approx([1 / 10, 2 / 11, 3 / 12])
    ema.num_updates.fill_(100_000)
    assert ema.current_decay() == pytest.approx(0.999)
    ema.train()
    assert not ema.module.training


def test_ema_converges_to_a_constant_model():
    net = _net()
    ema = EMA(_net(), decay=0.5, warmup=False)
    with torch.no_grad():
        for p in net.parameters():
            p.fill_(3.0)
    for _ in range(60):
        ema.update(net)
    for e in ema.module.parameters():
        torch.testing.assert_close(e, torch.full_like(e, 3.0))


# --- learning-rate schedule ------------------------------------------------------------------


def test_lr_factor_warmup_then_decays():
    assert [lr_factor(s, warmup_steps=4, decay="none") for s in range(6)] == pytest.approx(
        [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    )
    # Exponential: times decay_rate every decay_steps after the warm-up.
    kw = dict(warmup_steps=10, decay="exponential", decay_steps=100, decay_rate=0.5)
    assert lr_factor(10, **kw) == pytest.approx(1.0)
    assert lr_factor(110, **kw) == pytest.approx(0.5)
    assert lr_factor(210, **kw) == pytest.approx(0.25)
    assert lr_factor(60, **kw) == pytest.approx(2**-0.5)
    # Cosine to a floor.
    kw = dict(warmup_steps=0, decay="cosine", decay_steps=100, min_ratio=0.1)
    assert lr_factor(0, **kw) == pytest.approx(1.0)
    assert lr_factor(50, **kw) == pytest.approx(0.1 + 0.9 * 0.5)
    assert lr_factor(100, **kw) == pytest.approx(0.1)
    assert lr_factor(1000, **kw) == pytest.approx(0.1)
    with pytest.raises(ValueError, match="unknown lr decay"):
        lr_factor(0, decay="linear")  # type: ignore[arg-type]


# --- the module base class: schedule, EMA and non-finite guard in a real Trainer -------------


class _Toy(FlowTrainingModule):
    """Least squares on a linear model; ``nan_at`` plants a NaN loss at those global steps."""

    stage = "toy"

    def __init__(self, nan_at=(), **kw):
        super().__init__(**kw)
        self.model = nn.Linear(2, 1)
        self.init_ema()
        self.nan_at = set(nan_at)
        self.weights_seen: list[torch.Tensor] = []

    def training_loss(self, batch):
        x, y = batch
        self.weights_seen.append(self.model.weight.detach().clone())
        loss = ((self.model(x).squeeze(-1) - y) ** 2).mean()
        if self.global_step in self.nan_at:
            loss = loss * float("nan")
        return loss, {"mse": loss.detach()}


def _loader(n=64):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 2, generator=g)
    y = x @ torch.tensor([1.5, -2.0]) + 0.3
    return DataLoader(TensorDataset(x, y), batch_size=8, shuffle=False)


def _trainer(steps, tmp_path, **kw):
    return pl.Trainer(
        max_steps=steps,
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
        **kw,
    )


def test_module_schedule_ema_and_nan_skip(tmp_path):
    torch.manual_seed(0)
    module = _Toy(nan_at={2}, lr=0.1, warmup_steps=3, lr_decay="none", ema_decay=0.5)
    lrs = []

    class RecordLR(pl.Callback):
        def on_before_optimizer_step(self, trainer, pl_module, optimizer):
            lrs.append(optimizer.param_groups[0]["lr"])

    trainer = _trainer(6, tmp_path, callbacks=[RecordLR()])
    trainer.fit(module, _loader())
    # The NaN step changed no weight: steps 2 and 3 saw the same weights.
    w = module.weights_seen
    assert torch.equal(w[2], w[3])
    assert not torch.equal(w[1], w[2]) and not torch.equal(w[3], w[4])
    assert module.guard.total == 1 and module.guard.in_a_row == 0
    assert trainer.callback_metrics["toy/nonfinite_steps"].item() == 1.0
    # Adam took one step fewer than the trainer (the skipped step left no state behind).
    opt = trainer.optimizers[0]
    assert int(opt.state[module.model.weight]["step"]) == trainer.global_step - 1
    # Linear warm-up over 3 steps, then constant.
    assert lrs[:5] == pytest.approx([0.1 / 3, 0.2 / 3, 0.1, 0.1, 0.1])
    # The EMA was updated once per taken step, and differs from the live weights.
    assert int(module.ema.num_updates) == trainer.global_step - 1
    assert torch.isfinite(module.ema.module.weight).all()
    assert not torch.equal(module.ema.module.weight, module.model.weight)


def test_module_aborts_after_too_many_nonfinite_steps(tmp_path):
    module = _Toy(nan_at=set(range(3, 100)), lr=0.01, warmup_steps=0, max_nonfinite_in_a_row=2)
    with pytest.raises(NonFiniteTrainingError, match="3 optimizer steps in a row") as err:
        _trainer(20, tmp_path).fit(module, _loader())
    assert "--model.lr" in str(err.value)
    assert module.guard.total == 3
    # No weight moved after the first NaN.
    assert torch.equal(module.weights_seen[3], module.weights_seen[-1])


def test_guard_counts_and_resets():
    guard = NonFiniteGuard(max_in_a_row=1, what="teacher")
    guard.record(True)
    guard.record(False)
    guard.record(True)
    assert (guard.total, guard.in_a_row) == (2, 1)
    with pytest.raises(NonFiniteTrainingError, match="teacher training stopped"):
        guard.record(True, step=42)


# --- LPC baseline -----------------------------------------------------------------------------


def test_lpc_recovers_ar2_coefficients():
    rng = np.random.default_rng(0)
    a1, a2, sigma = 1.6, -0.8, 0.01  # a stable resonance
    utterances = []
    for _ in range(3):
        e = rng.standard_normal(40_000) * sigma
        utterances.append(lfilter([1.0], [1.0, -a1, -a2], e))  # x_t = e_t + a1 x_t-1 + a2 x_t-2
    model = fit_lpc(utterances, order=2)
    np.testing.assert_allclose(model.coeffs, [a1, a2], atol=0.005)
    # Over-parametrised: the extra lags come out (statistically) zero.
    np.testing.assert_allclose(fit_lpc(utterances, order=4).coeffs, [a1, a2, 0, 0], atol=0.03)
    assert model.sigma == pytest.approx(sigma, rel=0.01)
    # Its bits per sample are those of the true innovation density, up to sampling noise.
    true_bits = math.log2(sigma * math.sqrt(2 * math.pi * math.e)) + 15.0
    assert model.bits_per_sample(utterances) == pytest.approx(true_bits, abs=0.01)
    # Higher order never fits the training data worse; the log-likelihood is a proper sum.
    assert fit_lpc(utterances, order=8).sigma <= model.sigma + 1e-12
    assert fit_lpc(utterances, order=1).sigma > 1.5 * model.sigma
    x = utterances[0][:50]
    e = model.residual(x)
    manual = -0.5 * np.sum(np.log(2 * np.pi * model.sigma**2) + e**2 / model.sigma**2)
    assert model.log_prob(x) == pytest.approx(manual)


# --- one set of optimiser defaults -----------------------------------------------------------


def test_stage_modules_share_one_set_of_optimisation_defaults():
    """The base module, both stage modules, the EMA and the guard default alike."""
    import inspect

    from pwave.train.student import StudentModule
    from pwave.train.teacher import TeacherModule

    base = inspect.signature(FlowTrainingModule.__init__).parameters
    names = [n for n in base if n != "self"]

    def defaults(cls) -> dict:
        params = inspect.signature(cls.__init__).parameters
        return {n: params[n].default for n in names}

    expected = defaults(FlowTrainingModule)
    assert tuple(names) == FLOW_TRAINING_ARGS
    assert expected == {n: getattr(DEFAULTS, n) for n in FLOW_TRAINING_ARGS}
    assert defaults(TeacherModule) == expected
    assert defaults(StudentModule) == expected
    assert inspect.signature(EMA).parameters["decay"].default == expected["ema_decay"]
    guard = inspect.signature(NonFiniteGuard).parameters["max_in_a_row"].default
    assert guard == expected["max_nonfinite_in_a_row"]
