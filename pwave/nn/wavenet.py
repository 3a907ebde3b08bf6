r"""The WaveNet conditioner shared by the teacher (MAF over time) and the student (IAF).

A stack of causal dilated convolutions with gated activations, residual and skip
paths, local conditioning and a small output head:

.. math::
    h^{(0)} &= W_{\text{in}} x + b_{\text{in}}, \\
    a^{(l)} &= W^{(l)}_{\text{dil}} \ast_{d_l} h^{(l)} + b^{(l)} + V^{(l)} c, \\
    g^{(l)} &= \tanh\big(a^{(l)}_{1:G/2}\big) \odot \sigma\big(a^{(l)}_{G/2:G}\big), \\
    [r^{(l)}, s^{(l)}] &= W^{(l)}_{\text{out}} g^{(l)} + b^{(l)}_{\text{out}}, \qquad
    h^{(l+1)} = \sqrt{\tfrac12}\,\big(h^{(l)} + r^{(l)}\big), \\
    y &= W_2\, \mathrm{ReLU}\Big(W_1\, \mathrm{ReLU}\big(\tfrac{1}{\sqrt{L}}
        \textstyle\sum_l s^{(l)}\big) + b_1\Big) + b_2,

where :math:`\ast_d` is a causal convolution with dilation :math:`d` (left zero padding of
``(kernel_size - 1) * d``) and :math:`c` the upsampled conditioning features.

Causality: output ``y[..., t]`` depends on ``x[..., :t+1]`` (the current step included) and on
``cond`` at ``t`` only. An autoregressive flow therefore feeds the input shifted right by one
step (:func:`shift_right`) so that its ``mu_t, log_scale_t`` depend on ``x_{<t}`` alone.

The per-layer math lives in the module-level functions :func:`gated_residual_skip` and
:func:`output_head`, which act on channel-first tensors of shape ``[B, C, T]`` (parallel pass)
or ``[B, C]`` (one time step). :class:`WaveNet` and the incremental sampler in
:mod:`pwave.nn.incremental` both call them with the weights returned by
:meth:`WaveNet.effective_weights`, so there is a single definition of a layer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.parametrizations import weight_norm as _weight_norm

SQRT_HALF = math.sqrt(0.5)


# --------------------------------------------------------------------------------------
# Weights as plain tensors (after weight normalisation), and the math of one layer
# --------------------------------------------------------------------------------------
@dataclass
class LayerWeights:
    """Effective weights of one residual layer (plain tensors, weight norm applied).

    Attributes:
        dilation: dilation of the causal convolution.
        conv_weight: ``[G, R, kernel]`` dilated convolution weight.
        conv_bias: ``[G]`` its bias.
        out_weight: ``[R + S, G/2]`` (or ``[S, G/2]`` for the last layer) fused 1x1 projection
            of the gated activation to the residual and skip paths.
        out_bias: ``[R + S]`` (or ``[S]``).
    """

    dilation: int
    conv_weight: Tensor
    conv_bias: Tensor
    out_weight: Tensor
    out_bias: Tensor


@dataclass
class WaveNetWeights:
    """All effective weights of a :class:`WaveNet` as plain tensors (1x1 convs as matrices).

    Attributes:
        input_weight: ``[R, C_in]``, input_bias: ``[R]``.
        cond_weight: ``[layers * G, C_cond]`` fused conditioning projection of all layers
            (layer ``l`` owns rows ``l*G:(l+1)*G``), or ``None`` without conditioning.
        layers: one :class:`LayerWeights` per residual layer.
        head_weight1: ``[S, S]``, head_bias1: ``[S]``, head_weight2: ``[C_out, S]``,
        head_bias2: ``[C_out]``.
        skip_scale: the constant ``1/sqrt(layers)`` applied to the summed skips.
    """

    input_weight: Tensor
    input_bias: Tensor
    cond_weight: Tensor | None
    layers: list[LayerWeights]
    head_weight1: Tensor
    head_bias1: Tensor
    head_weight2: Tensor
    head_bias2: Tensor
    skip_scale: float


def pointwise(x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    """A 1x1 convolution on ``[B, C_in, T]`` or a linear map on ``[B, C_in]``.

    ``weight`` is ``[C_out, C_in]``; returns ``[B, C_out, T]`` or ``[B, C_out]``.
    """
    if x.dim() == 3:
        return F.conv1d(x, weight.unsqueeze(-1), bias)
    return F.linear(x, weight, bias)


def gated_residual_skip(
    pre: Tensor, h: Tensor, layer: LayerWeights, residual_channels: int, last: bool
) -> tuple[Tensor | None, Tensor]:
    r"""Gated activation, fused residual/skip projection and residual update of one layer.

    Args:
        pre: ``[B, G, T]`` or ``[B, G]`` pre-activation (dilated conv + bias + conditioning).
        h: the layer input ``[B, R, T]`` or ``[B, R]``.
        layer: the layer's weights (``out_weight``/``out_bias`` are used here).
        residual_channels: ``R``.
        last: the last layer has no residual output.

    Returns:
        ``(h_next, skip)``: ``h_next = sqrt(1/2) (h + r)`` (``None`` for the last layer) and
        ``skip`` of shape ``[B, S, ...]``.
    """
    filt, gate = pre.chunk(2, dim=1)
    g = torch.tanh(filt) * torch.sigmoid(gate)
    y = pointwise(g, layer.out_weight, layer.out_bias)
    if last:
        return None, y
    res, skip = y.split([residual_channels, y.shape[1] - residual_channels], dim=1)
    return (h + res) * SQRT_HALF, skip


def output_head(skips: Tensor, w: WaveNetWeights) -> Tensor:
    """``ReLU -> 1x1 -> ReLU -> 1x1`` on the summed skips ``[B, S, ...] -> [B, C_out, ...]``."""
    y = F.relu(skips * w.skip_scale)
    y = F.relu(pointwise(y, w.head_weight1, w.head_bias1))
    return pointwise(y, w.head_weight2, w.head_bias2)


def shift_right(x: Tensor, steps: int = 1) -> Tensor:
    """Delay a signal along its last (time) axis by ``steps``, filling with zeros.

    ``[..., T] -> [..., T]`` with ``out[..., t] = x[..., t - steps]`` (zero for ``t < steps``).
    Feeding ``shift_right(x)`` to a :class:`WaveNet` makes output ``t`` depend on ``x_{<t}``.
    """
    if steps == 0:
        return x
    return F.pad(x[..., :-steps], (steps, 0))


def _maybe_wn(module: nn.Module, use: bool) -> nn.Module:
    return _weight_norm(module) if use else module


# --------------------------------------------------------------------------------------
# The module
# --------------------------------------------------------------------------------------
class WaveNet(nn.Module):
    r"""Causal dilated-convolution conditioner.

    ``[B, C_in, T]`` (and ``cond [B, C_cond, T]``) ``-> [B, C_out, T]``.

    Args:
        in_channels: channels of the (autoregressive) input signal, 1 for audio.
        out_channels: output channels, e.g. 2 for ``(mu, raw log-scale)``.
        residual_channels: ``R``, width of the residual path.
        gate_channels: ``G`` (even), width of the dilated convolution output; the gated
            activation halves it.
        skip_channels: ``S``, width of the skip path and of the output head.
        kernel_size: taps of each dilated convolution (2 or 3 are usual).
        layers: number of residual layers.
        cycles: dilation cycles; layer ``i`` has dilation ``2 ** (i % (layers // cycles))``,
            so ``layers=30, cycles=3`` gives ``1, 2, ..., 512`` three times.
        cond_channels: channels of the local conditioning input (0: unconditioned).
        use_weight_norm: weight-normalise every convolution but the last (recommended).
        output_init_scale: the last 1x1 convolution's default initialisation is multiplied by
            this and its bias zeroed, so the network starts with a near-zero output ("zero-ish";
            exactly zero would stop gradients to the rest of the network at step one).

    ``forward(x, cond)`` is causal: output ``t`` depends on ``x[..., :t+1]`` and ``cond[..., t]``.
    """

    def __init__(
        self,
        in_channels: int = 1,
        out_channels: int = 2,
        residual_channels: int = 64,
        gate_channels: int = 128,
        skip_channels: int = 64,
        kernel_size: int = 3,
        layers: int = 10,
        cycles: int = 1,
        cond_channels: int = 0,
        use_weight_norm: bool = True,
        output_init_scale: float = 1e-2,
    ):
        super().__init__()
        if gate_channels % 2:
            raise ValueError(f"gate_channels must be even, got {gate_channels}")
        if layers < 1 or cycles < 1 or layers % cycles:
            raise ValueError(f"layers={layers} must be a positive multiple of cycles={cycles}")
        if kernel_size < 1:
            raise ValueError(f"kernel_size must be >= 1, got {kernel_size}")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.residual_channels = residual_channels
        self.gate_channels = gate_channels
        self.skip_channels = skip_channels
        self.kernel_size = kernel_size
        self.layers = layers
        self.cycles = cycles
        self.cond_channels = cond_channels
        per_cycle = layers // cycles
        self.dilations: list[int] = [2 ** (i % per_cycle) for i in range(layers)]

        wn = use_weight_norm
        self.input_conv = _maybe_wn(nn.Conv1d(in_channels, residual_channels, 1), wn)
        self.dilated = nn.ModuleList(
            _maybe_wn(nn.Conv1d(residual_channels, gate_channels, kernel_size, dilation=d), wn)
            for d in self.dilations
        )
        self.out_proj = nn.ModuleList(
            _maybe_wn(
                nn.Conv1d(
                    gate_channels // 2,
                    skip_channels + (residual_channels if i < layers - 1 else 0),
                    1,
                ),
                wn,
            )
            for i in range(layers)
        )
        # Conditioning projections of all layers fused into one 1x1 conv (bias lives in the
        # dilated convs); weight norm with dim=0 normalises each output row, as if separate.
        self.cond_proj = (
            _maybe_wn(nn.Conv1d(cond_channels, layers * gate_channels, 1, bias=False), wn)
            if cond_channels > 0
            else None
        )
        self.head_hidden = _maybe_wn(nn.Conv1d(skip_channels, skip_channels, 1), wn)
        self.head_out = nn.Conv1d(skip_channels, out_channels, 1)
        with torch.no_grad():
            self.head_out.weight.mul_(output_init_scale)
            self.head_out.bias.zero_()

    @property
    def receptive_field(self) -> int:
        """Number of input steps output ``t`` sees: ``x[t - receptive_field + 1 : t + 1]``."""
        return 1 + sum((self.kernel_size - 1) * d for d in self.dilations)

    def effective_weights(self) -> WaveNetWeights:
        """The weights after weight normalisation, 1x1 convolutions as ``[out, in]`` matrices.

        Differentiable (no detach); the incremental sampler calls it under ``no_grad`` once.
        """
        layers = [
            LayerWeights(
                dilation=d,
                conv_weight=conv.weight,
                conv_bias=conv.bias,
                out_weight=proj.weight.squeeze(-1),
                out_bias=proj.bias,
            )
            for d, conv, proj in zip(self.dilations, self.dilated, self.out_proj)
        ]
        return WaveNetWeights(
            input_weight=self.input_conv.weight.squeeze(-1),
            input_bias=self.input_conv.bias,
            cond_weight=None if self.cond_proj is None else self.cond_proj.weight.squeeze(-1),
            layers=layers,
            head_weight1=self.head_hidden.weight.squeeze(-1),
            head_bias1=self.head_hidden.bias,
            head_weight2=self.head_out.weight.squeeze(-1),
            head_bias2=self.head_out.bias,
            skip_scale=1.0 / math.sqrt(self.layers),
        )

    def forward(self, x: Tensor, cond: Tensor | None = None) -> Tensor:
        """Parallel pass over a whole sequence.

        Args:
            x: ``[B, C_in, T]`` input (already shifted if the caller needs strict causality).
            cond: ``[B, C_cond, T]`` conditioning at the sample rate, or ``None`` when
                ``cond_channels == 0``.

        Returns:
            ``[B, C_out, T]``; column ``t`` depends on ``x[..., :t+1]`` and ``cond[..., t]``.
        """
        if x.dim() != 3 or x.shape[1] != self.in_channels:
            raise ValueError(f"x must be [B, {self.in_channels}, T], got {tuple(x.shape)}")
        w = self.effective_weights()
        cond_all = None
        if self.cond_channels > 0:
            if cond is None:
                raise ValueError("this WaveNet is conditioned: pass cond [B, C_cond, T]")
            if cond.shape[1] != self.cond_channels or cond.shape[-1] != x.shape[-1]:
                raise ValueError(
                    f"cond must be [B, {self.cond_channels}, {x.shape[-1]}], "
                    f"got {tuple(cond.shape)}"
                )
            cond_all = pointwise(cond, w.cond_weight, None)
        elif cond is not None:
            raise ValueError("this WaveNet has cond_channels=0 but a cond was given")

        h = pointwise(x, w.input_weight, w.input_bias)
        skips = None
        # One split up front: slicing per layer would make autograd allocate a full-size
        # zero gradient of cond_all for every layer in the backward pass.
        conds = cond_all.split(self.gate_channels, dim=1) if cond_all is not None else None
        for i, layer in enumerate(w.layers):
            pad = (self.kernel_size - 1) * layer.dilation
            pre = F.conv1d(
                F.pad(h, (pad, 0)), layer.conv_weight, layer.conv_bias, dilation=layer.dilation
            )
            if conds is not None:
                pre = pre + conds[i]
            h, skip = gated_residual_skip(
                pre, h, layer, self.residual_channels, last=i == self.layers - 1
            )
            skips = skip if skips is None else skips + skip
        return output_head(skips, w)

    def extra_repr(self) -> str:
        return (
            f"layers={self.layers}, cycles={self.cycles}, kernel_size={self.kernel_size}, "
            f"R={self.residual_channels}, G={self.gate_channels}, S={self.skip_channels}, "
            f"cond_channels={self.cond_channels}, receptive_field={self.receptive_field}"
        )
