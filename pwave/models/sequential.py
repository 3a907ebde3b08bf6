r"""Sequential sampling from the WaveNet teacher: the cached sampler and the naive reference.

**Cached** (:class:`CachedTeacherSampler`): one :class:`~pwave.nn.incremental.IncrementalWaveNet`
per flow, so producing one sample costs ``O(layers)`` small matrix products.

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
from pwave.nn.incremental import IncrementalWaveNet

if TYPE_CHECKING:
    from pwave.models.teacher import Teacher


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
