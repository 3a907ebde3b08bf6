r"""The WaveNet run one sample at a time (the "Fast WaveNet" ring-buffer cache).

:class:`IncrementalWaveNet`: every residual layer
keeps a ring buffer of its last ``(kernel_size - 1) * dilation + 1`` inputs, so producing one
sample costs ``O(layers)`` small matrix products instead of a pass over the receptive field.
All layers' ring buffers live in one pre-allocated tensor ``[B, R, sum_l L_l]``; a step counter
tensor and pre-allocated index tensors (updated in place) say where to write and which taps to
read. A step therefore creates no tensors from Python and has fixed shapes, which is what a
later CUDA-graph capture of one generation step needs. The conditioning projections of all
layers (plus the dilated-convolution biases) are computed once per utterance, before the loop,
by :meth:`IncrementalWaveNet.project_conditioning`.

The teacher's samplers built on it are in :mod:`pwave.models.sequential`.
"""

from __future__ import annotations

import torch
from torch import Tensor

from pwave.nn.wavenet import WaveNet, gated_residual_skip, output_head, pointwise


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
