"""WaveNet conditioner, incremental (cached) evaluation and the mel upsampler."""

from __future__ import annotations

import pytest
import torch
from torch.autograd.functional import jacobian

from pwave.nn.incremental import IncrementalWaveNet
from pwave.nn.upsampler import MelUpsampler, check_upsample_factors, repeat_then_smooth
from pwave.nn.wavenet import WaveNet, shift_right

DT = torch.float64


def make_net(kernel_size=3, layers=4, cycles=2, cond_channels=3, seed=0, **kw) -> WaveNet:
    """A tiny WaveNet whose output head is randomised (not near zero) so tests can fail."""
    torch.manual_seed(seed)
    net = WaveNet(
        in_channels=kw.pop("in_channels", 1),
        out_channels=kw.pop("out_channels", 2),
        residual_channels=4,
        gate_channels=6,
        skip_channels=5,
        kernel_size=kernel_size,
        layers=layers,
        cycles=cycles,
        cond_channels=cond_channels,
        **kw,
    ).to(DT)
    with torch.no_grad():
        net.head_out.weight.normal_(0.0, 0.5, generator=torch.Generator().manual_seed(seed + 1))
        net.head_hidden.bias.fill_(0.5)  # keep the tiny head's ReLUs alive
    return net


def test_dilations_and_receptive_field():
    net = WaveNet(layers=30, cycles=3, kernel_size=3)
    assert net.dilations == [2**i for i in range(10)] * 3
    assert net.receptive_field == 1 + 3 * 2 * 1023
    assert WaveNet(layers=10, cycles=1, kernel_size=2).receptive_field == 1024


@pytest.mark.parametrize("kernel_size", [2, 3])
def test_causal_with_exact_receptive_field(kernel_size):
    net = make_net(kernel_size=kernel_size, layers=4, cycles=2, cond_channels=0)
    rf = net.receptive_field
    T = rf + 6
    x = torch.randn(1, 1, T, dtype=DT, generator=torch.Generator().manual_seed(3))
    J = jacobian(lambda v: net(v)[0], x, vectorize=True)[:, :, 0, 0]  # [C_out, T_out, T_in]
    t_out, t_in = torch.meshgrid(torch.arange(T), torch.arange(T), indexing="ij")
    outside = (t_in > t_out) | (t_in < t_out - rf + 1)
    assert J[:, outside].abs().max() == 0.0
    # The current input and the oldest input in the receptive field both matter.
    assert (J[:, torch.arange(T), torch.arange(T)].abs() > 0).all()
    assert (J[:, T - 1, T - rf].abs() > 0).all()


def test_conditioning_is_causal():
    """Output t sees cond[..., :t+1] (through the hidden states of earlier steps), no future."""
    net = make_net(cond_channels=3)
    T = 9
    x = torch.randn(1, 1, T, dtype=DT)
    c = torch.randn(1, 3, T, dtype=DT)
    J = jacobian(lambda v: net(x, v)[0], c, vectorize=True)[:, :, 0].permute(
        0, 2, 1, 3
    )  # [C_out, C, T, T]
    t_out, t_in = torch.meshgrid(torch.arange(T), torch.arange(T), indexing="ij")
    assert J[:, :, t_in > t_out].abs().max() == 0.0
    assert J[:, :, t_in == t_out].abs().amax(dim=(0, 1)).min() > 0


def test_shift_right():
    x = torch.arange(1.0, 6.0).view(1, 1, 5)
    assert shift_right(x).flatten().tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert shift_right(x, 2).flatten().tolist() == [0.0, 0.0, 1.0, 2.0, 3.0]
    assert torch.equal(shift_right(x, 0), x)


@pytest.mark.parametrize(
    "kernel_size,layers,cycles,cond_channels",
    [(2, 4, 2, 3), (3, 6, 2, 3), (3, 3, 1, 0), (1, 2, 1, 2)],
)
def test_incremental_matches_parallel(kernel_size, layers, cycles, cond_channels):
    net = make_net(kernel_size, layers, cycles, cond_channels, in_channels=2, out_channels=3)
    B = 3
    T = net.receptive_field * 2 + 5  # long enough for every ring buffer to wrap around
    g = torch.Generator().manual_seed(7)
    x = torch.randn(B, 2, T, dtype=DT, generator=g)
    cond = torch.randn(B, cond_channels, T, dtype=DT, generator=g) if cond_channels else None
    with torch.no_grad():
        expected = net(x, cond)
        inc = IncrementalWaveNet(net, B)
        proj = inc.project_conditioning(cond, T)
        assert proj.shape == (T, B, layers * net.gate_channels)
        got = torch.stack([inc.step(x[:, :, t], proj[t]) for t in range(T)], dim=-1)
        torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-12)
        # reset() restarts from the zero history
        inc.reset()
        again = torch.stack([inc.step(x[:, :, t], proj[t]) for t in range(5)], dim=-1)
        torch.testing.assert_close(again, expected[..., :5], rtol=1e-10, atol=1e-12)


def test_gradients_reach_every_parameter():
    net = make_net(cond_channels=3)
    x = torch.randn(2, 1, 20, dtype=DT)
    c = torch.randn(2, 3, 20, dtype=DT)
    net(x, c).square().sum().backward()
    for name, p in net.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


def test_output_starts_near_zero_and_weight_norm_is_used():
    torch.manual_seed(0)
    net = WaveNet(residual_channels=8, gate_channels=8, skip_channels=8, layers=3, cond_channels=0)
    assert hasattr(net.dilated[0], "parametrizations")
    y = net(torch.randn(2, 1, 50))
    assert y.abs().max() < 0.1


def test_invalid_wavenet_arguments():
    with pytest.raises(ValueError, match="even"):
        WaveNet(gate_channels=7)
    with pytest.raises(ValueError, match="multiple of cycles"):
        WaveNet(layers=10, cycles=3)
    net = WaveNet(residual_channels=4, gate_channels=4, skip_channels=4, layers=2, cond_channels=3)
    with pytest.raises(ValueError, match="cond"):
        net(torch.zeros(1, 1, 5))


# --- upsampler ------------------------------------------------------------------------
def test_upsampler_factor_mismatch_names_both_numbers():
    with pytest.raises(ValueError, match=r"multiply to 128.*hop_length is 256"):
        MelUpsampler(n_mels=80, hop_length=256, upsample_factors=[16, 8])
    with pytest.raises(ValueError, match="300"):
        check_upsample_factors(300, (16, 16))
    check_upsample_factors(300, (5, 6, 10))


@pytest.mark.parametrize("context", [0, 2])
def test_upsampler_length_and_alignment(context):
    torch.manual_seed(0)
    up = MelUpsampler(
        n_mels=5, hop_length=12, upsample_factors=(3, 4), cond_channels=6, context_frames=context
    ).to(DT)
    frames = 10
    mel = torch.randn(2, 5, frames + 2 * context, dtype=DT)
    out = up(mel)
    assert out.shape == (2, 6, frames * 12)
    assert up.num_samples(mel.shape[-1]) == frames * 12
    # A mel that is constant in time upsamples to a constant (box-initialised smoothing).
    const = torch.randn(1, 5, 1, dtype=DT).expand(1, 5, frames + 2 * context)
    y = up(const)
    torch.testing.assert_close(y, y[..., :1].expand_as(y))
    # Frame f drives sample block [f * hop, (f + 1) * hop), widened by the context conv
    # (+-context frames) and by the smoothing convs (3 * 4 + 4 = 16 samples); nothing else.
    f, hop, reach = 4, 12, 16
    bumped = mel.clone()
    bumped[:, :, context + f] += 1.0
    diff = (up(bumped) - out).abs().sum(dim=(0, 1))
    assert diff[f * hop : (f + 1) * hop].min() > 0
    lo, hi = (f - context) * hop - reach, (f + 1 + context) * hop + reach
    assert diff[:lo].max() == 0 and diff[hi:].max() == 0


@pytest.mark.parametrize("factor,frames", [(1, 4), (2, 1), (3, 7), (5, 2), (16, 6)])
def test_polyphase_smoothing_equals_repeat_then_conv(factor, frames):
    """The polyphase stage agrees with the written definition, values and gradients."""
    g = torch.Generator().manual_seed(factor)
    C = 3
    conv = torch.nn.Conv1d(C, C, 2 * factor + 1, padding=factor, groups=C, padding_mode="replicate")
    conv = conv.to(DT)
    with torch.no_grad():  # random, non-symmetric taps and biases
        conv.weight.copy_(torch.randn(conv.weight.shape, generator=g, dtype=DT))
        conv.bias.copy_(torch.randn(C, generator=g, dtype=DT))
    c = torch.randn(2, C, frames, generator=g, dtype=DT, requires_grad=True)
    fast = repeat_then_smooth(c, conv, factor)
    slow = conv(torch.repeat_interleave(c, factor, dim=-1))
    torch.testing.assert_close(fast, slow, rtol=0, atol=1e-12)
    w = torch.randn(slow.shape, generator=g, dtype=DT)
    grads_fast = torch.autograd.grad((fast * w).sum(), [c, conv.weight, conv.bias])
    grads_slow = torch.autograd.grad((slow * w).sum(), [c, conv.weight, conv.bias])
    for a, b in zip(grads_fast, grads_slow):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-11)
    with pytest.raises(ValueError, match="depthwise"):
        repeat_then_smooth(c, conv, factor + 1)


def test_upsampler_rejects_too_short_mel():
    up = MelUpsampler(n_mels=5, hop_length=4, upsample_factors=(4,), context_frames=2)
    with pytest.raises(ValueError, match="context"):
        up(torch.zeros(1, 5, 4))
