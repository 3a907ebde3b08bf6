r"""The WaveNet student: an inverse autoregressive flow (IAF) over time, conditioned on mel.

``K`` affine flows map base noise :math:`z = x^{(0)}` to audio :math:`x = x^{(K)}`; flow
:math:`k` has its own causal :class:`~pwave.nn.wavenet.WaveNet` that reads the flow's
**input** delayed by one step (:func:`~pwave.nn.wavenet.shift_right`):

.. math::  x^{(k)}_t = x^{(k-1)}_t\, e^{s_{k,t}} + \mu_{k,t}, \qquad
           (\mu_{k,t}, s_{k,t}) = \mathrm{WaveNet}_k\big(x^{(k-1)}_{<t},\, c\big).

So :math:`x_t` depends on :math:`z_{\le t}` only, and a whole utterance is generated in
**one parallel pass** per flow. All flows share one mel upsampler (:math:`c`).

Composed per-step distribution. Given :math:`z_{<t}`, every :math:`(\mu_{k,t}, s_{k,t})`
is fixed and the composition is affine in :math:`z_t`:

.. math::  x_t = z_t\, e^{S_{t}} + M_{t}, \qquad M^{(0)} = 0,\;
           M^{(k)}_t = M^{(k-1)}_t e^{s_{k,t}} + \mu_{k,t}, \qquad S_t = \sum_k s_{k,t},

so :math:`q(x_t\mid z_{<t})` is the location-scale member :math:`(M_t, S_t)` of the base
family (Gaussian or logistic), which is what :meth:`Student.conditionals` returns and what
the distillation losses compare with the teacher's conditionals. The density of a sample
comes from the cached noise, with no inversion:

.. math::  \log q(x) = \sum_t \log p_0(z_t) - \sum_t S_t .

Scoring outside audio (:meth:`Student.log_prob`) needs the inverse, which is sequential:
:math:`x^{(k-1)}_t = (x^{(k)}_t - \mu_{k,t}) e^{-s_{k,t}}` for ``t = 0, 1, ...``.

Initialisation. Each WaveNet's output head starts near zero except the log-scale bias,
set (as in the teacher) so that the total log-scale starts at
``init_log_scale = log(0.05)``: at step 0 the student emits :math:`x \approx 0.05\, z`,
noise on the scale of speech, so the teacher's density of the first samples is finite
and informative. Every flow's log-scale is soft-clamped to
``(log_scale_min, log_scale_max)`` with :func:`~pwave.models.teacher.bounded_log_scale`.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from pwave.audio.config import FeatureConfig
from pwave.flows.base import sum_except_batch
from pwave.flows.distributions import affine_forward, make_base
from pwave.models.flow_config import (
    check_log_scales,
    config_from_dict,
    config_to_dict,
    front_end,
    preset_section,
)
from pwave.models.flow_model import WaveNetFlowModel
from pwave.nn.incremental import IncrementalWaveNet

CHECKPOINT_FORMAT = "pwave.student"


@dataclass
class StudentConfig:
    """All hyper-parameters of a :class:`Student` (plus the feature config it expects).

    Attributes:
        features: the mel front end (must match the teacher's).
        mel_context_frames: extra mel frames on each side of the input (must match the
            teacher's, since both read the same mel batches).
        upsample_factors: upsampler stage factors; product must equal ``features.hop_length``.
        cond_channels: channels of the upsampled conditioning (shared by all flows).
        flow_layers: residual layers of each flow's WaveNet, flow applied first to the noise
            first; Parallel WaveNet uses ``(10, 10, 10, 30)``.
        flow_cycles: dilation cycles of each flow (``layers / cycles`` layers per cycle,
            dilations ``1, 2, 4, ...``); same length as ``flow_layers``.
        residual_channels, gate_channels, skip_channels, kernel_size: every flow's WaveNet.
        base: ``"gaussian"`` or ``"logistic"`` base noise.
        log_scale_min, log_scale_max: soft bounds of each flow's log-scale.
        init_log_scale: total log-scale at initialisation (split equally across flows);
            ``log(0.05)`` gives an initial output std of about 0.05 for unit Gaussian noise.
        use_weight_norm: weight-normalise the WaveNet convolutions.
    """

    features: FeatureConfig = field(default_factory=FeatureConfig)
    mel_context_frames: int = 0
    upsample_factors: tuple[int, ...] = (16, 16)
    cond_channels: int = 80
    flow_layers: tuple[int, ...] = (10, 10, 10, 30)
    flow_cycles: tuple[int, ...] = (1, 1, 1, 3)
    residual_channels: int = 64
    gate_channels: int = 128
    skip_channels: int = 64
    kernel_size: int = 3
    base: str = "logistic"
    log_scale_min: float = -9.0
    log_scale_max: float = 2.0
    init_log_scale: float = math.log(0.05)
    use_weight_norm: bool = True

    def __post_init__(self) -> None:
        self.features, self.upsample_factors = front_end(self.features, self.upsample_factors)
        self.flow_layers = tuple(int(n) for n in self.flow_layers)
        self.flow_cycles = tuple(int(n) for n in self.flow_cycles)
        if not self.flow_layers:
            raise ValueError("flow_layers must name at least one flow")
        if len(self.flow_cycles) != len(self.flow_layers):
            raise ValueError(
                f"flow_cycles {self.flow_cycles} must have one entry per flow in "
                f"flow_layers {self.flow_layers}"
            )
        for n, c in zip(self.flow_layers, self.flow_cycles):
            if n < 1 or c < 1 or n % c:
                raise ValueError(f"flow with {n} layers cannot have {c} dilation cycles")
        check_log_scales(
            self.log_scale_min, self.log_scale_max, self.init_log_scale, self.num_flows
        )
        make_base(self.base)  # validates the name

    @property
    def num_flows(self) -> int:
        return len(self.flow_layers)

    # --- (de)serialisation ------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain dict (lists, str, numbers) -- safe for ``torch.load(weights_only=True)``/YAML."""
        return config_to_dict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> StudentConfig:
        return config_from_dict(cls, d, "student")

    def replace(self, **changes: Any) -> StudentConfig:
        return dataclasses.replace(self, **changes)

    # --- presets ----------------------------------------------------------------------
    @classmethod
    def demo(cls) -> StudentConfig:
        """The ``model.student`` section of the shipped ``student/demo.yaml``: demo size,
        matching :meth:`TeacherConfig.demo` features (16 kHz, hop 256): 4 flows
        of 4, 4, 4 and 6 layers with 32/64/32 channels, Gaussian base; distils in minutes
        on a CPU (a distillation step also runs the teacher forward and backward)."""
        return cls.from_dict(preset_section("student", "demo"))

    @classmethod
    def paper(cls) -> StudentConfig:
        """The ``model.student`` section of the shipped ``student/paper.yaml``: the Parallel
        WaveNet student (van den Oord et al., 2018), 4 flows of 10, 10, 10 and 30
        layers (dilations 1..512, the last flow in 3 cycles), 64 channels, logistic base;
        features as :meth:`TeacherConfig.paper` (24 kHz, hop 300)."""
        return cls.from_dict(preset_section("student", "paper"))


class StudentOutput(NamedTuple):
    """Everything one parallel student pass produces (all ``[B, T]`` unless noted).

    Attributes:
        audio: the sample :math:`x = x^{(K)}`.
        z: the base noise it came from.
        mu: composed per-step location :math:`M_t`.
        log_scale: composed per-step log-scale :math:`S_t`.
        log_q: ``[B]`` :math:`\\log q(x)` in nats from the cached noise.
        flow_log_scales: per-flow log-scales :math:`s_{k,t}`, flow applied first to the noise first.
    """

    audio: Tensor
    z: Tensor
    mu: Tensor
    log_scale: Tensor
    log_q: Tensor
    flow_log_scales: list[Tensor]


class Student(WaveNetFlowModel):
    """WaveNet IAF over time conditioned on mel; see the module docstring for the math.

    Shapes: ``mel [B, n_mels, frames + 2 * mel_context_frames]``, noise and audio
    ``[B, T]`` with ``T == frames * hop_length``; per-item densities ``[B]`` in nats.
    """

    CHECKPOINT_FORMAT = CHECKPOINT_FORMAT

    config_class = StudentConfig

    def __init__(self, config: StudentConfig | None = None):
        config = StudentConfig() if config is None else config
        super().__init__(config, list(zip(config.flow_layers, config.flow_cycles)))

    @property
    def receptive_field(self) -> int:
        """Noise steps each output sample depends on: ``x_t`` reads ``z[t - rf + 1 : t + 1]``."""
        return 1 + sum(net.receptive_field for net in self.wavenets)

    # --- building blocks ---------------------------------------------------------------
    def num_samples(self, mel: Tensor) -> int:
        """Audio length ``T`` that ``mel`` describes."""
        return self.upsampler.num_samples(mel.shape[-1])

    def noise(
        self,
        mel: Tensor,
        temperature: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Base noise ``[B, T]`` for ``mel`` (on the student's device and dtype)."""
        return self.base.sample(
            mel.shape[0], (self.num_samples(mel),), generator=generator, temperature=temperature
        )

    def _check_noise(self, z: Tensor, cond: Tensor) -> None:
        B, T = cond.shape[0], cond.shape[-1]
        if tuple(z.shape) != (B, T):
            raise ValueError(f"z must be [{B}, {T}] for this mel, got {tuple(z.shape)}")

    # --- public API ----------------------------------------------------------------------
    def forward(self, mel: Tensor, z: Tensor) -> StudentOutput:
        """One parallel pass ``z -> x`` with the composed per-step parameters and ``log q(x)``.

        Differentiable in the parameters and in ``z`` (reparameterised samples).
        """
        cond = self.condition(mel)
        self._check_noise(z, cond)
        y = z
        mu_tot, ls_tot = torch.zeros_like(z), torch.zeros_like(z)
        flow_log_scales = []
        for k in range(self.num_flows):
            mu, log_scale = self.flow_params(k, y, cond)
            y, _ = affine_forward(y, mu, log_scale)
            mu_tot = mu_tot * torch.exp(log_scale) + mu
            ls_tot = ls_tot + log_scale
            flow_log_scales.append(log_scale)
        log_q = self.base.log_prob(z) - sum_except_batch(ls_tot)
        return StudentOutput(y, z, mu_tot, ls_tot, log_q, flow_log_scales)

    def sample(
        self,
        mel: Tensor,
        z: Tensor | None = None,
        temperature: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Generate audio ``[B, frames * hop]`` in one parallel pass (no gradients).

        ``z`` (``[B, T]``) is used as given; otherwise it is drawn from the base and scaled
        by ``temperature``. The output is not clipped to [-1, 1].
        """
        with torch.no_grad():
            if z is None:
                z = self.noise(mel, temperature, generator)
            return self(mel, z).audio

    def sample_and_log_prob(
        self,
        mel: Tensor,
        z: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> tuple[Tensor, Tensor]:
        """Reparameterised sample ``[B, T]`` and its ``log q [B]`` (nats) from the cached noise."""
        out = self(mel, self.noise(mel, generator=generator) if z is None else z)
        return out.audio, out.log_q

    def conditionals(self, mel: Tensor, z: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``(audio, mu, log_scale)``, each ``[B, T]``: the sample for noise ``z`` and the
        composed per-step distribution ``q(x_t | z_<t)`` = base member ``(mu_t, log_scale_t)``."""
        out = self(mel, z)
        return out.audio, out.mu, out.log_scale

    @torch.no_grad()
    def inverse(self, audio: Tensor, mel: Tensor, method: str = "cached") -> tuple[Tensor, Tensor]:
        """Normalizing direction ``x -> z`` by sequential inversion (no gradients).

        For ``t = 0, 1, ...`` and flows ``K, ..., 1``:
        ``x^{(k-1)}_t = (x^{(k)}_t - mu_{k,t}) exp(-s_{k,t})`` with ``mu, s`` from the
        already-recovered ``x^{(k-1)}_{<t}``.

        Args:
            audio: ``[B, T]``.
            mel: ``[B, n_mels, frames + 2 ctx]``.
            method: ``"cached"`` (incremental WaveNets, O(layers) per step) or ``"naive"``
                (rerun each WaveNet on its receptive field every step; the reference).

        Returns:
            ``(z [B, T], log|det dz/dx| [B])``.
        """
        cond = self.condition(mel)
        if audio.dim() != 2 or audio.shape[-1] != cond.shape[-1]:
            raise ValueError(
                f"audio must be [B, {cond.shape[-1]}] for this mel, got {tuple(audio.shape)}"
            )
        if method == "cached":
            return self._inverse_cached(audio, cond)
        if method == "naive":
            return self._inverse_naive(audio, cond)
        raise ValueError(f"unknown inversion method {method!r}; use 'cached' or 'naive'")

    def _inverse_cached(self, audio: Tensor, cond: Tensor) -> tuple[Tensor, Tensor]:
        B, T = audio.shape
        nets = [IncrementalWaveNet(net, B, audio.device, audio.dtype) for net in self.wavenets]
        projs = [net.project_conditioning(cond, T) for net in nets]
        # prev[k]: the input of flow k at the previous step (what its conditioner reads now).
        prev = audio.new_zeros(self.num_flows, B, 1)
        z = torch.empty_like(audio)
        logdet = audio.new_zeros(B)
        for t in range(T):
            u = audio[:, t]
            for k in reversed(range(self.num_flows)):
                mu, log_scale = self.split_params(nets[k].step(prev[k], projs[k][t]))
                u = (u - mu) * torch.exp(-log_scale)
                logdet -= log_scale
                prev[k, :, 0] = u
            z[:, t] = u
        return z, logdet

    def _inverse_naive(self, audio: Tensor, cond: Tensor) -> tuple[Tensor, Tensor]:
        B, T = audio.shape
        # ys[k]: input of flow k (ys[0] = z), recovered so far; ys[K] = audio.
        ys = [audio.new_zeros(B, T) for _ in range(self.num_flows)] + [audio]
        logdet = audio.new_zeros(B)
        for t in range(T):
            for k in reversed(range(self.num_flows)):
                net = self.wavenets[k]
                lo = max(0, t + 1 - net.receptive_field)
                inp = F.pad(ys[k][:, max(0, lo - 1) : t], (1 if lo == 0 else 0, 0))
                mu, log_scale = self.split_params(
                    net(inp.unsqueeze(1), cond[..., lo : t + 1])[..., -1]
                )
                ys[k][:, t] = (ys[k + 1][:, t] - mu) * torch.exp(-log_scale)
                logdet -= log_scale
        return ys[0], logdet

    def log_prob(self, audio: Tensor, mel: Tensor, method: str = "cached") -> Tensor:
        """``log q(audio | mel)`` in nats per utterance, ``[B]``, by sequential inversion.

        ``O(T)`` sequential steps and no gradients: for verification and for scoring audio
        the student did not generate. For its own samples use :meth:`sample_and_log_prob`.
        """
        z, logabsdet = self.inverse(audio, mel, method)
        return self.base.log_prob(z) + logabsdet
