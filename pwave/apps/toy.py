r"""Parallel WaveNet in miniature: a 2-D MAF teacher and its IAF student.

The two stages of Parallel WaveNet on a 2-D density whose log-density is known, so
that both divergences can be measured exactly (up to Monte Carlo error):

1. **Teacher** -- a spline MAF :math:`p_T` fitted by maximum likelihood on fresh data
   samples. Reported: :math:`\mathrm{KL}(p\,\|\,p_T) = \mathbb E_p[\log p - \log p_T]`
   (the teacher NLL on fresh data minus the true entropy :math:`H(p) = -\mathbb E_p \log
   p`; both averaged over the same samples, with the standard error of the paired
   difference).
2. **Student** -- a spline IAF :math:`q` distilled from the frozen teacher by Monte Carlo
   reverse KL: draw :math:`z`, push it through the student (one parallel pass), take
   :math:`\log q` from the cached noise and :math:`\log p_T` from the teacher (whose
   parameters are frozen; gradients flow through its input) and minimise
   :math:`\mathbb E_q[\log q - \log p_T] = \mathrm{KL}(q\,\|\,p_T)`.

Then it times sampling: the teacher samples sequentially (``D`` MADE passes per layer),
the student in parallel (one pass per layer).

Densities (all in 2-D)
----------------------
* ``8gaussians``: an equal-weight mixture of 8 isotropic Gaussians with standard
  deviation :math:`\sigma = 0.2`, centred at :math:`2(\cos\frac{2\pi k}{8},
  \sin\frac{2\pi k}{8})`, :math:`k = 0..7`:
  :math:`\log p(x) = \operatorname{logsumexp}_k \bigl[-\frac{|x - c_k|^2}{2\sigma^2}\bigr]
  - \log 8 - \log(2\pi\sigma^2)`.
* ``ring``: uniform angle, radius :math:`r \sim \mathcal N(2, 0.2^2)` truncated to
  :math:`r > 0`: :math:`p(x) = \mathcal N(r; 2, 0.2^2) / (2\pi r\, \Phi(2/0.2))`.
* ``checkerboard``: uniform on the 8 "black" unit squares of a 4x4 board on
  :math:`[-2, 2]^2` (density 1/8 there, 0 elsewhere).
* ``moons``: two interleaved half circles plus Gaussian noise (std 0.1), scaled by 1.5 and
  centred; a sampler only (no closed-form density, so no teacher KL).

Usage: ``python -m pwave.apps.toy --output runs/toy`` (or ``pwave toy``); writes
``metrics.json`` and ``toy.png`` into the output folder.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor
from tqdm.auto import tqdm

from pwave.flows.autoregressive import IAF, MAF
from pwave.flows.normalizing_flow import NormalizingFlow

LOG_2PI = math.log(2.0 * math.pi)


# --- target densities --------------------------------------------------------------------
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
    try:
        return DENSITIES[name]()
    except KeyError:
        raise ValueError(f"unknown toy density {name!r}; choose from {sorted(DENSITIES)}") from None


# --- training ----------------------------------------------------------------------------
def _cosine_lr(base_lr: float, progress: float) -> float:
    return 0.5 * base_lr * (1.0 + math.cos(math.pi * min(progress, 1.0)))


def _train(
    desc: str,
    params: list[Tensor],
    loss_fn,
    steps: int,
    seconds: float | None,
    lr: float,
    clip: float = 5.0,
) -> list[float]:
    """Adam with a cosine schedule over ``progress = max(step / steps, elapsed / seconds)``;
    ``loss_fn()`` returns the loss of one step."""
    optimizer = torch.optim.Adam(params, lr=lr)
    losses: list[float] = []
    start = time.perf_counter()
    bar = tqdm(total=steps, desc=desc, leave=False, mininterval=1.0)
    for step in range(steps):
        progress = step / steps
        if seconds:
            progress = max(progress, (time.perf_counter() - start) / seconds)
            if progress >= 1.0:
                break
        for group in optimizer.param_groups:
            group["lr"] = _cosine_lr(lr, progress)
        loss = loss_fn()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, clip)
        optimizer.step()
        losses.append(loss.item())
        bar.update(1)
        if step % 50 == 0:
            bar.set_postfix(loss=f"{sum(losses[-50:]) / len(losses[-50:]):.4f}")
    bar.close()
    return losses


def _mean_and_se(values: Tensor) -> tuple[float, float]:
    values = values.double()
    return values.mean().item(), (values.std() / math.sqrt(values.numel())).item()


@torch.no_grad()
def _batched(fn, x: Tensor, chunk: int = 65536) -> Tensor:
    return torch.cat([fn(part) for part in x.split(chunk)])


def _time_sampling(dist: NormalizingFlow, n: int, generator: torch.Generator, repeats: int = 3):
    """Best-of-``repeats`` wall time to draw ``n`` samples (after a small warm-up)."""
    dist.sample(min(n, 1000), generator=generator)
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        dist.sample(n, generator=generator)
        best = min(best, time.perf_counter() - start)
    return best


def _plot(path: Path, density: ToyDensity, data: Tensor, teacher, student_x: Tensor) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lim = density.extent
    bins = 200
    axis = torch.linspace(-lim, lim, bins)
    grid = torch.cartesian_prod(axis, axis)
    panels = [("data samples", data, None)]
    if density.has_log_prob:
        panels.append(("true density", None, density.log_prob(grid).exp()))
    panels.append(("teacher density (MAF)", None, _batched(teacher.log_prob, grid).exp()))
    panels.append(("student samples (IAF)", student_x, None))
    fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 4))
    for ax, (title, samples, dens) in zip(axes, panels):
        if samples is not None:
            ax.hist2d(
                samples[:, 0].numpy(),
                samples[:, 1].numpy(),
                bins=bins,
                range=[[-lim, lim], [-lim, lim]],
                cmap="magma",
            )
        else:
            ax.imshow(
                dens.reshape(bins, bins).T.numpy(),
                origin="lower",
                cmap="magma",
                extent=(-lim, lim, -lim, lim),
            )
        ax.set_title(title)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(path, dpi=80, bbox_inches="tight")
    plt.close(fig)


def _build(kind, layers: int, args) -> NormalizingFlow:
    return kind(
        2,
        args.hidden,
        layers,
        transform=args.flow,
        bins=args.bins,
        bound=args.bound,
        num_hidden=args.num_hidden,
    )


def run_toy(args: argparse.Namespace) -> dict:
    """Train the teacher, distil the student, evaluate, write ``metrics.json`` (and a PNG).

    Returns the metrics dictionary (also written to ``<output>/metrics.json``).
    """
    previous_threads = torch.get_num_threads()
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        return _run(args)
    finally:
        torch.set_num_threads(previous_threads)


def _run(args: argparse.Namespace) -> dict:
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    out_dir = Path(args.output)
    out_dir.mkdir(parents=True, exist_ok=True)
    density = make_density(args.dataset)
    started = time.perf_counter()

    # 1. teacher: maximum likelihood on fresh samples
    teacher = _build(MAF, args.teacher_layers, args)
    teacher_losses = _train(
        "teacher (MAF, max likelihood)",
        list(teacher.parameters()),
        lambda: -teacher.log_prob(density.sample(args.batch_size, gen)).mean(),
        args.teacher_steps,
        args.teacher_seconds,
        args.teacher_lr,
    )
    teacher_time = time.perf_counter() - started
    teacher.eval().requires_grad_(False)

    # 2. student: reverse KL to the frozen teacher, density from the cached noise
    student = _build(IAF, args.student_layers, args)

    def student_loss() -> Tensor:
        x, log_q = student.rsample_and_log_prob(args.batch_size, generator=gen)
        return (log_q - teacher.log_prob(x)).mean()

    student_losses = _train(
        "student (IAF, reverse KL)",
        list(student.parameters()),
        student_loss,
        args.student_steps,
        args.student_seconds,
        args.student_lr,
    )
    student_time = time.perf_counter() - started - teacher_time
    student.eval().requires_grad_(False)

    # 3. evaluation on fresh samples
    n = args.eval_samples
    data = density.sample(n, gen)
    log_p_teacher = _batched(teacher.log_prob, data)
    # The settings, without what the `pwave` CLI adds to the namespace (private, callables).
    config = {k: v for k, v in vars(args).items() if not k.startswith("_") and not callable(v)}
    metrics: dict = {"dataset": args.dataset, "config": config}
    metrics["teacher_nll"], metrics["teacher_nll_se"] = _mean_and_se(-log_p_teacher)
    if density.has_log_prob:
        log_p_true = density.log_prob(data.double())
        metrics["true_entropy"], metrics["true_entropy_se"] = _mean_and_se(-log_p_true)
        kl = log_p_true - log_p_teacher.double()
        metrics["teacher_kl"], metrics["teacher_kl_se"] = _mean_and_se(kl)
    else:
        metrics["teacher_kl"] = metrics["teacher_kl_se"] = None

    with torch.no_grad():
        student_x, log_q = [], []
        for part in range(0, n, 65536):
            x, lq = student.rsample_and_log_prob(min(65536, n - part), generator=gen)
            student_x.append(x)
            log_q.append(lq)
        student_x, log_q = torch.cat(student_x), torch.cat(log_q)
    rkl = log_q - _batched(teacher.log_prob, student_x)
    metrics["student_reverse_kl"], metrics["student_reverse_kl_se"] = _mean_and_se(rkl)
    if density.has_log_prob:
        rkl_true = log_q.double() - density.log_prob(student_x.double())
        kl_data, kl_data_se = _mean_and_se(rkl_true)
        if not math.isfinite(kl_data):  # student samples outside the data's support
            kl_data = kl_data_se = None
        metrics["student_kl_to_data"], metrics["student_kl_to_data_se"] = kl_data, kl_data_se

    # 4. sampling speed: sequential teacher vs parallel student, same number of points
    m = args.time_samples
    t_teacher = _time_sampling(teacher, m, gen)
    t_student = _time_sampling(student, m, gen)
    metrics.update(
        time_samples=m,
        teacher_sample_seconds=t_teacher,
        student_sample_seconds=t_student,
        teacher_samples_per_second=m / t_teacher,
        student_samples_per_second=m / t_student,
        student_speedup=t_teacher / t_student,
        # MADE passes per sample: D = 2 per MAF layer (sequential), 1 per IAF layer
        teacher_made_passes=2 * args.teacher_layers,
        student_made_passes=args.student_layers,
        teacher_train_seconds=teacher_time,
        student_train_seconds=student_time,
        teacher_steps_run=len(teacher_losses),
        student_steps_run=len(student_losses),
        teacher_final_loss=sum(teacher_losses[-50:]) / max(1, len(teacher_losses[-50:])),
        student_final_loss=sum(student_losses[-50:]) / max(1, len(student_losses[-50:])),
        torch_threads=torch.get_num_threads(),
    )

    if not args.no_plot:
        png = out_dir / "toy.png"
        _plot(png, density, data[:50_000], teacher, student_x[:50_000])
        metrics["plot"] = str(png)
    metrics["total_seconds"] = time.perf_counter() - started
    with open(out_dir / "metrics.json", "w") as f:
        json.dump(metrics, f, indent=2)
    return metrics


def summary_text(m: dict) -> str:
    lines = [f"toy ({m['dataset']}): {m['total_seconds']:.1f} s total"]
    if m["teacher_kl"] is not None:
        lines.append(
            f"  teacher KL(data || MAF)     = {m['teacher_kl']:.4f} +- "
            f"{m['teacher_kl_se']:.4f} nats "
            f"(NLL {m['teacher_nll']:.4f}, true entropy {m['true_entropy']:.4f} +- "
            f"{m['true_entropy_se']:.4f})"
        )
    else:
        lines.append(f"  teacher NLL = {m['teacher_nll']:.4f} +- {m['teacher_nll_se']:.4f} nats")
    lines.append(
        f"  student KL(IAF || teacher)  = {m['student_reverse_kl']:.4f} +- "
        f"{m['student_reverse_kl_se']:.4f} nats"
    )
    if m.get("student_kl_to_data") is not None:
        lines.append(
            f"  student KL(IAF || data)     = {m['student_kl_to_data']:.4f} +- "
            f"{m['student_kl_to_data_se']:.4f} nats"
        )
    lines.append(
        f"  sampling {m['time_samples']} points: teacher {m['teacher_samples_per_second']:.3g}/s "
        f"(sequential), student {m['student_samples_per_second']:.3g}/s (parallel), "
        f"speed ratio student/teacher {m['student_speedup']:.2f} "
        f"({m['teacher_made_passes']} vs {m['student_made_passes']} MADE passes per sample)"
    )
    return "\n".join(lines)
