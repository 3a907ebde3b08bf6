r"""A :class:`~pwave.nn.wavenet.WaveNet`'s weights with every constant folded in, and the
fused gated activation, for inference-only evaluation.

The reference :class:`~pwave.nn.wavenet.WaveNet` is channel-first (``[B, C, T]``) and
computes each layer as written in its docstring. :func:`fuse_wavenet` reads its effective
weights as ``[in, out]`` matrices (:class:`FusedWaveNet`) so that the same numbers come out
of fewer, larger operations; both the parallel time-major pass
(:mod:`pwave.sampling.time_major`) and the cached one-sample step
(:mod:`pwave.sampling.cuda_graph`) run on them.

* **Fused gated activation** (:func:`fused_gate`), in one of two forms, each with its
  input scaling folded into the convolution/conditioning weights and its output scaling
  into the next projections:

  - ``"tanh"``: ``sigmoid(b) = (1 + tanh(b / 2)) / 2``, so with the gate half pre-scaled by
    ``1/2`` one ``tanh`` over all ``G`` channels and one ``addcmul`` give
    ``2 tanh(a) sigmoid(b)`` (two kernels; used by the cached step and on CUDA);
  - ``"sigmoid"``: ``tanh(a) = 2 sigmoid(2 a) - 1``, so with the filter half pre-scaled by
    ``2`` one ``sigmoid`` over all channels, a subtraction and a product give
    ``tanh(a) sigmoid(b) / 2`` (on CPUs PyTorch's ``sigmoid`` is several times faster
    than its ``tanh``).
* **Fused residual and skip adds**: the residual update ``sqrt(1/2) (h + W_r g + b_r)`` is
  one in-place GEMM with ``beta = sqrt(1/2)`` (the constant folded into ``W_r``), and the
  skip sum is accumulated by the skip GEMMs themselves (``beta = 1``), with all skip biases
  summed into one vector added once; the head's ``1/sqrt(layers)`` is folded into its first
  matrix (``relu(c s) = c relu(s)`` for ``c > 0``).
* **Folded output affine**: the soft clamp of the log-scale,
  ``s = h \tanh((raw - m) / h) + m``, needs ``(raw - m) / h``; that affine map is folded into
  the last matrix (:func:`fold_output_affine`).

All of it is checked against the reference path in float64
(``tests/test_sampling_fused.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import torch
from torch import Tensor

from pwave.nn.wavenet import SQRT_HALF, WaveNet

__all__ = [
    "GATE_FORMS",
    "FusedLayer",
    "FusedWaveNet",
    "fuse_wavenet",
    "fold_output_affine",
    "fold_log_scale_bounds",
    "fused_gate",
    "gate_halves",
    "gate_into",
]


@dataclass
class FusedLayer:
    """One residual layer with every constant folded in (all matrices are ``[in, out]``).

    Attributes:
        dilation: ``d``.
        taps: ``[k, R, G]``; tap ``j`` multiplies the input at time ``t - (k - 1 - j) d``.
            The gate half (columns ``G/2:``) is pre-scaled by ``1/2``.
        bias: ``[G]`` convolution bias (gate half scaled by ``1/2``).
        cond: ``[C_cond, G]`` conditioning projection (gate half scaled) or ``None``.
        res: ``[G/2, R]`` residual projection times ``sqrt(1/2) / 2`` (``None`` for the last
            layer, which has no residual output).
        res_bias: ``[R]`` residual bias times ``sqrt(1/2)`` (``None`` for the last layer).
        skip: ``[G/2, S]`` skip projection times ``1/2``.
    """

    dilation: int
    taps: Tensor
    bias: Tensor
    cond: Tensor | None
    res: Tensor | None
    res_bias: Tensor | None
    skip: Tensor


@dataclass
class FusedWaveNet:
    """All weights of a WaveNet, folded (``[in, out]`` matrices).

    Attributes:
        input_weight: ``[C_in, R]``, input_bias: ``[R]``.
        layers: one :class:`FusedLayer` each.
        skip_bias: ``[S]`` sum of every layer's skip bias.
        head1: ``[S, S]`` first head matrix times ``1/sqrt(layers)``, head_bias1: ``[S]``.
        head2: ``[S, C_out]``, head_bias2: ``[C_out]`` (possibly with an output affine folded
            in, see :func:`fold_output_affine`).
        kernel_size, residual_channels, gate_channels, skip_channels: the architecture.
        gate: ``"tanh"`` or ``"sigmoid"``, the form of :func:`fused_gate` the weights are
            folded for.
    """

    input_weight: Tensor
    input_bias: Tensor
    layers: list[FusedLayer]
    skip_bias: Tensor
    head1: Tensor
    head_bias1: Tensor
    head2: Tensor
    head_bias2: Tensor
    kernel_size: int
    residual_channels: int
    gate_channels: int
    skip_channels: int
    gate: str = "tanh"

    @property
    def max_pad(self) -> int:
        """Rows of causal zero padding the widest layer needs, ``(k - 1) max(d)``."""
        return (self.kernel_size - 1) * max(layer.dilation for layer in self.layers)

    @property
    def receptive_field(self) -> int:
        return 1 + sum((self.kernel_size - 1) * layer.dilation for layer in self.layers)

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None):
        """A copy with every tensor moved/cast (``None`` keeps the current one)."""

        def conv(t):
            return None if t is None else t.to(device=device, dtype=dtype)

        layers = [
            replace(
                layer,
                **{
                    f.name: conv(getattr(layer, f.name))
                    for f in fields(layer)
                    if f.name != "dilation"
                },
            )
            for layer in self.layers
        ]
        tensors = {
            f.name: conv(getattr(self, f.name))
            for f in fields(self)
            if isinstance(getattr(self, f.name), Tensor)
        }
        return replace(self, layers=layers, **tensors)


def fuse_wavenet(net: WaveNet, gate: str = "tanh") -> FusedWaveNet:
    """Read ``net.effective_weights()`` (no grad, detached) and fold the constants.

    ``gate`` picks the form of :func:`fused_gate` (``"tanh"`` or ``"sigmoid"``). The result
    computes exactly ``net(x, cond)`` (see
    :func:`~pwave.sampling.time_major.wavenet_time_major`).
    """
    if gate not in GATE_FORMS:
        raise ValueError(f"unknown gate form {gate!r}; use one of {GATE_FORMS}")
    with torch.no_grad():
        w = net.effective_weights()
        R, G = net.residual_channels, net.gate_channels
        H = G // 2
        gate_scale = torch.ones(G, dtype=w.input_weight.dtype, device=w.input_weight.device)
        # input scaling of the pre-activation and output scaling of the gated activation
        if gate == "tanh":
            gate_scale[H:], out_scale = 0.5, 0.5  # gate returns 2 tanh(a) sigmoid(b)
        else:
            gate_scale[:H], out_scale = 2.0, 2.0  # gate returns tanh(a) sigmoid(b) / 2
        layers = []
        skip_bias = None
        for i, lw in enumerate(w.layers):
            last = i == len(w.layers) - 1
            taps = (lw.conv_weight * gate_scale[:, None, None]).permute(2, 1, 0).contiguous()
            cond = None
            if w.cond_weight is not None:
                cond = (w.cond_weight[i * G : (i + 1) * G] * gate_scale[:, None]).t().contiguous()
            out_w, out_b = lw.out_weight.t(), lw.out_bias  # [H, R + S], [R + S]
            if last:
                res, res_bias, skip, sb = None, None, out_w, out_b
            else:
                res = (out_w[:, :R] * (out_scale * SQRT_HALF)).contiguous()
                res_bias = (out_b[:R] * SQRT_HALF).contiguous()
                skip, sb = out_w[:, R:], out_b[R:]
            skip_bias = sb.clone() if skip_bias is None else skip_bias + sb
            layers.append(
                FusedLayer(
                    dilation=lw.dilation,
                    taps=taps.detach(),
                    bias=(lw.conv_bias * gate_scale).detach(),
                    cond=None if cond is None else cond.detach(),
                    res=None if res is None else res.detach(),
                    res_bias=None if res_bias is None else res_bias.detach(),
                    skip=(out_scale * skip).contiguous().detach(),
                )
            )
        return FusedWaveNet(
            input_weight=w.input_weight.t().contiguous().detach(),
            input_bias=w.input_bias.detach().clone(),
            layers=layers,
            skip_bias=skip_bias.detach(),
            head1=(w.head_weight1.t() * w.skip_scale).contiguous().detach(),
            head_bias1=w.head_bias1.detach().clone(),
            head2=w.head_weight2.t().contiguous().detach(),
            head_bias2=w.head_bias2.detach().clone(),
            kernel_size=net.kernel_size,
            residual_channels=R,
            gate_channels=G,
            skip_channels=net.skip_channels,
            gate=gate,
        )


def fold_output_affine(fw: FusedWaveNet, channel: int, scale: float, shift: float) -> FusedWaveNet:
    """Return a copy whose output ``channel`` is ``(y - shift) / scale`` instead of ``y``."""
    head2, bias2 = fw.head2.clone(), fw.head_bias2.clone()
    head2[:, channel] /= scale
    bias2[channel] = (bias2[channel] - shift) / scale
    return replace(fw, head2=head2, head_bias2=bias2)


def fold_log_scale_bounds(fw: FusedWaveNet, low: float, high: float) -> FusedWaveNet:
    """Fold the input map of :func:`~pwave.models.teacher.bounded_log_scale` into output 1.

    Afterwards output channel 1 is ``u = (raw - m) / h`` with ``m = (low + high) / 2`` and
    ``h = (high - low) / 2``, so the bounded log-scale is ``h tanh(u) + m``.
    """
    return fold_output_affine(fw, 1, 0.5 * (high - low), 0.5 * (low + high))


GATE_FORMS = ("tanh", "sigmoid")


def fused_gate(pre: Tensor, form: str = "tanh", out: Tensor | None = None) -> Tensor:
    r"""Fused gated activation over the last axis, ``[..., G] -> [..., G/2]``; overwrites ``pre``.

    With ``a`` the filter half and ``b`` the gate half of the reference pre-activation:

    * ``form="tanh"``, ``pre = [a, b/2]``: returns :math:`\tanh(a)(1 + \tanh(b/2))
      = 2 \tanh(a)\,\sigma(b)` (one ``tanh`` in place, one ``addcmul``);
    * ``form="sigmoid"``, ``pre = [2a, b]``: returns :math:`(\sigma(2a) - \tfrac12)\,
      \sigma(b) = \tfrac12 \tanh(a)\,\sigma(b)` (one ``sigmoid`` in place, a subtraction,
      a product).

    :func:`fuse_wavenet` folds the input scaling into the weights before and the output
    factor into the projections after.
    """
    H = pre.shape[-1] // 2
    return gate_halves(pre, pre[..., :H], pre[..., H:], form, out)


def gate_halves(pre: Tensor, f: Tensor, g: Tensor, form: str, out: Tensor | None = None) -> Tensor:
    """:func:`fused_gate` with the two halves of ``pre`` given as (precomputed) views
    ``f = pre[..., :G/2]`` and ``g = pre[..., G/2:]`` (saves view creation in tight loops)."""
    if form == "tanh":
        pre.tanh_()
        return torch.addcmul(f, f, g) if out is None else torch.addcmul(f, f, g, out=out)
    if form == "sigmoid":
        pre.sigmoid_()
        f.sub_(0.5)
        return torch.mul(f, g) if out is None else torch.mul(f, g, out=out)
    raise ValueError(f"unknown gate form {form!r}; use one of {GATE_FORMS}")


def gate_into(pre: Tensor, out: Tensor, form: str) -> None:
    """Write :func:`fused_gate` of ``pre [N, G]`` into ``out [N, G/2]`` without touching
    ``pre``; written as one expression so that ``torch.compile`` makes it one kernel."""
    H = pre.shape[-1] // 2
    f, g = pre[:, :H], pre[:, H:]
    if form == "tanh":
        out.copy_(torch.tanh(f) * (1 + torch.tanh(g)))
    elif form == "sigmoid":
        out.copy_((torch.sigmoid(f) - 0.5) * torch.sigmoid(g))
    else:
        raise ValueError(f"unknown gate form {form!r}; use one of {GATE_FORMS}")
