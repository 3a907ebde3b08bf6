"""Property tests for the pure loss functions in pwave.distill.losses."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Normal, kl_divergence

from pwave.audio.config import FeatureConfig, FeatureMismatchError
from pwave.distill.losses import (
    analytic_entropy_cross_entropy,
    contrastive_loss,
    gaussian_kl_loss,
    mc_reverse_kl,
    multi_resolution_stft_loss,
    power_loss,
)
from pwave.distill.objective import VARIANTS, distillation_loss, freeze_teacher, mismatched_mel
from pwave.distill.stft import STFTResolution, stft_magnitude
from pwave.flows.distributions import StandardLogistic, StandardNormal, gaussian_kl
from pwave.models.student import Student, StudentConfig
from pwave.models.teacher import Teacher, TeacherConfig

SMALL = (STFTResolution(64, 16, 64), STFTResolution(128, 32, 96))


def _params(shape, seed, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    mu = torch.randn(shape, generator=g, dtype=dtype)
    ls = 0.5 * torch.randn(shape, generator=g, dtype=dtype)
    return mu, ls


def test_gaussian_kl_loss_matches_torch_distributions():
    mu_q, ls_q = _params((3, 50), 0)
    mu_p, ls_p = _params((3, 50), 1)
    loss, parts = gaussian_kl_loss(mu_q, ls_q, mu_p, ls_p)
    ref = kl_divergence(Normal(mu_q, ls_q.exp()), Normal(mu_p, ls_p.exp())).mean()
    torch.testing.assert_close(loss, ref)
    reg = (ls_q - ls_p).square().mean()
    loss_reg, _ = gaussian_kl_loss(mu_q, ls_q, mu_p, ls_p, log_scale_reg_weight=4.0)
    torch.testing.assert_close(loss_reg, ref + 4.0 * reg)
    torch.testing.assert_close(parts["log_scale_reg"], reg)
    zero, _ = gaussian_kl_loss(mu_q, ls_q, mu_q, ls_q)
    assert zero.abs() < 1e-12


@pytest.mark.parametrize("base_cls", [StandardNormal, StandardLogistic])
def test_analytic_estimator_is_unbiased_for_the_kl(base_cls):
    """Entropy - MC cross-entropy vs a direct Monte Carlo estimate of the per-step KL."""
    base = base_cls().double()
    mu_q, ls_q = _params((2, 8), 2)
    mu_p, ls_p = _params((2, 8), 3)
    n = 20000
    g = torch.Generator().manual_seed(4)
    est, parts = analytic_entropy_cross_entropy(
        mu_q, ls_q, mu_p, ls_p, base, base, num_samples=n, generator=g
    )
    # Independent path: log q - log p at fresh draws from q, per element.
    eps = base.sample(n, event_shape=(2, 8), generator=g)
    x = mu_q + ls_q.exp() * eps
    diff = base.loc_scale_log_prob(x, mu_q, ls_q) - base.loc_scale_log_prob(x, mu_p, ls_p)
    ref = diff.mean()
    se = diff.mean(dim=(1, 2)).std() / math.sqrt(n)
    assert (est - ref).abs() < 6 * se + 1e-9
    if base_cls is StandardNormal:
        exact = kl_divergence(Normal(mu_q, ls_q.exp()), Normal(mu_p, ls_p.exp())).mean()
        assert (est - exact).abs() < 6 * se
        torch.testing.assert_close(parts["entropy"], Normal(mu_q, ls_q.exp()).entropy().mean())


def test_analytic_estimator_gradients_reach_both_sides():
    base = StandardNormal().double()
    mu_q, ls_q = (t.requires_grad_() for t in _params((2, 5), 5))
    mu_p, ls_p = (t.requires_grad_() for t in _params((2, 5), 6))
    loss, _ = analytic_entropy_cross_entropy(mu_q, ls_q, mu_p, ls_p, base, base, num_samples=3)
    loss.backward()
    for t in (mu_q, ls_q, mu_p, ls_p):
        assert t.grad is not None and torch.isfinite(t.grad).all() and t.grad.abs().sum() > 0


def test_mc_reverse_kl_matches_closed_form_for_independent_gaussians():
    t, b = 16, 4000
    mu_q, ls_q = _params((t,), 7)
    mu_p, ls_p = _params((t,), 8)
    g = torch.Generator().manual_seed(9)
    x = mu_q + ls_q.exp() * torch.randn(b, t, generator=g, dtype=torch.float64)
    log_q = Normal(mu_q, ls_q.exp()).log_prob(x).sum(-1)
    log_p = Normal(mu_p, ls_p.exp()).log_prob(x).sum(-1)
    loss, parts = mc_reverse_kl(log_q, log_p, num_samples_per_item=t)
    exact = kl_divergence(Normal(mu_q, ls_q.exp()), Normal(mu_p, ls_p.exp())).sum()
    se = (log_q - log_p).std() / math.sqrt(b)
    assert (parts["kl_per_item"] - exact).abs() < 4 * se
    torch.testing.assert_close(loss * t, parts["kl_per_item"])


def test_contrastive_loss_is_minus_weighted_kl():
    log_q = torch.tensor([-10.0, -12.0])
    log_p = torch.tensor([-20.0, -18.0])
    loss, parts = contrastive_loss(log_q, log_p, num_samples_per_item=4, weight=0.3)
    torch.testing.assert_close(parts["kl_mismatched"], torch.tensor(2.0))
    torch.testing.assert_close(loss, torch.tensor(-0.6))
    with pytest.raises(ValueError):
        contrastive_loss(log_q, log_p[:1], 4)


def _audio(seed, b=2, t=1024):
    g = torch.Generator().manual_seed(seed)
    return 0.1 * torch.randn(b, t, generator=g, dtype=torch.float64)


@pytest.mark.parametrize(
    "fn",
    [
        lambda a, b: power_loss(a, b, SMALL[0]),
        lambda a, b: power_loss(a, b, SMALL),
        lambda a, b: multi_resolution_stft_loss(a, b, SMALL),
    ],
    ids=["power", "power_multi", "mr_stft"],
)
def test_stft_losses_zero_iff_identical_and_finite_gradient(fn):
    x = _audio(10)
    same, _ = fn(x, x.clone())
    assert same.abs() < 1e-12
    y = _audio(11).requires_grad_()
    diff, _ = fn(y, x)
    assert diff > 0
    diff.backward()
    assert torch.isfinite(y.grad).all() and y.grad.abs().sum() > 0
    # Exact silence must not give NaN gradients (the magnitude's sqrt at zero).
    silent = torch.zeros_like(x, requires_grad=True)
    loss, _ = fn(silent, x)
    loss.backward()
    assert torch.isfinite(silent.grad).all()


def test_stft_magnitude_parseval_for_a_sinusoid():
    """A pure tone's magnitude peaks at its bin, power == magnitude ** 2."""
    sr, f0, n_fft = 1600, 200.0, 64
    t = torch.arange(1024, dtype=torch.float64) / sr
    x = torch.sin(2 * math.pi * f0 * t)[None]
    res = STFTResolution(n_fft, 16, n_fft)
    mag = stft_magnitude(x, res)
    assert mag.shape == (1, n_fft // 2 + 1, 1024 // 16 + 1)
    peak = mag[0, :, 10:-10].mean(-1).argmax().item()
    assert peak == round(f0 * n_fft / sr)
    torch.testing.assert_close(stft_magnitude(x, res, power=2.0), mag.square(), atol=1e-6, rtol=0)


# ---------------------------------------------------------------------------------------
# With the real models: a tiny student distilled from a tiny teacher
# ---------------------------------------------------------------------------------------
TINY_FEATURES = FeatureConfig(
    sample_rate=8000, n_fft=64, hop_length=16, win_length=64, n_mels=8, fmax=4000.0
)
DT = torch.float64


def tiny_teacher(base: str = "gaussian", seed: int = 10, head_std: float = 0.2) -> Teacher:
    torch.manual_seed(seed)
    cfg = TeacherConfig(
        features=TINY_FEATURES, upsample_factors=(4, 4), cond_channels=6, residual_channels=8,
        gate_channels=8, skip_channels=8, kernel_size=3, layers=3, num_flows=1, base=base,
        init_log_scale=-2.5,
    )  # fmt: skip
    teacher = Teacher(cfg).to(DT)
    with torch.no_grad():
        g = torch.Generator().manual_seed(seed + 1)
        teacher.wavenets[0].head_out.weight.normal_(0.0, head_std, generator=g)
    return freeze_teacher(teacher)


def tiny_student(base: str = "gaussian", seed: int = 20, dtype=DT, head_std: float = 0.0):
    """Tiny student; ``head_std > 0`` re-draws the output heads (far from the identity)."""
    torch.manual_seed(seed)
    cfg = StudentConfig(
        features=TINY_FEATURES, upsample_factors=(4, 4), cond_channels=6, flow_layers=(2, 2),
        flow_cycles=(1, 1), residual_channels=8, gate_channels=8, skip_channels=8, base=base,
    )  # fmt: skip
    student = Student(cfg).to(dtype)
    if head_std:
        g = torch.Generator().manual_seed(seed + 1)
        with torch.no_grad():
            for net in student.wavenets:
                net.head_out.weight.normal_(0.0, head_std, generator=g)
    return student


def batch(b=2, frames=8, seed=30, dtype=DT):
    g = torch.Generator().manual_seed(seed)
    mel = torch.randn(b, TINY_FEATURES.n_mels, frames, generator=g, dtype=dtype)
    audio = 0.1 * torch.randn(b, frames * TINY_FEATURES.hop_length, generator=g, dtype=dtype)
    return mel, audio


def test_mc_kl_and_closed_form_kl_agree_in_expectation():
    """E_q[log q - log p] == E_q[sum_t KL(q_t || p_t)] for the real student and teacher.

    Paired per sample, the difference has mean zero; also the analytic-entropy estimator.
    Both models have randomised heads so that means and scales vary along the sample (with
    these seeds, flipping the sign of the teacher's mean moves the difference by > 1000 SE,
    and shifting its log-scale by 0.05 by > 20 SE).
    """
    student, teacher = tiny_student(head_std=0.3), tiny_teacher(head_std=0.5)
    n = 400
    mel, _ = batch(b=1, frames=4)
    mel = mel.expand(n, -1, -1)
    z = student.noise(mel, generator=torch.Generator().manual_seed(31))
    with torch.no_grad():
        out = student(mel, z)
        log_p = teacher.log_prob(out.audio, mel)
        mu_p, ls_p = teacher.conditionals(out.audio, mel)
    mc = out.log_q - log_p  # [n]
    closed = gaussian_kl(out.mu, out.log_scale, mu_p, ls_p).sum(-1)  # [n]
    diff = mc - closed
    assert diff.mean().abs() < 4 * diff.std() / math.sqrt(n)
    assert closed.mean() > 1.0  # a real gap, so the comparison means something
    # The estimator functions on the same tensors.
    T = out.audio.shape[-1]
    kl_mc, parts = mc_reverse_kl(out.log_q, log_p, T)
    kl_closed, _ = gaussian_kl_loss(out.mu, out.log_scale, mu_p, ls_p)
    torch.testing.assert_close(kl_closed * T, closed.mean())
    assert (kl_mc - kl_closed).abs() * T < 4 * diff.std() / math.sqrt(n)
    kl_ae, _ = analytic_entropy_cross_entropy(
        out.mu, out.log_scale, mu_p, ls_p, student.base, teacher.base, num_samples=8,
        generator=torch.Generator().manual_seed(32),
    )  # fmt: skip
    assert (kl_ae - kl_closed).abs() * T < 4 * diff.std() / math.sqrt(n)


def _teacher_input_spy(teacher, monkeypatch):
    """Record the audio the teacher is given (kept with retain_grad) to check its gradient."""
    seen = []
    for name in ("log_prob", "conditionals"):
        original = getattr(teacher, name)

        def spy(audio, mel, *args, _original=original, **kwargs):
            audio.retain_grad()
            seen.append(audio)
            return _original(audio, mel, *args, **kwargs)

        monkeypatch.setattr(teacher, name, spy)
    return seen


@pytest.mark.parametrize("variant", VARIANTS)
def test_teacher_is_frozen_but_its_input_gets_gradient(variant, monkeypatch):
    student, teacher = tiny_student(), tiny_teacher()
    teacher.train()  # distillation_loss must switch it to eval itself
    for p in teacher.parameters():
        p.requires_grad_(True)
    before = {k: v.clone() for k, v in teacher.state_dict().items()}
    seen = _teacher_input_spy(teacher, monkeypatch)
    mel, audio = batch()
    opt = torch.optim.Adam(student.parameters(), lr=1e-2)
    loss, _ = distillation_loss(
        student, teacher, mel, audio, variant, power_weight=1.0, contrastive_weight=0.1,
        generator=torch.Generator().manual_seed(33),
    )  # fmt: skip
    opt.zero_grad()
    loss.backward()
    opt.step()
    assert not teacher.training
    assert all(p.grad is None and not p.requires_grad for p in teacher.parameters())
    for k, v in teacher.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert seen and all(a.grad is not None and a.grad.abs().sum() > 0 for a in seen)
    assert all(p.grad is not None for p in student.parameters())


@pytest.mark.parametrize(
    "variant, extra",
    [
        ("mc_kl", {}),
        ("mc_kl_analytic_entropy", {"num_cross_entropy_samples": 2}),
        ("gaussian_kl", {"log_scale_reg_weight": 4.0}),
        ("mc_kl", {"power_weight": 10.0, "stft_weight": 0.1, "contrastive_weight": 0.3}),
    ],
    ids=["mc_kl", "analytic", "gaussian_kl", "mc_kl+aux"],
)
def test_each_variant_trains_a_tiny_student(variant, extra):
    student = tiny_student(dtype=torch.float32)
    teacher = tiny_teacher().float()
    mel, audio = batch(dtype=torch.float32)
    opt = torch.optim.Adam(student.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(34)
    start = [p.detach().clone() for p in student.parameters()]
    if "stft_weight" in extra:
        extra = {**extra, "stft_resolutions": (STFTResolution(32, 8, 32), STFTResolution(64, 16))}
        extra["power_resolutions"] = STFTResolution(32, 8, 32)
    for _ in range(4):
        loss, logs = distillation_loss(student, teacher, mel, audio, variant, generator=g, **extra)
        opt.zero_grad()
        loss.backward()
        opt.step()
        assert torch.isfinite(loss)
        assert all(torch.isfinite(v) for v in logs.values()), logs
    assert all(not torch.equal(a, b) for a, b in zip(start, student.parameters()))
    expected = {"loss", "kl", "entropy", "cross_entropy", "log_scale/mean", "flow1/log_scale_std"}
    if "power_weight" in extra:
        expected |= {"power", "stft/spectral_convergence", "contrastive", "kl_mismatched"}
    assert expected <= set(logs)


def test_logs_are_consistent_and_variants_estimate_the_same_kl():
    """kl == cross_entropy - entropy for every variant; with shared noise the analytic-entropy
    estimate (16 draws per step) is close to the exact per-step Gaussian KL of the same sample
    (the high-variance single-sample mc_kl is compared in expectation above)."""
    student, teacher = tiny_student(), tiny_teacher()
    mel, audio = batch(b=64, frames=4)
    z = student.noise(mel, generator=torch.Generator().manual_seed(35))
    kls = {}
    for variant in VARIANTS:
        with torch.no_grad():
            _, logs = distillation_loss(
                student, teacher, mel, audio, variant, z=z, num_cross_entropy_samples=16,
                generator=torch.Generator().manual_seed(36),
            )  # fmt: skip
        torch.testing.assert_close(logs["kl"], logs["cross_entropy"] - logs["entropy"])
        kls[variant] = logs["kl"]
    assert (kls["mc_kl_analytic_entropy"] - kls["gaussian_kl"]).abs() < 0.02 * kls["gaussian_kl"]


def test_objective_rejects_what_it_cannot_do():
    teacher = tiny_teacher()
    mel, audio = batch()
    with pytest.raises(ValueError, match="Gaussian"):
        distillation_loss(tiny_student("logistic"), teacher, mel, audio, "gaussian_kl")
    with pytest.raises(ValueError, match="unknown distillation variant"):
        distillation_loss(tiny_student(), teacher, mel, audio, "forward_kl")
    with pytest.raises(ValueError, match="real audio"):
        distillation_loss(tiny_student(), teacher, mel, None, "mc_kl", power_weight=1.0)
    other = tiny_student()
    other.config = other.config.replace(features=TINY_FEATURES.replace(n_fft=128))
    with pytest.raises(FeatureMismatchError, match="n_fft"):
        distillation_loss(other, teacher, mel, audio, "mc_kl")


def test_mismatched_mel_pairs_every_item_with_another_mel():
    mel, _ = batch(b=3)
    wrong = mismatched_mel(mel)
    for b in range(3):
        assert not torch.equal(wrong[b], mel[b])
    single = mismatched_mel(mel[:1])
    assert single.shape == mel[:1].shape and not torch.equal(single, mel[:1])


def test_stft_of_clips_shorter_than_half_the_fft_is_zero_padded():
    """Segments of 1024 samples or fewer (the debug config's 512) meet the 2048-point
    resolution: the loss is defined (zero padding) instead of failing inside torch.stft."""
    from pwave.distill.stft import DEFAULT_RESOLUTIONS, stft_magnitude

    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 512, generator=g, dtype=torch.float64)
    for res in DEFAULT_RESOLUTIONS:
        mag = stft_magnitude(x, res)
        assert mag.shape == (2, res.n_fft // 2 + 1, 512 // res.hop_length + 1)
        assert torch.isfinite(mag).all()
    long = torch.randn(1, 4096, generator=g, dtype=torch.float64)
    reflect = torch.stft(long, 2048, 240, 1200, torch.hann_window(1200, dtype=torch.float64),
                         center=True, pad_mode="reflect", return_complex=True).abs()  # fmt: skip
    got = stft_magnitude(long, DEFAULT_RESOLUTIONS[1], eps=0.0)
    torch.testing.assert_close(got, reflect)  # long clips keep reflect padding
