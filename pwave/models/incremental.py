r"""Sequential sampling from the WaveNet teacher: the cached "Fast WaveNet" sampler and the
naive reference.

**Cached** (:class:`IncrementalWaveNet`, :class:`CachedTeacherSampler`): every residual layer
keeps a ring buffer of its last ``(kernel_size - 1) * dilation + 1`` inputs, so producing one
sample costs ``O(layers)`` small matrix products instead of a pass over the receptive field.
All layers' ring buffers live in one pre-allocated tensor ``[B, R, sum_l L_l]``; a step counter
tensor and pre-allocated index tensors (updated in place) say where to write and which taps to
read. A step therefore creates no tensors from Python and has fixed shapes, which is what a
later CUDA-graph capture of one generation step needs. The conditioning projections of all
layers (plus the dilated-convolution biases) are computed once per utterance, before the loop,
by :meth:`IncrementalWaveNet.project_conditioning`.

**Naive** (:func:`sample_naive`): for every sample, rerun the parallel WaveNet on the last
``receptive_field`` inputs and keep the last output. Exact but ``O(receptive_field * layers)``
per sample; kept as the reference the cached sampler is tested against.

Both samplers generate ``x`` from noise ``z`` with the same per-step affine map as the
teacher's parallel density (``affine_forward`` from :mod:`pwave.flows.distributions`), so
``sample(z=inverse(x))`` reproduces ``x``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor

from pwave.flows.distributions import affine_forward
from pwave.models.wavenet import WaveNet, gated_residual_skip, output_head, pointwise

if TYPE_CHECKING:
    from pwave.models.teacher import Teacher


class IncrementalWaveNet:
    """Cached one-step-at-a-time evaluation of a :class:`WaveNet` for a fixed batch size.

    The weights are read once (``effective_weights`` under ``no_grad``) at construction;
    build a new instance after the WaveNet's parameters change.

    Usage::

        inc = IncrementalWaveNet(net, batch_size=B)
        proj = inc.project_conditioning(cond, T)       # [T, B, layers * G], once
        for t in range(T):
            y_t = inc.step(x_t, proj[t])                # x_t: [B, C_in] -> y_t: [B, C_out]

    ``y_t`` equals ``net(x, cond)[:, :, t]`` where ``x_t = x[:, :, t]``: the step consumes the
    input at the current time (callers that need strict causality feed the previous sample).
    """

    def __init__(
        self,
        wavenet: WaveNet,
        batch_size: int,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ):
        with torch.no_grad():
            w = wavenet.effective_weights()
            ref = w.input_weight
            device = ref.device if device is None else torch.device(device)
            dtype = ref.dtype if dtype is None else dtype

            def conv(t: Tensor | None) -> Tensor | None:
                return None if t is None else t.detach().to(device=device, dtype=dtype)

            self.weights = type(w)(
                input_weight=conv(w.input_weight),
                input_bias=conv(w.input_bias),
                cond_weight=conv(w.cond_weight),
                layers=[
                    type(lw)(
                        dilation=lw.dilation,
                        conv_weight=conv(lw.conv_weight),
                        conv_bias=conv(lw.conv_bias),
                        out_weight=conv(lw.out_weight),
                        out_bias=conv(lw.out_bias),
                    )
                    for lw in w.layers
                ],
                head_weight1=conv(w.head_weight1),
                head_bias1=conv(w.head_bias1),
                head_weight2=conv(w.head_weight2),
                head_bias2=conv(w.head_bias2),
                skip_scale=w.skip_scale,
            )
        self.batch_size = batch_size
        self.device, self.dtype = device, dtype
        self.residual_channels = R = wavenet.residual_channels
        self.gate_channels = wavenet.gate_channels
        self.kernel_size = k = wavenet.kernel_size
        self.num_layers = n = wavenet.layers
        self.cond_channels = wavenet.cond_channels
        self.out_channels = wavenet.out_channels
        self.receptive_field = wavenet.receptive_field

        # Dilated conv weights as [R * k, G] matrices: taps gathered as [B, R, k] and flattened
        # row-major match the conv weight [G, R, k] flattened the same way.
        self.conv_mats = [
            lw.conv_weight.reshape(self.gate_channels, R * k).t().contiguous()
            for lw in self.weights.layers
        ]
        self.conv_bias_all = torch.cat([lw.conv_bias for lw in self.weights.layers])

        # Ring buffers of all layers side by side: layer l owns columns [base_l, base_l + L_l).
        dil = torch.tensor(wavenet.dilations, dtype=torch.long, device=device)
        lengths = (k - 1) * dil + 1  # [n]
        bases = torch.cumsum(lengths, 0) - lengths
        j = torch.arange(k, device=device)
        # Tap j of layer l reads time t - (k - 1 - j) * d_l.
        self._offsets = ((k - 1 - j)[None, :] * dil[:, None]).contiguous()  # [n, k]
        self._lengths = lengths[:, None].expand(n, k).contiguous()
        self._bases = bases[:, None].expand(n, k).contiguous()
        self._read_idx = torch.zeros(n, k, dtype=torch.long, device=device)
        # The last tap (offset 0) is the current time: write there, then read all k taps.
        self._read_rows = [self._read_idx[i] for i in range(n)]
        self._write_rows = [self._read_idx[i, k - 1 :] for i in range(n)]
        self.buffer = torch.zeros(batch_size, R, int(lengths.sum()), device=device, dtype=dtype)
        self.counter = torch.zeros((), dtype=torch.long, device=device)

    def reset(self) -> None:
        """Forget the history (zeros = the causal zero padding) and restart at ``t = 0``."""
        self.buffer.zero_()
        self.counter.zero_()

    def project_conditioning(self, cond: Tensor | None, length: int) -> Tensor:
        """Per-layer conditioning plus dilated-conv biases for a whole utterance.

        Args:
            cond: ``[B, C_cond, T]`` sample-rate conditioning (``None`` if unconditioned).
            length: ``T`` (used when ``cond`` is ``None``).

        Returns:
            ``[T, B, layers * G]`` contiguous; row ``t`` is the ``cond_t`` of :meth:`step`.
        """
        B, G = self.batch_size, self.gate_channels
        if self.weights.cond_weight is None:
            proj = self.conv_bias_all.view(1, 1, -1).expand(length, B, self.num_layers * G)
            return proj.contiguous()
        cond = cond.to(device=self.device, dtype=self.dtype)
        proj = pointwise(cond, self.weights.cond_weight, self.conv_bias_all)  # [B, nG, T]
        return proj.permute(2, 0, 1).contiguous()

    def step(self, x_t: Tensor, cond_t: Tensor) -> Tensor:
        """Advance one time step.

        Args:
            x_t: ``[B, C_in]`` input at the current time.
            cond_t: ``[B, layers * G]`` row of :meth:`project_conditioning`.

        Returns:
            ``[B, C_out]``, the WaveNet output at the current time.
        """
        w = self.weights
        R, G, k = self.residual_channels, self.gate_channels, self.kernel_size
        B = x_t.shape[0]
        # Ring positions of all taps of all layers for the current time, in place.
        torch.sub(self.counter, self._offsets, out=self._read_idx)
        self._read_idx.remainder_(self._lengths).add_(self._bases)

        h = pointwise(x_t, w.input_weight, w.input_bias)
        skips = None
        last = self.num_layers - 1
        for i, layer in enumerate(w.layers):
            self.buffer.index_copy_(2, self._write_rows[i], h.unsqueeze(-1))
            taps = self.buffer.index_select(2, self._read_rows[i]).reshape(B, R * k)
            pre = torch.addmm(cond_t[:, i * G : (i + 1) * G], taps, self.conv_mats[i])
            h, skip = gated_residual_skip(pre, h, layer, R, last=i == last)
            skips = skip if skips is None else skips + skip
        self.counter.add_(1)
        return output_head(skips, w)


class CachedTeacherSampler:
    """Fast sequential sampler for a :class:`~pwave.models.teacher.Teacher` (any ``num_flows``).

    Holds one :class:`IncrementalWaveNet` per flow and the previous output of each flow.
    :meth:`step` is the per-flow conditioner step ``(x_prev [B], cond_t) -> (mu, log_scale)``;
    :meth:`generate_step` chains the flows for one sample; :meth:`generate` loops over time.
    """

    def __init__(
        self,
        teacher: Teacher,
        batch_size: int,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ):
        self.teacher = teacher
        self.nets = [IncrementalWaveNet(net, batch_size, device, dtype) for net in teacher.wavenets]
        ref = self.nets[0]
        self.device, self.dtype = ref.device, ref.dtype
        self.batch_size = batch_size
        # Previous output of each flow (the input its conditioner sees at the next step).
        self.prev = torch.zeros(len(self.nets), batch_size, device=self.device, dtype=self.dtype)

    def reset(self) -> None:
        for net in self.nets:
            net.reset()
        self.prev.zero_()

    def project_conditioning(self, cond: Tensor) -> list[Tensor]:
        """Sample-rate conditioning ``[B, C_cond, T]`` -> one ``[T, B, layers * G]`` per flow."""
        return [net.project_conditioning(cond, cond.shape[-1]) for net in self.nets]

    def step(self, x_prev: Tensor, cond_t: Tensor, flow: int = 0) -> tuple[Tensor, Tensor]:
        """Conditioner of flow ``flow`` at the current time.

        Args:
            x_prev: ``[B]`` the flow's output at the previous time (0 at ``t = 0``).
            cond_t: ``[B, layers * G]`` the current row of its projected conditioning.

        Returns:
            ``(mu [B], log_scale [B])`` for the current time (log-scale already bounded).
        """
        out = self.nets[flow].step(x_prev.unsqueeze(1), cond_t)
        return self.teacher.split_params(out)

    def generate_step(self, z_t: Tensor, conds_t: list[Tensor]) -> Tensor:
        """Map noise ``z_t [B]`` to the sample ``x_t [B]`` through all flows (flow 0 first)."""
        u = z_t
        for k in range(len(self.nets)):
            mu, log_scale = self.step(self.prev[k], conds_t[k], flow=k)
            u, _ = affine_forward(u, mu, log_scale)
            self.prev[k].copy_(u)
        return u

    def generate(self, z: Tensor, cond: Tensor) -> Tensor:
        """``z [B, T]`` and conditioning ``[B, C_cond, T]`` -> audio ``[B, T]`` (restarts state)."""
        self.reset()
        z = z.to(device=self.device, dtype=self.dtype)
        projs = self.project_conditioning(cond)
        out = torch.empty_like(z)
        for t in range(z.shape[1]):
            out[:, t] = self.generate_step(z[:, t], [p[t] for p in projs])
        return out


def sample_cached(teacher: Teacher, cond: Tensor, z: Tensor) -> Tensor:
    """Cached sequential sampling: ``z [B, T]``, ``cond [B, C_cond, T]`` -> ``x [B, T]``."""
    with torch.no_grad():
        return CachedTeacherSampler(teacher, z.shape[0], z.device, z.dtype).generate(z, cond)


def naive_step(teacher: Teacher, cond: Tensor, z: Tensor, ys: list[Tensor], t: int) -> None:
    """One time step ``t`` of the reference sampler, in place (call it under ``no_grad``).

    For each flow ``k`` (applied first to the noise first), rerun its parallel WaveNet on
    the last ``receptive_field`` inputs -- flow ``k``'s outputs delayed by one step -- and
    keep the last output. ``z [B, T]`` is the base noise, ``cond [B, C_cond, T]`` the
    conditioning; ``ys[k] [B, T]`` must hold flow ``k``'s outputs for the steps before ``t``
    and receives its output at ``t`` (``ys[-1]`` is the audio).
    """
    u = z[:, t]
    for k, net in enumerate(teacher.wavenets):
        lo = max(0, t + 1 - net.receptive_field)
        inp = F.pad(ys[k][:, max(0, lo - 1) : t], (1 if lo == 0 else 0, 0))
        out = net(inp.unsqueeze(1), cond[..., lo : t + 1])[..., -1]
        mu, log_scale = teacher.split_params(out)
        u, _ = affine_forward(u, mu, log_scale)
        ys[k][:, t] = u


def sample_naive(teacher: Teacher, cond: Tensor, z: Tensor) -> Tensor:
    """Reference sampler: for every ``t`` and flow, rerun the parallel WaveNet on the last
    ``receptive_field`` (shifted) inputs and keep its last output (:func:`naive_step`).

    ``z [B, T]``, ``cond [B, C_cond, T]`` -> ``x [B, T]``. Slow; for tests and benchmarks.
    """
    with torch.no_grad():
        B, T = z.shape
        # ys[k] holds the outputs of flow k generated so far.
        ys = [z.new_zeros(B, T) for _ in teacher.wavenets]
        for t in range(T):
            naive_step(teacher, cond, z, ys, t)
        return ys[-1]
