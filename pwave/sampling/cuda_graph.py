r"""An allocation-free cached teacher step on static buffers, replayable as a CUDA graph.

The cached ("Fast WaveNet") sampler of :mod:`pwave.nn.incremental` costs ``O(layers)``
small operations per sample; at batch 1 its time is spent launching them. Here one
generation step -- every flow, every layer, the output head and the affine map -- reads and
writes only tensors allocated once, and finds the current time in a device tensor, so the
step can be **captured once** in a ``torch.cuda.CUDAGraph`` and **replayed once per
sample** (one launch instead of a few hundred).

Layout (per flow, ``L`` layers, kernel ``k``, ``R`` residual channels, batch ``B``):

* ``taps [L, B, k, R]``: the ``k`` inputs each layer's dilated convolution reads now; the
  last tap (``k - 1``) is the current input, written directly by the previous layer's
  residual GEMM, the others are gathered from the ring buffer at the start of the step.
* ``ring [B, sum_l L_l, R]``: every layer's past inputs, ``L_l = (k - 1) d_l + 1`` slots
  each; the current inputs of all layers are written back in one ``index_copy_`` at the end.
* ``idx [k, L]``: ring slots of every tap of every layer for the current time, computed in
  place from the time counter (row ``k - 1`` is the write position).
* Biases enter the GEMMs through a constant column of ones appended to the gated
  activation and to the skip/hidden vectors (``[g, 1] @ [[W], [b]]``), so each residual or
  skip update is exactly one ``addmm`` (see :mod:`pwave.sampling.fused` for the other folds).

Whole-utterance buffers ``z [T, B]``, the projected conditioning ``[T, B, L G]`` and the
output ``audio [T, B]`` are filled once per utterance (copy-in), the graph is replayed
``T`` times, and the audio is copied out.

Capture is abstracted by :func:`capture_step`: ``mode="cuda"`` records a real CUDA graph,
``mode="eager"`` returns a :class:`FakeGraph` whose ``replay()`` simply calls the step. The
fake graph exercises the same static buffers, copy-in, per-sample replay and copy-out on any
device, which is how the logic is tested on a CPU.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from pwave.nn.wavenet import SQRT_HALF
from pwave.sampling.fused import FusedWaveNet, fold_log_scale_bounds, fuse_wavenet, gate_halves

if TYPE_CHECKING:
    from pwave.models.teacher import Teacher

__all__ = ["StaticCachedWaveNet", "FakeGraph", "capture_step", "GraphTeacherSampler"]


class StaticCachedWaveNet:
    """One-step evaluation of a folded WaveNet with every intermediate pre-allocated.

    Args:
        fw: folded weights (:func:`~pwave.sampling.fused.fuse_wavenet`).
        batch_size: ``B``.
        counter: a ``[1]`` long tensor holding the current time ``t``; shared by the flows of
            a sampler, which advances it (this class never does).

    Static inputs: ``x_in [B, C_in]`` (the input at the current time) and
    ``cond_t [B, L G]`` (the current row of :meth:`project_conditioning`, i.e. the
    conditioning plus the convolution biases). :meth:`step` reads them and returns the static
    ``out [B, C_out]``, equal to column ``t`` of the parallel pass. Every view the step uses
    is created once here, so a step only launches arithmetic.
    """

    def __init__(self, fw: FusedWaveNet, batch_size: int, counter: Tensor):
        dev, dt = fw.input_weight.device, fw.input_weight.dtype
        self.fw = fw
        self.counter = counter
        self.batch_size = B = batch_size
        self.num_layers = L = len(fw.layers)
        self.kernel_size = k = fw.kernel_size
        self.residual_channels = R = fw.residual_channels
        self.gate_channels = G = fw.gate_channels
        S = fw.skip_channels
        H = G // 2

        def aug(weight: Tensor, bias: Tensor) -> Tensor:  # [[W], [b]]
            return torch.cat([weight, bias[None]]).contiguous()

        self.conv = [layer.taps.reshape(k * R, G).contiguous() for layer in fw.layers]
        self.res = [None if ly.res is None else aug(ly.res, ly.res_bias) for ly in fw.layers]
        zero_s = torch.zeros(S, device=dev, dtype=dt)
        self.skip = [aug(fw.layers[0].skip, fw.skip_bias)]
        self.skip += [aug(ly.skip, zero_s) for ly in fw.layers[1:]]
        self.head1 = aug(fw.head1, fw.head_bias1)
        self.head2 = aug(fw.head2, fw.head_bias2)
        if fw.layers[0].cond is not None:
            self.cond_weight = torch.cat([ly.cond for ly in fw.layers], dim=1).contiguous()
        else:
            self.cond_weight = None
        self.cond_bias = torch.cat([ly.bias for ly in fw.layers]).contiguous()

        # Ring buffer and index tables.
        dil = torch.tensor([ly.dilation for ly in fw.layers], dtype=torch.long, device=dev)
        lengths = (k - 1) * dil + 1
        bases = torch.cumsum(lengths, 0) - lengths
        j = torch.arange(k, device=dev)
        self._offsets = ((k - 1 - j)[:, None] * dil[None, :]).contiguous()  # [k, L]
        self._lengths = lengths[None, :].expand(k, L).contiguous()
        self._bases = bases[None, :].expand(k, L).contiguous()
        self._idx = torch.zeros(k, L, dtype=torch.long, device=dev)
        self._read = self._idx[: k - 1].view(-1)  # past taps, tap-major: [(k - 1) L]
        self._write = self._idx[k - 1]  # [L]
        self.ring = torch.zeros(B, int(lengths.sum()), R, device=dev, dtype=dt)
        self._gather = torch.zeros(B, (k - 1) * L, R, device=dev, dtype=dt)

        # Static inputs, step buffers and the views into them.
        self.x_in = torch.zeros(B, fw.input_weight.shape[0], device=dev, dtype=dt)
        self.cond_t = torch.zeros(B, L * G, device=dev, dtype=dt)
        self.taps = torch.zeros(L, B, k, R, device=dev, dtype=dt)
        self.pre = torch.zeros(B, G, device=dev, dtype=dt)
        self.gate = torch.ones(B, H + 1, device=dev, dtype=dt)  # last column stays 1
        self.skips = torch.ones(B, S + 1, device=dev, dtype=dt)  # last column stays 1
        self.hidden = torch.ones(B, S + 1, device=dev, dtype=dt)  # last column stays 1
        self.out = torch.zeros(B, fw.head2.shape[1], device=dev, dtype=dt)
        self._v_cond = [self.cond_t[:, i * G : (i + 1) * G] for i in range(L)]
        self._v_taps = [self.taps[i].view(B, k * R) for i in range(L)]
        self._v_cur = [self.taps[i, :, k - 1] for i in range(L)]  # current input of layer i
        self._v_past = self.taps[:, :, : k - 1]
        self._v_gathered = self._gather.view(B, k - 1, L, R).permute(2, 0, 1, 3)
        self._v_write = self.taps[:, :, k - 1].permute(1, 0, 2)  # [B, L, R]
        self._v_pre = (self.pre[:, :H], self.pre[:, H:])
        self._v_gate = self.gate[:, :H]
        self._v_skips = self.skips[:, :S]
        self._v_hidden = self.hidden[:, :S]

    def reset(self) -> None:
        """Forget the history (the causal zero padding); the owner resets the counter."""
        self.ring.zero_()

    def project_conditioning(self, cond_tb: Tensor, out: Tensor) -> Tensor:
        """``cond_tb [T, B, C_cond]`` -> ``out [T, B, L G]`` (conditioning + conv biases),
        written in place into the static buffer ``out``."""
        T, B = out.shape[0], out.shape[1]
        if self.cond_weight is None:
            out.copy_(self.cond_bias.expand_as(out))
        else:
            flat = cond_tb.reshape(T * B, -1).to(out.dtype)
            out.view(T * B, -1).copy_(torch.addmm(self.cond_bias, flat, self.cond_weight))
        return out

    def step(self) -> Tensor:
        """Advance one time step from ``x_in`` and ``cond_t``; returns the static ``out``."""
        fw, k, L = self.fw, self.kernel_size, self.num_layers
        # Ring slots of all taps of all layers for the current time.
        torch.sub(self.counter, self._offsets, out=self._idx)
        self._idx.remainder_(self._lengths).add_(self._bases)
        if k > 1:
            torch.index_select(self.ring, 1, self._read, out=self._gather)
            self._v_past.copy_(self._v_gathered)
        torch.addmm(fw.input_bias, self.x_in, fw.input_weight, out=self._v_cur[0])
        pre_f, pre_g = self._v_pre
        for i in range(L):
            torch.addmm(self._v_cond[i], self._v_taps[i], self.conv[i], out=self.pre)
            gate_halves(self.pre, pre_f, pre_g, fw.gate, out=self._v_gate)
            if i < L - 1:
                torch.addmm(
                    self._v_cur[i], self.gate, self.res[i], beta=SQRT_HALF, out=self._v_cur[i + 1]
                )
            torch.addmm(
                self._v_skips,
                self.gate,
                self.skip[i],
                beta=0.0 if i == 0 else 1.0,
                out=self._v_skips,
            )
        # Write the current input of every layer back into its ring slot.
        self.ring.index_copy_(1, self._write, self._v_write)
        self.skips.relu_()
        torch.mm(self.skips, self.head1, out=self._v_hidden)
        self.hidden.relu_()
        return torch.mm(self.hidden, self.head2, out=self.out)


class FakeGraph:
    """Stands in for ``torch.cuda.CUDAGraph``: ``replay()`` calls the step eagerly."""

    def __init__(self, fn: Callable[[], None]):
        self.fn = fn

    def replay(self) -> None:
        self.fn()


def capture_step(fn: Callable[[], None], mode: str = "eager", warmup: int = 3):
    """Capture ``fn`` (which must only touch static tensors) for per-sample replay.

    Args:
        fn: the step; its side effects on static buffers are what replay repeats.
        mode: ``"cuda"`` records a ``torch.cuda.CUDAGraph`` (after ``warmup`` eager calls on
            a side stream, as capture requires); ``"eager"`` returns a :class:`FakeGraph`.
        warmup: eager calls before a CUDA capture (they change the buffers: reset after).

    Returns:
        an object with ``replay()``.
    """
    if mode == "eager":
        return FakeGraph(fn)
    if mode != "cuda":
        raise ValueError(f"unknown capture mode {mode!r}; use 'cuda' or 'eager'")
    if not torch.cuda.is_available():
        raise RuntimeError("mode='cuda' needs a CUDA device")
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(warmup):
            fn()
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        fn()
    torch.cuda.synchronize()
    return graph


class GraphTeacherSampler:
    """Cached teacher sampling on static buffers, one (CUDA-graph) replay per sample.

    Args:
        teacher: a :class:`~pwave.models.teacher.Teacher` (weights read now).
        batch_size, length: ``B`` and ``T`` of the utterances it will generate (the static
            buffers have exactly this size).
        device, dtype: where and in what precision to run (default: the teacher's).
        mode: ``"cuda"`` (capture a CUDA graph; CUDA devices only), ``"eager"`` (call the
            step directly, through :class:`FakeGraph`), or ``"auto"`` (cuda on a CUDA
            device, else eager).

    ``sampler.generate(z [B, T], cond [B, C_cond, T]) -> audio [B, T]`` equals
    ``teacher.sample(mel, z, method="cached")`` for ``cond = teacher.condition(mel)``.
    """

    def __init__(
        self,
        teacher: Teacher,
        batch_size: int,
        length: int,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        mode: str = "auto",
    ):
        ref = next(teacher.parameters())
        device = ref.device if device is None else torch.device(device)
        dtype = ref.dtype if dtype is None else dtype
        if mode == "auto":
            mode = "cuda" if device.type == "cuda" else "eager"
        if mode == "cuda" and device.type != "cuda":
            raise ValueError("mode='cuda' needs a CUDA device")
        self.mode = mode
        self.teacher = teacher
        self.batch_size, self.length = batch_size, length
        self.device, self.dtype = device, dtype
        c = teacher.config
        self.half_range = 0.5 * (c.log_scale_max - c.log_scale_min)
        self.exp_centre = math.exp(0.5 * (c.log_scale_max + c.log_scale_min))
        self.t = torch.zeros(1, dtype=torch.long, device=device)
        self._half_range = torch.tensor(self.half_range, device=device, dtype=dtype)
        self.nets = [
            StaticCachedWaveNet(
                fold_log_scale_bounds(fuse_wavenet(net), c.log_scale_min, c.log_scale_max).to(
                    device, dtype
                ),
                batch_size,
                self.t,
            )
            for net in teacher.wavenets
        ]
        LG = [net.num_layers * net.gate_channels for net in self.nets]
        B, T = batch_size, length
        self.z = torch.zeros(T, B, device=device, dtype=dtype)
        self.audio = torch.zeros(T, B, device=device, dtype=dtype)
        self.projs = [torch.zeros(T, B, n, device=device, dtype=dtype) for n in LG]
        self._z_t = torch.zeros(1, B, device=device, dtype=dtype)
        self._graph = None
        # Views used by the step, made once. Flow k's output is the next input of flow k
        # (x_in of its net) and the affine input of flow k + 1; the last one is the audio.
        self._v_z = self._z_t.view(B, 1)
        self._v_cond_rows = [net.cond_t.view(1, B, -1) for net in self.nets]
        self._v_params = [(net.out[:, 0:1], net.out[:, 1:2]) for net in self.nets]
        self._v_result = self.nets[-1].x_in.view(1, B)

    def reset(self) -> None:
        """Restart at ``t = 0`` with empty history (keeps the loaded utterance)."""
        self.t.zero_()
        for net in self.nets:
            net.x_in.zero_()
            net.reset()

    def load(self, z: Tensor, cond: Tensor) -> None:
        """Copy-in: noise ``[B, T]`` and conditioning ``[B, C_cond, T]`` into the static buffers."""
        if tuple(z.shape) != (self.batch_size, self.length) or cond.shape[-1] != self.length:
            raise ValueError(
                f"this sampler was built for z [{self.batch_size}, {self.length}]; got z "
                f"{tuple(z.shape)} and cond {tuple(cond.shape)}"
            )
        self.z.copy_(z.t())
        cond_tb = cond.to(device=self.device, dtype=self.dtype).permute(2, 0, 1)
        for net, proj in zip(self.nets, self.projs):
            net.project_conditioning(cond_tb, proj)
        self.reset()

    def step(self) -> None:
        """Generate the sample at the current time for the whole batch, then advance."""
        torch.index_select(self.z, 0, self.t, out=self._z_t)
        u = self._v_z
        for net, rows, proj, (mu, scale) in zip(
            self.nets, self._v_cond_rows, self.projs, self._v_params
        ):
            torch.index_select(proj, 0, self.t, out=rows)
            net.step()
            scale.tanh_().mul_(self._half_range).exp_()  # exp(s) / exp(centre)
            torch.addcmul(mu, u, scale, value=self.exp_centre, out=net.x_in)
            u = net.x_in
        self.audio.index_copy_(0, self.t, self._v_result)
        self.t.add_(1)

    def capture(self) -> None:
        """Capture the step (``mode='cuda'``) or wrap it (``'eager'``); done once, lazily."""
        if self._graph is None:
            self._graph = capture_step(self.step, self.mode)
            self.reset()

    def generate(self, z: Tensor, cond: Tensor) -> Tensor:
        """Copy-in, ``T`` replays, copy-out: ``z [B, T]``, ``cond [B, C, T]`` -> ``[B, T]``."""
        with torch.no_grad():
            self.capture()
            self.load(z, cond)
            for _ in range(self.length):
                self._graph.replay()
            return self.audio.t().clone()

    def sample(self, mel: Tensor, z: Tensor) -> Tensor:
        """Like ``teacher.sample(mel, z)``: upsample ``mel`` then :meth:`generate`."""
        with torch.no_grad():
            return self.generate(z, self.teacher.condition(mel))
