"""The 2-D target densities of the toy: samplers, and closed-form log-densities where known
(formulas in :mod:`pwave.apps.toy`)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

LOG_2PI = math.log(2.0 * math.pi)


class ToyDensity:
    """A 2-D density: ``sample(n, generator) -> [n, 2]`` and, when known,
    ``log_prob(x [n, 2]) -> [n]`` (nats)."""

    name = "toy"
    has_log_prob = True
    extent = 3.5  # half-width of the square used for pictures

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        raise NotImplementedError

    def log_prob(self, x: Tensor) -> Tensor:
        raise NotImplementedError(f"{self.name} has no closed-form log-density")


@dataclass
class EightGaussians(ToyDensity):
    """Equal mixture of 8 isotropic Gaussians (std ``std``) on a circle of radius ``radius``."""

    radius: float = 2.0
    std: float = 0.2
    name = "8gaussians"

    def centres(self, like: Tensor | None = None) -> Tensor:
        angle = torch.arange(8, dtype=torch.float64) * (2.0 * math.pi / 8.0)
        c = self.radius * torch.stack([torch.cos(angle), torch.sin(angle)], dim=1)
        return c if like is None else c.to(like)

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        k = torch.randint(0, 8, (n,), generator=generator)
        noise = torch.randn(n, 2, generator=generator, dtype=torch.float64)
        return (self.centres()[k] + self.std * noise).float()

    def log_prob(self, x: Tensor) -> Tensor:
        sq = ((x[:, None, :] - self.centres(x)[None]) ** 2).sum(-1)  # [n, 8]
        log_norm = math.log(8.0) + LOG_2PI + 2.0 * math.log(self.std)
        return torch.logsumexp(-0.5 * sq / self.std**2, dim=1) - log_norm


@dataclass
class Ring(ToyDensity):
    """Uniform angle, radius ``N(radius, std^2)`` truncated to ``r > 0``."""

    radius: float = 2.0
    std: float = 0.2
    name = "ring"

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        r = torch.empty(0, dtype=torch.float64)
        while r.numel() < n:  # rejection of r <= 0 (probability ~1e-23 with the defaults)
            draw = self.radius + self.std * torch.randn(n, generator=generator, dtype=torch.float64)
            r = torch.cat([r, draw[draw > 0]])
        theta = 2.0 * math.pi * torch.rand(n, generator=generator, dtype=torch.float64)
        return (r[:n, None] * torch.stack([torch.cos(theta), torch.sin(theta)], dim=1)).float()

    def log_prob(self, x: Tensor) -> Tensor:
        r = x.norm(dim=1)
        log_radial = -0.5 * ((r - self.radius) / self.std) ** 2 - 0.5 * LOG_2PI - math.log(self.std)
        log_trunc = math.log(0.5 * math.erfc(-self.radius / (self.std * math.sqrt(2.0))))
        return log_radial - torch.log(2.0 * math.pi * r) - log_trunc


class Checkerboard(ToyDensity):
    """Uniform on the 8 squares ``[i-2, i-1] x [j-2, j-1]`` with ``i + j`` even."""

    name = "checkerboard"
    extent = 2.5

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        u = torch.rand(n, 2, generator=generator, dtype=torch.float64)
        col = torch.randint(0, 4, (n,), generator=generator)
        row = 2 * torch.randint(0, 2, (n,), generator=generator) + col % 2
        return (torch.stack([col, row], dim=1).double() + u - 2.0).float()

    def log_prob(self, x: Tensor) -> Tensor:
        inside = (x.abs() <= 2.0).all(dim=1)
        cell = torch.floor(x + 2.0).long()
        black = (cell.sum(dim=1) % 2 == 0) & inside
        return torch.where(
            black, x.new_full((x.shape[0],), -math.log(8.0)), x.new_full((x.shape[0],), -math.inf)
        )


class TwoMoons(ToyDensity):
    """Two interleaved half circles with Gaussian noise (std 0.1), scaled by 1.5."""

    name = "moons"
    has_log_prob = False

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        t = math.pi * torch.rand(n, generator=generator, dtype=torch.float64)
        upper = torch.rand(n, generator=generator) < 0.5
        x = torch.where(upper, torch.cos(t), 1.0 - torch.cos(t))
        y = torch.where(upper, torch.sin(t), 0.5 - torch.sin(t))
        pts = torch.stack([x - 0.5, y - 0.25], dim=1)
        pts = pts + 0.1 * torch.randn(n, 2, generator=generator, dtype=torch.float64)
        return (1.5 * pts).float()


DENSITIES: dict[str, type[ToyDensity]] = {
    "8gaussians": EightGaussians,
    "ring": Ring,
    "checkerboard": Checkerboard,
    "moons": TwoMoons,
}


def make_density(name: str) -> ToyDensity:
    """A fresh density by name (one of :data:`DENSITIES`); ``ValueError`` otherwise."""
    try:
        return DENSITIES[name]()
    except KeyError:
        raise ValueError(f"unknown toy density {name!r}; choose from {sorted(DENSITIES)}") from None
