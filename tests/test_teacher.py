"""The WaveNet MAF teacher: causality, densities, sampling round trips, checkpoints."""

from __future__ import annotations

import pytest
import torch
from torch.autograd.functional import jacobian

from pwave.audio.config import FeatureConfig
from pwave.models.teacher import Teacher, TeacherConfig

DT = torch.float64


HOP = 8


def tiny_config(**changes) -> TeacherConfig:
    base = dict(
        features=FeatureConfig(
            sample_rate=8000, n_fft=16, hop_length=HOP, win_length=16, n_mels=5, fmax=4000.0
        ),
        upsample_factors=(2, 4),
        mel_context_frames=1,
        cond_channels=4,
        residual_channels=6,
        gate_channels=8,
        skip_channels=6,
        kernel_size=3,
        layers=4,
        cycles=2,
        num_flows=1,
    )
    base.update(changes)
    return TeacherConfig(**base)


def make_teacher(seed: int = 0, **changes) -> Teacher:
    """A tiny float64 teacher whose output heads are randomised away from the near-identity
    initialisation (so the tests see non-trivial mu and log-scales; with 6 skip channels a
    random head can have all hidden ReLUs off, hence the positive hidden bias)."""
    torch.manual_seed(seed)
    teacher = Teacher(tiny_config(**changes)).to(DT).eval()
    g = torch.Generator().manual_seed(seed + 100)
    with torch.no_grad():
        for net in teacher.wavenets:
            net.head_out.weight.normal_(0.0, 0.3, generator=g)
            net.head_hidden.bias.fill_(0.5)  # keep the tiny head's ReLUs alive
            net.head_out.bias.add_(torch.randn(2, generator=g, dtype=DT) * 0.2)
    return teacher


def make_data(teacher: Teacher, batch: int = 2, frames: int = 3, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    ctx = teacher.config.mel_context_frames
    mel = torch.randn(batch, teacher.features.n_mels, frames + 2 * ctx, generator=g, dtype=DT)
    audio = 0.3 * torch.randn(batch, frames * HOP, generator=g, dtype=DT)
    return audio, mel


@pytest.mark.parametrize("num_flows", [1, 2])
def test_conditionals_are_strictly_causal(num_flows):
    teacher = make_teacher(num_flows=num_flows)
    audio, mel = make_data(teacher, batch=1)
    T = audio.shape[1]
    for which in (0, 1):
        J = jacobian(lambda a, w=which: teacher.conditionals(a, mel)[w][0], audio, vectorize=True)[
            :, 0
        ]
        t_out, t_in = torch.meshgrid(torch.arange(T), torch.arange(T), indexing="ij")
        assert J[t_in >= t_out].abs().max() == 0.0  # current and future samples: no effect
        assert J[t_in == t_out - 1].abs().min() > 0  # the previous sample always matters


@pytest.mark.parametrize("num_flows", [1, 2])
def test_logabsdet_matches_autograd_jacobian(num_flows):
    teacher = make_teacher(num_flows=num_flows)
    audio, mel = make_data(teacher, batch=1, frames=2)
    z, logabsdet = teacher.inverse(audio, mel)
    J = jacobian(lambda a: teacher.inverse(a, mel)[0][0], audio, vectorize=True)[:, 0]
    assert torch.allclose(torch.triu(J, diagonal=1), torch.zeros_like(J))  # triangular
    torch.testing.assert_close(logabsdet[0], torch.linalg.slogdet(J)[1])


@pytest.mark.parametrize("base", ["gaussian", "logistic"])
@pytest.mark.parametrize("num_flows", [1, 2])
def test_log_prob_equals_sum_of_per_step_densities(base, num_flows):
    teacher = make_teacher(base=base, num_flows=num_flows)
    audio, mel = make_data(teacher)
    mu, log_scale = teacher.conditionals(audio, mel)
    per_step = teacher.base.loc_scale_log_prob(audio, mu, log_scale).sum(dim=-1)
    torch.testing.assert_close(teacher.log_prob(audio, mel), per_step)


@pytest.mark.parametrize("method", ["cached", "naive"])
@pytest.mark.parametrize("num_flows", [1, 2])
def test_sampling_inverse_noise_reproduces_audio(method, num_flows):
    teacher = make_teacher(num_flows=num_flows)
    audio, mel = make_data(teacher)
    z, _ = teacher.inverse(audio, mel)
    recon = teacher.sample(mel, z=z, method=method)
    torch.testing.assert_close(recon, audio, rtol=0, atol=1e-4)
    assert (recon - audio).abs().max() < 1e-10


@pytest.mark.parametrize("kernel_size,layers,cycles", [(2, 4, 2), (3, 6, 2), (3, 3, 1)])
def test_cached_sampler_equals_naive(kernel_size, layers, cycles):
    teacher = make_teacher(kernel_size=kernel_size, layers=layers, cycles=cycles, num_flows=2)
    frames = teacher.receptive_field // HOP + 3  # longer than the receptive field
    _, mel = make_data(teacher, batch=3, frames=frames)
    z = torch.randn(3, frames * HOP, dtype=DT, generator=torch.Generator().manual_seed(5))
    cached = teacher.sample(mel, z=z, method="cached")
    naive = teacher.sample(mel, z=z, method="naive")
    assert cached.shape == (3, frames * HOP)
    torch.testing.assert_close(cached, naive, rtol=1e-9, atol=1e-10)


def test_sample_draws_noise_reproducibly_and_temperature_zero_is_the_mean_path():
    teacher = make_teacher()
    _, mel = make_data(teacher)
    a = teacher.sample(mel, generator=torch.Generator().manual_seed(0))
    b = teacher.sample(mel, generator=torch.Generator().manual_seed(0))
    assert a.dtype == DT and torch.equal(a, b)
    cold = teacher.sample(mel, temperature=0.0)
    torch.testing.assert_close(cold, teacher.sample(mel, z=torch.zeros_like(a)))
    with pytest.raises(ValueError, match="method"):
        teacher.sample(mel, method="fast")


def test_initial_log_scale_is_the_configured_one():
    torch.manual_seed(0)
    for num_flows in (1, 2):
        teacher = Teacher(tiny_config(init_log_scale=-3.0, num_flows=num_flows)).to(DT)
        audio, mel = make_data(teacher)
        _, log_scale = teacher.conditionals(audio, mel)
        assert (log_scale + 3.0).abs().max() < 0.1


def test_log_scale_respects_bounds():
    teacher = make_teacher(log_scale_min=-4.0, log_scale_max=1.0)
    with torch.no_grad():
        for net in teacher.wavenets:
            net.head_out.bias[1] = -1e3
    audio, mel = make_data(teacher)
    _, log_scale = teacher.conditionals(audio, mel)
    assert log_scale.min() >= -4.0 and log_scale.max() <= 1.0


def test_dequantization_adds_one_16bit_bin_of_noise():
    teacher = make_teacher()
    audio, mel = make_data(teacher)
    clean = teacher.log_prob(audio, mel)
    assert torch.equal(clean, teacher.log_prob(audio, mel, dequantize=False))
    g = torch.Generator().manual_seed(3)
    noisy = teacher.log_prob(audio, mel, dequantize=True, generator=g)
    u = torch.rand(audio.shape, generator=torch.Generator().manual_seed(3), dtype=DT)
    by_hand = teacher.log_prob(audio + (u - 0.5) * 2.0 / 65536, mel, dequantize=False)
    torch.testing.assert_close(noisy, by_hand)
    assert not torch.equal(noisy, clean)
    teacher.train()  # training mode dequantises by default
    assert not torch.equal(teacher.log_prob(audio, mel), clean)


def test_gradients_reach_every_parameter():
    teacher = make_teacher(num_flows=2)
    audio, mel = make_data(teacher)
    teacher.log_prob(audio, mel).sum().backward()
    for name, p in teacher.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


def test_save_load_round_trip(tmp_path):
    teacher = make_teacher(base="logistic", num_flows=2)
    audio, mel = make_data(teacher)
    path = tmp_path / "teacher.pt"
    teacher.save(path)
    raw = torch.load(path, weights_only=True)
    assert raw["feature_config"] == teacher.features.to_dict()
    loaded = Teacher.load(path)
    assert loaded.config == teacher.config
    assert loaded.features == teacher.features
    torch.testing.assert_close(
        loaded.log_prob(audio, mel), teacher.log_prob(audio, mel), rtol=0, atol=0
    )


def test_config_dict_round_trip_and_validation():
    cfg = tiny_config(num_flows=2)
    assert TeacherConfig.from_dict(cfg.to_dict()) == cfg
    assert Teacher.from_config_dict(cfg.to_dict()).config == cfg
    with pytest.raises(ValueError, match="bogus"):
        TeacherConfig.from_dict({**cfg.to_dict(), "bogus": 1})
    with pytest.raises(ValueError, match=r"multiply to 16.*hop_length is 8"):
        tiny_config(upsample_factors=(4, 4))
    with pytest.raises(ValueError, match="base"):
        tiny_config(base="laplace")


def test_length_mismatch_is_a_clear_error():
    teacher = make_teacher()
    audio, mel = make_data(teacher, frames=3)
    with pytest.raises(ValueError, match=f"{3 * HOP - 1} samples"):
        teacher.log_prob(audio[:, :-1], mel)


def test_presets():
    demo, paper = TeacherConfig.demo(), TeacherConfig.paper()
    assert demo.features.sample_rate == 16000 and demo.features.hop_length == 256
    assert paper.features.sample_rate == 24000 and paper.layers == 30 and paper.cycles == 3
    torch.manual_seed(0)
    assert Teacher(demo).receptive_field >= 1000
    assert Teacher(paper).receptive_field == 1 + 3 * 2 * 1023
