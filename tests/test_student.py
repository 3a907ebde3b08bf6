"""The IAF student: parallel density vs sequential inversion, composed per-step
distribution, causality, initial scale, checkpoints."""

from __future__ import annotations

import math

import pytest
import torch
from torch.autograd.functional import jacobian

from pwave.audio.config import FeatureConfig
from pwave.models.student import Student, StudentConfig
from pwave.models.teacher import TeacherConfig

DT = torch.float64
TINY_FEATURES = FeatureConfig(
    sample_rate=8000, n_fft=64, hop_length=16, win_length=64, n_mels=8, fmax=4000.0
)


def tiny_config(base: str = "gaussian", **kw) -> StudentConfig:
    return StudentConfig(
        features=TINY_FEATURES,
        upsample_factors=(4, 4),
        cond_channels=6,
        flow_layers=kw.pop("flow_layers", (3, 2)),
        flow_cycles=kw.pop("flow_cycles", (1, 1)),
        residual_channels=8,
        gate_channels=8,
        skip_channels=8,
        kernel_size=kw.pop("kernel_size", 3),
        base=base,
        **kw,
    )


def tiny_student(base: str = "gaussian", seed: int = 0, randomise: bool = True, **kw) -> Student:
    """A float64 tiny student; ``randomise`` makes every flow's head far from identity."""
    torch.manual_seed(seed)
    student = Student(tiny_config(base, **kw)).to(DT)
    if randomise:
        g = torch.Generator().manual_seed(seed + 1)
        with torch.no_grad():
            for net in student.wavenets:
                net.head_out.weight.normal_(0.0, 0.3, generator=g)
    return student


def mel_and_noise(student: Student, batch: int = 2, frames: int = 8, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    mel = torch.randn(batch, student.features.n_mels, frames, generator=g, dtype=DT)
    z = student.noise(mel, generator=g)
    return mel, z


@pytest.mark.parametrize("base", ["gaussian", "logistic"])
def test_log_q_from_noise_matches_sequential_inversion(base):
    student = tiny_student(base)
    mel, z = mel_and_noise(student)
    audio, log_q = student.sample_and_log_prob(mel, z)
    for method in ("cached", "naive"):
        z_rec, _ = student.inverse(audio, mel, method=method)
        torch.testing.assert_close(z_rec, z, atol=1e-8, rtol=0)
        log_prob = student.log_prob(audio, mel, method=method)
        torch.testing.assert_close(log_prob, log_q.detach(), atol=1e-4, rtol=0)


def test_sequential_inversion_sees_the_audio():
    """Scoring different audio gives a different density (the check can fail)."""
    student = tiny_student()
    mel, z = mel_and_noise(student)
    audio, log_q = student.sample_and_log_prob(mel, z)
    other = audio.detach().clone()
    other[:, 40] += 0.1
    assert (student.log_prob(other, mel) - log_q).abs().max() > 1e-3


def test_composed_distribution_equals_flow_by_flow():
    student = tiny_student(flow_layers=(2, 3, 2), flow_cycles=(1, 1, 2))
    mel, z = mel_and_noise(student)
    out = student(mel, z)
    # Flow by flow with the public per-flow parameters.
    cond = student.condition(mel)
    y, logdet = z, torch.zeros(z.shape[0], dtype=DT)
    for k in range(student.num_flows):
        mu, ls = student.flow_params(k, y, cond)
        torch.testing.assert_close(ls, out.flow_log_scales[k])
        y = y * ls.exp() + mu
        logdet = logdet + ls.sum(-1)
    torch.testing.assert_close(out.audio, y)
    torch.testing.assert_close(out.audio, out.mu + z * out.log_scale.exp())
    torch.testing.assert_close(out.log_q, student.base.log_prob(z) - logdet)
    torch.testing.assert_close(out.log_scale, sum(out.flow_log_scales))


def test_composed_location_is_the_output_for_zero_noise_at_that_step():
    """mu_t depends on z_<t only, so setting z_t = 0 makes x_t = mu_t exactly."""
    student = tiny_student()
    mel, z = mel_and_noise(student)
    _, mu, log_scale = student.conditionals(mel, z)
    for t in (0, 1, 17, 100):
        z0 = z.clone()
        z0[:, t] = 0.0
        _, mu0, ls0 = student.conditionals(mel, z0)
        torch.testing.assert_close(student(mel, z0).audio[:, t], mu[:, t])
        torch.testing.assert_close(mu0[:, : t + 1], mu[:, : t + 1])
        torch.testing.assert_close(ls0[:, : t + 1], log_scale[:, : t + 1])


@pytest.mark.parametrize("base", ["gaussian", "logistic"])
def test_jacobian_is_lower_triangular_with_the_composed_scales(base):
    student = tiny_student(base)
    mel, z = mel_and_noise(student, batch=1, frames=4)
    J = jacobian(lambda v: student(mel, v.unsqueeze(0)).audio[0], z[0])  # [T, T]
    T = J.shape[0]
    upper = torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)
    assert J[upper].abs().max() == 0.0
    out = student(mel, z)
    torch.testing.assert_close(torch.diagonal(J), out.log_scale[0].exp())
    # The past does matter (the flows are not trivial).
    assert J[~upper].abs().sum() > torch.diagonal(J).abs().sum() * 1.01
    _, logabsdet = torch.linalg.slogdet(J)
    torch.testing.assert_close(logabsdet, out.log_scale[0].sum())
    # The density of the sample by change of variables.
    torch.testing.assert_close(out.log_q[0], student.base.log_prob(z)[0] - logabsdet)


def test_initial_output_has_speech_scale():
    torch.manual_seed(3)
    student = Student(tiny_config())  # float32, default (near-identity) heads
    mel = torch.randn(4, 8, 16)
    out = student(mel, student.noise(mel, generator=torch.Generator().manual_seed(4)))
    assert 0.03 < out.audio.std().item() < 0.08
    assert abs(out.log_scale.mean().item() - math.log(0.05)) < 0.1
    assert torch.isfinite(out.log_q).all()


def test_gradients_reach_every_parameter_and_the_noise():
    student = tiny_student()
    mel, z = mel_and_noise(student)
    z.requires_grad_()
    out = student(mel, z)
    (out.audio.square().sum() + out.log_q.sum()).backward()
    missing = [n for n, p in student.named_parameters() if p.grad is None or not p.grad.any()]
    assert not missing, missing
    assert z.grad is not None and torch.isfinite(z.grad).all()


def test_sample_is_reproducible_and_scales_with_temperature():
    student = tiny_student()
    mel, _ = mel_and_noise(student)
    a = student.sample(mel, generator=torch.Generator().manual_seed(5))
    b = student.sample(mel, generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(a, b)
    assert not a.requires_grad and a.shape == (2, 8 * 16)
    cold = student.sample(mel, temperature=0.0)
    _, mu, _ = student.conditionals(mel, torch.zeros_like(a))
    torch.testing.assert_close(cold, mu.detach())
    with pytest.raises(ValueError, match="z must be"):
        student.sample(mel, z=torch.zeros(2, 100, dtype=DT))


def test_save_load_round_trip(tmp_path):
    student = tiny_student("logistic", mel_context_frames=1)
    mel, _ = mel_and_noise(student, frames=10)
    z = student.noise(mel, generator=torch.Generator().manual_seed(6))
    path = tmp_path / "student.pt"
    student.save(path)
    ckpt = torch.load(path, weights_only=True)
    assert ckpt["feature_config"] == TINY_FEATURES.to_dict()
    loaded = Student.load(path).to(DT)
    assert loaded.config == student.config and not loaded.training
    torch.testing.assert_close(loaded(mel, z).audio, student(mel, z).audio)
    assert loaded(mel, z).audio.shape == (2, 8 * 16)  # context frames consumed
    torch.save({"format": "something.else"}, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="not a pwave student"):
        Student.load(tmp_path / "bad.pt")


def test_config_presets_and_validation():
    paper, demo = StudentConfig.paper(), StudentConfig.demo()
    assert paper.flow_layers == (10, 10, 10, 30) and paper.residual_channels == 64
    assert paper.base == "logistic"
    assert demo.num_flows == 4
    # The presets read the same mel as the teacher presets.
    assert paper.features == TeacherConfig.paper().features
    assert demo.features == TeacherConfig.demo().features
    assert StudentConfig.from_dict(paper.to_dict()) == paper
    student = Student(paper)
    assert [net.layers for net in student.wavenets] == [10, 10, 10, 30]
    assert student.wavenets[3].dilations[:11] == [2**i for i in range(10)] + [1]
    with pytest.raises(ValueError, match="one entry per flow"):
        tiny_config(flow_layers=(2, 2), flow_cycles=(1,))
    with pytest.raises(ValueError, match="cycles"):
        tiny_config(flow_layers=(3,), flow_cycles=(2,))
    with pytest.raises(ValueError, match="unknown student config"):
        StudentConfig.from_dict({"layers": 3})


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_student_on_cuda_matches_cpu():
    student = tiny_student()
    mel, z = mel_and_noise(student)
    ref = student(mel, z)
    gpu = student.to("cuda")
    out = gpu(mel.cuda(), z.cuda())
    torch.testing.assert_close(out.audio.cpu(), ref.audio)
    torch.testing.assert_close(out.log_q.cpu(), ref.log_q)
    log_prob = gpu.log_prob(out.audio.detach(), mel.cuda())
    torch.testing.assert_close(log_prob.cpu(), ref.log_q.detach(), atol=1e-4, rtol=0)
    g = torch.Generator(device="cuda").manual_seed(0)
    assert gpu.sample(mel.cuda(), generator=g).device.type == "cuda"
