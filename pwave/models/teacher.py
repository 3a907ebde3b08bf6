r"""The WaveNet teacher: a masked autoregressive flow (MAF) over time, conditioned on mel.

One flow step maps noise to audio sample by sample,

.. math::  x_t = z_t\, e^{s_t(x_{<t},\, c)} + \mu_t(x_{<t},\, c),

with :math:`(\mu_t, s_t)` produced by a causal :class:`~pwave.nn.wavenet.WaveNet` fed the
audio shifted right by one step, and :math:`c` the upsampled mel
(:class:`~pwave.nn.upsampler.MelUpsampler`). The normalizing direction
:math:`z_t = (x_t - \mu_t) e^{-s_t}` is a single parallel pass, so the density

.. math::  \log p(x \mid c) = \sum_t \log p_0(z_t) - \sum_t s_t

is cheap to train on; sampling is sequential (:mod:`pwave.nn.incremental`).

With ``num_flows = K > 1`` the flows are stacked: flow ``k`` (``k = 0`` applied first to the
noise) has its own WaveNet conditioned on its own output delayed by one step; all share the
upsampler. The composition is still affine in :math:`z_t` given :math:`x_{<t}`:
:math:`x_t = z_t e^{\sum_k s_{k,t}} + M_{K,t}` with :math:`M_{0,t} = 0`,
:math:`M_{k,t} = M_{k-1,t} e^{s_{k,t}} + \mu_{k,t}`, which is what :meth:`Teacher.conditionals`
returns -- exact per-step distributions for any ``K``.

The log-scale is soft-clamped to ``(log_scale_min, log_scale_max)`` with
:func:`~pwave.flows.base.soft_clamp` centred in that interval (identity-like near the centre).
The affine step and base densities come from :mod:`pwave.flows.distributions`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from pwave.audio.config import FeatureConfig
from pwave.flows.base import sum_except_batch
from pwave.flows.distributions import affine_inverse, make_base
from pwave.models.flow_config import (
    check_log_scales,
    config_from_dict,
    config_to_dict,
    front_end,
    preset_section,
)
from pwave.models.flow_model import WaveNetFlowModel, bounded_log_scale, unbounded_log_scale  # noqa: F401
from pwave.models.sequential import sample_cached, sample_naive
from pwave.units import BIN_WIDTH_16BIT

CHECKPOINT_FORMAT = "pwave.teacher"
#: Width of one 16-bit quantisation bin for audio in [-1, 1].


@dataclass
class TeacherConfig:
    """All hyper-parameters of a :class:`Teacher` (plus the feature config it expects).

    Attributes:
        features: the mel front end the teacher is conditioned on.
        mel_context_frames: extra mel frames on each side of the input (consumed by the
            upsampler's context convolution).
        upsample_factors: upsampler stage factors; product must equal ``features.hop_length``.
        cond_channels: channels of the upsampled conditioning.
        residual_channels, gate_channels, skip_channels, kernel_size, layers, cycles: the
            WaveNet of each flow (see :class:`~pwave.nn.wavenet.WaveNet`).
        num_flows: stacked affine autoregressive flows.
        base: ``"gaussian"`` or ``"logistic"`` base noise.
        log_scale_min, log_scale_max: soft bounds of each flow's log-scale (``-11`` is about
            ``log(2 / 65536)``, one 16-bit bin).
        init_log_scale: the total log-scale at initialisation (split equally across flows).
        dequantize: add uniform noise of one 16-bit bin to the audio in training.
        use_weight_norm: weight-normalise the WaveNet convolutions.
    """

    features: FeatureConfig = field(default_factory=FeatureConfig)
    mel_context_frames: int = 0
    upsample_factors: tuple[int, ...] = (16, 16)
    cond_channels: int = 80
    residual_channels: int = 64
    gate_channels: int = 128
    skip_channels: int = 64
    kernel_size: int = 3
    layers: int = 10
    cycles: int = 1
    num_flows: int = 1
    base: str = "gaussian"
    log_scale_min: float = -9.0
    log_scale_max: float = 2.0
    init_log_scale: float = -2.0
    dequantize: bool = True
    use_weight_norm: bool = True

    def __post_init__(self) -> None:
        self.features, self.upsample_factors = front_end(self.features, self.upsample_factors)
        if self.num_flows < 1:
            raise ValueError(f"num_flows must be >= 1, got {self.num_flows}")
        check_log_scales(
            self.log_scale_min, self.log_scale_max, self.init_log_scale, self.num_flows
        )
        make_base(self.base)  # validates the name

    # --- (de)serialisation ------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain dict (lists, str, numbers) -- safe for ``torch.load(weights_only=True)``/YAML."""
        return config_to_dict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TeacherConfig:
        return config_from_dict(cls, d, "teacher")

    def replace(self, **changes: Any) -> TeacherConfig:
        return dataclasses.replace(self, **changes)

    # --- presets ----------------------------------------------------------------------
    @classmethod
    def demo(cls) -> TeacherConfig:
        """The ``model.teacher`` section of the shipped ``teacher/demo.yaml`` (what ``pwave demo``
        trains): 16 kHz, hop 256, 2 mel context frames, 10 layers of kernel 3 (dilations
        1..512, receptive field 2047 samples), 32/64/32 channels; trains on a CPU in minutes."""
        return cls.from_dict(preset_section("teacher", "demo"))

    @classmethod
    def paper(cls) -> TeacherConfig:
        """The ``model.teacher`` section of the shipped ``teacher/paper.yaml``: Parallel WaveNet
        teacher scale, 24 kHz, hop 300, 30 layers in 3 cycles of dilations 1..512, kernel 3
        (receptive field 6139 samples), logistic base."""
        return cls.from_dict(preset_section("teacher", "paper"))



class Teacher(WaveNetFlowModel):
    """WaveNet MAF over time conditioned on mel; see the module docstring for the math.

    Shapes: ``audio [B, T]``, ``mel [B, n_mels, frames + 2 * mel_context_frames]`` with
    ``T == frames * hop_length``; per-item results ``[B]`` are in nats.
    """

    CHECKPOINT_FORMAT = CHECKPOINT_FORMAT

    config_class = TeacherConfig

    def __init__(self, config: TeacherConfig | None = None):
        config = TeacherConfig() if config is None else config
        super().__init__(config, [(config.layers, config.cycles)] * config.num_flows)

    @property
    def receptive_field(self) -> int:
        """Past samples each ``(mu_t, log_scale_t)`` of one flow sees (``x[t - rf : t]``)."""
        return self.wavenets[0].receptive_field

    # --- building blocks ---------------------------------------------------------------
    def _check_lengths(self, audio: Tensor, cond: Tensor) -> None:
        if audio.dim() != 2:
            raise ValueError(f"audio must be [B, T], got {tuple(audio.shape)}")
        if audio.shape[-1] != cond.shape[-1]:
            ctx = self.config.mel_context_frames
            raise ValueError(
                f"audio has {audio.shape[-1]} samples but the mel gives {cond.shape[-1]} "
                f"(= {cond.shape[-1] // self.features.hop_length} frames x hop "
                f"{self.features.hop_length}, after {ctx} context frames each side)"
            )

    def _inverse_all(self, audio: Tensor, cond: Tensor) -> tuple[Tensor, list, list]:
        """Normalizing pass; returns ``z`` and per-flow ``mu``/``log_scale`` (flow 0 first)."""
        mus, log_scales = [None] * len(self.wavenets), [None] * len(self.wavenets)
        y = audio
        for k in reversed(range(len(self.wavenets))):
            mus[k], log_scales[k] = self.flow_params(k, y, cond)
            y, _ = affine_inverse(y, mus[k], log_scales[k])
        return y, mus, log_scales

    # --- public API ----------------------------------------------------------------------
    def inverse(self, audio: Tensor, mel: Tensor) -> tuple[Tensor, Tensor]:
        """Normalizing direction ``x -> z`` in one parallel pass.

        Returns ``(z [B, T], log|det dz/dx| [B])``.
        """
        cond = self.condition(mel)
        self._check_lengths(audio, cond)
        z, _, log_scales = self._inverse_all(audio, cond)
        # Sums in float32 at least: bf16 sums over thousands of steps lose whole nats.
        return z, -sum(sum_except_batch(ls) for ls in log_scales)

    def conditionals(self, audio: Tensor, mel: Tensor) -> tuple[Tensor, Tensor]:
        """Per-step location and log-scale of ``p(x_t | x_<t, mel)``, each ``[B, T]``.

        Exact for any ``num_flows`` (composed affine maps, see the module docstring): under
        the base density ``p0``, ``x_t = mu_t + exp(log_scale_t) * z_t``.
        """
        cond = self.condition(mel)
        self._check_lengths(audio, cond)
        _, mus, log_scales = self._inverse_all(audio, cond)
        mu, log_scale = torch.zeros_like(audio), torch.zeros_like(audio)
        for m, s in zip(mus, log_scales):
            mu, log_scale = mu * torch.exp(s) + m, log_scale + s
        return mu, log_scale

    def log_prob(
        self,
        audio: Tensor,
        mel: Tensor,
        dequantize: bool | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """``log p(audio | mel)`` in nats per utterance, ``[B]``, one parallel pass.

        ``dequantize`` (default: ``self.training and config.dequantize``) adds uniform noise
        of one 16-bit bin, ``U(-1/2, 1/2) * 2/65536``, to the audio first.
        """
        if dequantize is None:
            dequantize = self.training and self.config.dequantize
        if dequantize:
            noise = torch.rand(
                audio.shape, generator=generator, device=audio.device, dtype=audio.dtype
            )
            audio = audio + (noise - 0.5) * BIN_WIDTH_16BIT
        z, logabsdet = self.inverse(audio, mel)
        return self.base.log_prob(z) + logabsdet

    def forward(self, audio: Tensor, mel: Tensor) -> Tensor:
        """Same as :meth:`log_prob` (so wrappers that call the module get the density)."""
        return self.log_prob(audio, mel)

    def sample(
        self,
        mel: Tensor,
        z: Tensor | None = None,
        temperature: float = 1.0,
        method: str = "cached",
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Generate audio ``[B, frames * hop]`` sequentially (no gradients).

        Args:
            mel: ``[B, n_mels, frames + 2 * ctx]``.
            z: base noise ``[B, T]``; drawn from the base (times ``temperature``) when
                ``None``. A given ``z`` is used as is, so ``sample(mel, inverse(x, mel)[0])``
                reproduces ``x``.
            temperature: scale of the drawn noise.
            method: ``"cached"`` (Fast WaveNet queues, O(layers) per sample) or ``"naive"``
                (recompute the receptive field each step; the reference).
            generator: for the drawn noise.

        The output is not clipped to [-1, 1].
        """
        with torch.no_grad():
            cond = self.condition(mel)
            B, T = cond.shape[0], cond.shape[-1]
            if z is None:
                z = self.base.sample(B, (T,), generator=generator, temperature=temperature)
            elif tuple(z.shape) != (B, T):
                raise ValueError(f"z must be [{B}, {T}] for this mel, got {tuple(z.shape)}")
            if method == "cached":
                return sample_cached(self, cond, z)
            if method == "naive":
                return sample_naive(self, cond, z)
            raise ValueError(f"unknown sampling method {method!r}; use 'cached' or 'naive'")
