r"""The parallel pass of a folded WaveNet in a time-major layout, and the fast one-pass
student sampler built on it.

The folded weights come from :mod:`pwave.sampling.fused`; here they are run with fewer,
larger operations than the reference channel-first pass:

* **Time-major activations** ``[T, B, C]``: a causal dilated convolution becomes ``k``
  matrix products of *contiguous row slices* of one zero-padded buffer (tap ``j`` reads the
  rows ``(k - 1 - j) d`` above), so no im2col copy is made; every product is a
  ``[T B, C_in] @ [C_in, C_out]`` GEMM, the shape BLAS and tensor cores like.
* **One GEMM per layer for residual and skip** (:class:`TimeMajorPlan`): with the residual
  stream kept rescaled by ``sqrt(2)^i`` both updates are plain accumulations, so the
  residual stream and the skip sum share one buffer and each layer updates both with a
  single GEMM whose biases ride on a column of ones.
* **No allocation per layer**: the parallel pass writes into the buffers of a
  :class:`TimeMajorWorkspace` shared by all flows of the student.

All of it is checked against the reference path in float64
(``tests/test_sampling_fused.py``). :class:`FastStudentSampler` uses it for the student's
one-pass generation, optionally in bfloat16/float16 for the conditioner networks (the flow
arithmetic stays in the noise's dtype) and optionally with its gate compiled by
``torch.compile`` (:func:`~pwave.sampling.fused.gate_into`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import torch
from torch import Tensor

from pwave.nn.wavenet import SQRT_HALF
from pwave.sampling.fused import (
    FusedWaveNet,
    fold_log_scale_bounds,
    fuse_wavenet,
    gate_halves,
    gate_into,
)

__all__ = [
    "TimeMajorLayer",
    "TimeMajorPlan",
    "TimeMajorWorkspace",
    "wavenet_time_major",
    "FastStudentSampler",
]


@dataclass
class TimeMajorLayer:
    """One layer of a :class:`TimeMajorPlan` (matrices ``[in, out]``).

    Attributes:
        dilation: ``d``.
        taps: ``[k, R, G]``, :attr:`~pwave.sampling.fused.FusedLayer.taps` times
            ``sqrt(1/2)^j``, ``j`` the layer's place in its block (it reads the rescaled
            stream, see :class:`TimeMajorPlan`).
        bias: ``[G]``; cond: ``[C_cond, G]`` or ``None`` (as in
            :class:`~pwave.sampling.fused.FusedLayer`).
        out: ``[G/2 + 1, R + S]`` (``[G/2 + 1, S]`` for the last layer): the residual and
            skip projections side by side, their biases as the last row (multiplied by a
            constant column of ones).
        restore: at the first layer of a block after the first, the factor
            ``sqrt(1/2)^block`` that turns the stream back into the true residual stream
            before the layer reads it; ``None`` elsewhere.
    """

    dilation: int
    taps: Tensor
    bias: Tensor
    cond: Tensor | None
    out: Tensor
    restore: float | None = None


@dataclass
class TimeMajorPlan:
    r"""The weights :func:`wavenet_time_major` runs, derived from a :class:`FusedWaveNet`.

    The residual stream is kept rescaled, :math:`\tilde h_i = h_i / \sqrt{1/2}^{\,j}` with
    ``j`` the layer's place in its block of ``block`` layers, so the update
    :math:`h_{i+1} = \sqrt{1/2}\,(h_i + W_r g_i + b_r)` becomes a plain accumulation
    :math:`\tilde h_{i+1} = \tilde h_i + \sqrt{1/2}^{\,-(j+1)} (W_r g_i + b_r)`, exactly like
    the skip sum. Both then live side by side in one ``[T B, R + S]`` buffer and each layer
    updates them with *one* GEMM (``beta = 1``) whose bias row rides on a column of ones
    appended to the gate output; layer ``i``'s taps carry the factor
    :math:`\sqrt{1/2}^{\,j}` back. The summed skip bias sits in layer 0's bias row. At the
    start of each block the stream is multiplied back by :math:`\sqrt{1/2}^{\,block}`
    (one small scaling per block), so it never grows by more than :math:`2^{block/2}` (16
    for the default 8); without the restart a 30-layer stack would scale it by
    :math:`2^{15}`, close to float16's largest number.
    """

    fused: FusedWaveNet
    layers: list[TimeMajorLayer]

    @classmethod
    def from_fused(cls, fw: FusedWaveNet, block: int = 8) -> TimeMajorPlan:
        if block < 1:
            raise ValueError(f"block must be >= 1, got {block}")
        layers = []
        for i, ly in enumerate(fw.layers):
            j = i % block
            skip_bias = fw.skip_bias if i == 0 else torch.zeros_like(fw.skip_bias)
            out = torch.cat([ly.skip, skip_bias[None]])
            if ly.res is not None:
                res = torch.cat([ly.res, ly.res_bias[None]]) * SQRT_HALF ** (-(j + 1))
                out = torch.cat([res, out], 1)
            layers.append(
                TimeMajorLayer(
                    dilation=ly.dilation,
                    taps=(ly.taps * SQRT_HALF**j).contiguous(),
                    bias=ly.bias,
                    cond=ly.cond,
                    out=out.contiguous(),
                    restore=SQRT_HALF**block if j == 0 and i > 0 else None,
                )
            )
        return cls(fused=fw, layers=layers)

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None):
        """A copy with every tensor moved/cast (``None`` keeps the current one)."""
        layers = [
            replace(
                ly,
                **{
                    name: None if t is None else t.to(device=device, dtype=dtype)
                    for name in ("taps", "bias", "cond", "out")
                    for t in [getattr(ly, name)]
                },
            )
            for ly in self.layers
        ]
        return TimeMajorPlan(fused=self.fused.to(device=device, dtype=dtype), layers=layers)


class TimeMajorWorkspace:
    """Reusable buffers for :func:`wavenet_time_major` (no per-layer allocation).

    Fresh multi-megabyte tensors cost page faults on every call on a CPU (a new
    ``[T B, G]`` float32 output made an ``addmm`` several times slower than writing into an
    existing one), so the sampler keeps one workspace for all of its flows.

    Args:
        pad: rows of zero causal padding above the residual stream; at least the
            :attr:`FusedWaveNet.max_pad` of every net run with it.
    """

    def __init__(self, pad: int):
        self.pad = pad
        self._key: tuple | None = None

    def buffers(self, T: int, B: int, fw: FusedWaveNet, like: Tensor) -> tuple[Tensor, ...]:
        """``(stream [pad + T, B, R + S], pre [T B, G], gated [T B, G/2 + 1])`` for these sizes;
        the padding rows of ``stream`` are zero and the last column of ``gated`` is one."""
        R, S, G = fw.residual_channels, fw.skip_channels, fw.gate_channels
        if fw.max_pad > self.pad:
            raise ValueError(f"workspace pad {self.pad} < the net's max_pad {fw.max_pad}")
        key = (T, B, R, S, G, like.dtype, like.device)
        if key != self._key:
            self._key = key
            self.stream = like.new_zeros(self.pad + T, B, R + S)
            self.pre = like.new_empty(T * B, G)
            self.gated = like.new_empty(T * B, G // 2 + 1)
            self.gated[:, -1] = 1
        return self.stream, self.pre, self.gated


def wavenet_time_major(
    net: FusedWaveNet | TimeMajorPlan,
    x: Tensor,
    cond: Tensor | None = None,
    workspace: TimeMajorWorkspace | None = None,
    gate_fn: Callable[[Tensor, Tensor, str], None] | None = None,
) -> Tensor:
    """Parallel pass in time-major layout (inference: no autograd needed).

    Args:
        net: folded weights from :func:`fuse_wavenet`, or a :class:`TimeMajorPlan` of them
            (built on the fly from the former).
        x: ``[T, B, C_in]`` input (shifted by the caller if strict causality is needed).
        cond: ``[T, B, C_cond]`` conditioning, or ``None`` for an unconditioned net.
        workspace: buffers to reuse between calls (a fresh one when ``None``).
        gate_fn: ``gate_fn(pre, out, form)`` computes the gate instead of the in-place
            eager ops (e.g. a ``torch.compile``-d :func:`gate_into`).

    Returns:
        ``[T, B, C_out]`` equal to ``net(x.permute(1, 2, 0), cond.permute(1, 2, 0))``
        permuted back (up to rounding), computed in ``x``'s dtype.

    Per layer: ``k + 1`` GEMMs into the pre-activation, the fused gate, and one GEMM that
    updates the residual stream and the skip sum together (see :class:`TimeMajorPlan`).
    """
    plan = net if isinstance(net, TimeMajorPlan) else TimeMajorPlan.from_fused(net)
    fw = plan.fused
    T, B, _ = x.shape
    N = T * B
    R, k = fw.residual_channels, fw.kernel_size
    H = fw.gate_channels // 2
    ws = workspace if workspace is not None else TimeMajorWorkspace(fw.max_pad)
    stream, pre, gated = ws.buffers(T, B, fw, x)
    P = ws.pad
    width = stream.shape[-1]
    both = stream[P:].view(N, width)  # rows P.. : [rescaled residual stream | skip sum]
    both[:, R:].zero_()
    torch.addmm(fw.input_bias, x.reshape(N, -1), fw.input_weight, out=both[:, :R])
    cond2d = None if cond is None else cond.reshape(N, -1)
    filt, gate, g = pre[:, :H], pre[:, H:], gated[:, :H]
    for layer in plan.layers:
        d = layer.dilation
        if layer.restore is not None:
            both[:, :R].mul_(layer.restore)
        if cond2d is not None:
            torch.addmm(layer.bias, cond2d, layer.cond, out=pre)
        else:
            pre.copy_(layer.bias.expand(N, -1))
        for j in range(k):
            off = (k - 1 - j) * d
            pre.addmm_(stream[P - off : P - off + T].view(N, width)[:, :R], layer.taps[j])
        if gate_fn is None:
            gate_halves(pre, filt, gate, fw.gate, out=g)
        else:
            gate_fn(pre, g, fw.gate)
        target = both if layer.out.shape[1] == width else both[:, R:]
        target.addmm_(gated, layer.out)
    y = torch.relu(both[:, R:])
    y = torch.relu_(torch.addmm(fw.head_bias1, y, fw.head1))
    return torch.addmm(fw.head_bias2, y, fw.head2).view(T, B, -1)


class FastStudentSampler:
    """One-pass student generation with the fused time-major WaveNets.

    Args:
        student: a :class:`~pwave.models.student.Student` (its weights are read now; build a
            new sampler after they change).
        dtype: compute dtype of the conditioner networks (``None``: the student's dtype);
            ``torch.bfloat16``/``torch.float16`` run the GEMMs on tensor cores on CUDA. The
            affine flow arithmetic stays in the noise's dtype.
        compile: compile the gated activation with ``torch.compile`` into one fused
            elementwise kernel per layer (the GEMMs stay in BLAS/cuBLAS; compiling the whole
            generation was slower on a CPU). The first call compiles.
        gate: form of :func:`~pwave.sampling.fused.fused_gate`; default ``"sigmoid"`` on CPU
            (faster there), ``"tanh"`` elsewhere.

    ``sampler(mel, z) -> audio [B, T]`` equals ``student.sample(mel, z)`` (float tolerance).
    """

    def __init__(
        self,
        student,
        dtype: torch.dtype | None = None,
        compile: bool = False,
        gate: str | None = None,
    ):
        self.student = student
        ref = next(student.parameters())
        if gate is None:
            gate = "sigmoid" if ref.device.type == "cpu" else "tanh"
        self.dtype = ref.dtype if dtype is None else dtype
        c = student.config
        self.half_range = 0.5 * (c.log_scale_max - c.log_scale_min)
        self.exp_centre = math.exp(0.5 * (c.log_scale_max + c.log_scale_min))
        self.plans = [
            TimeMajorPlan.from_fused(
                fold_log_scale_bounds(fuse_wavenet(net, gate), c.log_scale_min, c.log_scale_max)
            ).to(dtype=self.dtype)
            for net in student.wavenets
        ]
        self._gate_fn = torch.compile(gate_into, dynamic=False) if compile else None

    def _generate(self, cond: Tensor, z: Tensor) -> Tensor:
        """``cond [B, C, T]``, ``z [B, T]`` -> audio ``[B, T]``."""
        B = z.shape[0]
        cond_tb = cond.permute(2, 0, 1).to(self.dtype).contiguous()  # [T, B, C]
        y = z.t().contiguous()  # [T, B], flow state in the noise's dtype
        workspace = TimeMajorWorkspace(max(plan.fused.max_pad for plan in self.plans))
        for plan in self.plans:
            shifted = torch.cat([y.new_zeros(1, B), y[:-1]]).to(self.dtype).unsqueeze(-1)
            out = wavenet_time_major(plan, shifted, cond_tb, workspace, self._gate_fn)
            out = out.to(y.dtype)
            mu, u = out[..., 0], out[..., 1]
            y = torch.addcmul(
                mu, y, torch.exp(torch.tanh(u) * self.half_range), value=self.exp_centre
            )
        return y.t()

    def __call__(self, mel: Tensor, z: Tensor) -> Tensor:
        with torch.no_grad():
            cond = self.student.condition(mel)
            self.student._check_noise(z, cond)
            return self._generate(cond, z)
