r"""Fused, inference-only evaluation of a :class:`~pwave.nn.wavenet.WaveNet` in a
time-major layout, and a fast parallel sampler for the student built on it.

The reference :class:`~pwave.nn.wavenet.WaveNet` is channel-first (``[B, C, T]``) and
computes each layer as written in its docstring. Here the same numbers are produced with
fewer, larger operations:

* **Time-major activations** ``[T, B, C]``: a causal dilated convolution becomes ``k``
  matrix products of *contiguous row slices* of one zero-padded buffer (tap ``j`` reads the
  rows ``(k - 1 - j) d`` above), so no im2col copy is made; every product is a
  ``[T B, C_in] @ [C_in, C_out]`` GEMM, the shape BLAS and tensor cores like.
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
  matrix (``relu(c s) = c relu(s)`` for ``c > 0``). That is the form of
  :class:`FusedWaveNet`, which the cached step uses. The parallel pass goes one step
  further (:class:`TimeMajorPlan`): with the residual stream kept rescaled by
  ``sqrt(2)^i`` both updates are plain accumulations, so the residual stream and the skip
  sum share one buffer and each layer updates both with a single GEMM whose biases ride on
  a column of ones.
* **No allocation per layer**: the parallel pass writes into the buffers of a
  :class:`TimeMajorWorkspace` shared by all flows of the student.
* **Folded output affine**: the soft clamp of the log-scale,
  ``s = h \tanh((raw - m) / h) + m``, needs ``(raw - m) / h``; that affine map is folded into
  the last matrix (:func:`fold_output_affine`).

All of it is checked against the reference path in float64 (``tests/test_bench.py``).
:class:`FastStudentSampler` uses it for the student's one-pass generation, optionally in
bfloat16/float16 for the conditioner networks (the flow arithmetic stays in the noise's
dtype) and optionally with its gate compiled by ``torch.compile``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, fields, replace

import torch
from torch import Tensor

from pwave.nn.wavenet import SQRT_HALF, WaveNet

__all__ = [
    "FusedLayer",
    "FusedWaveNet",
    "fuse_wavenet",
    "fold_output_affine",
    "fold_log_scale_bounds",
    "fused_gate",
    "gate_halves",
    "gate_into",
    "wavenet_time_major",
    "TimeMajorPlan",
    "TimeMajorLayer",
    "TimeMajorWorkspace",
    "FastStudentSampler",
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
    """All weights of a WaveNet, folded for :func:`wavenet_time_major` (``[in, out]`` matrices).

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
    computes exactly ``net(x, cond)`` (see :func:`wavenet_time_major`).
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


@dataclass
class TimeMajorLayer:
    """One layer of a :class:`TimeMajorPlan` (matrices ``[in, out]``).

    Attributes:
        dilation: ``d``.
        taps: ``[k, R, G]``, :attr:`FusedLayer.taps` times ``sqrt(1/2)^j``, ``j`` the
            layer's place in its block (it reads the rescaled stream, see
            :class:`TimeMajorPlan`).
        bias: ``[G]``; cond: ``[C_cond, G]`` or ``None`` (as in :class:`FusedLayer`).
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
        gate: form of :func:`fused_gate`; default ``"sigmoid"`` on CPU (faster there),
            ``"tanh"`` elsewhere.

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
