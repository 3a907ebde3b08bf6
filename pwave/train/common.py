r"""Training machinery shared by the teacher and student stages.

* :func:`bits_per_sample`: the one conversion from a log-density in nats to bits per
  16-bit sample.
* :class:`EMA`: an exponential moving average of a model's weights (used for validation,
  export and checkpoints).
* :func:`lr_factor`: linear warm-up, then exponential or cosine decay.
* :class:`NonFiniteGuard`: counts optimizer steps skipped for a non-finite loss or gradient
  and stops training after too many in a row.
* :class:`FlowTrainingModule`: a :class:`~lightning.pytorch.LightningModule` base class that
  wires the above together (Adam, schedule, gradient-norm logging, the guard, the EMA).
  Subclasses implement :meth:`FlowTrainingModule.training_loss`.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import lightning.pytorch as pl
import numpy as np
import torch
from torch import Tensor, nn

from pwave.errors import NonFiniteTrainingError  # noqa: F401
from pwave.units import BIN_WIDTH_16BIT, bits_per_sample  # noqa: F401

DecayKind = Literal["none", "exponential", "cosine"]





# --------------------------------------------------------------------------------------------
# Exponential moving average of weights
# --------------------------------------------------------------------------------------------


class EMA(nn.Module):
    r"""A frozen copy of a model whose weights track the model's by an exponential average.

    After each optimizer step, :meth:`update` sets, for every floating-point parameter and
    buffer,

    .. math:: \bar\theta \leftarrow d\,\bar\theta + (1 - d)\,\theta,

    with :math:`d = \min(\text{decay}, (1 + n) / (10 + n))` after :math:`n` earlier updates
    when ``warmup`` is on (so the average forgets the random initialisation quickly), else
    ``decay``. Non-float buffers are copied. The copy stays in eval mode and never requires
    gradients; as a submodule of a ``LightningModule`` it is saved in every checkpoint.

    Args:
        model: the model to track (deep-copied once here).
        decay: :math:`d`, in ``[0, 1]``; 0 copies the model at each update.
        warmup: use the :math:`(1+n)/(10+n)` ramp.
    """

    def __init__(self, model: nn.Module, decay: float = 0.9999, warmup: bool = True):
        super().__init__()
        if not 0.0 <= decay <= 1.0:
            raise ValueError(f"EMA decay must be in [0, 1], got {decay}")
        self.decay = float(decay)
        self.warmup = bool(warmup)
        self.module = copy.deepcopy(model)
        self.module.requires_grad_(False)
        self.module.eval()
        self.register_buffer("num_updates", torch.zeros((), dtype=torch.long))

    def train(self, mode: bool = True) -> EMA:
        """The average always stays in eval mode."""
        return super().train(False)

    def current_decay(self) -> float:
        """The decay the next :meth:`update` uses."""
        if not self.warmup:
            return self.decay
        n = int(self.num_updates)
        return min(self.decay, (1.0 + n) / (10.0 + n))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """One averaging step towards ``model`` (same architecture as the tracked copy)."""
        d = self.current_decay()
        ema_params = list(self.module.parameters())
        params = list(model.parameters())
        if len(ema_params) != len(params):
            raise ValueError("EMA.update: the model does not match the tracked copy")
        for e, p in zip(ema_params, params):
            e.lerp_(p.detach().to(e.dtype), 1.0 - d)
        for e, b in zip(self.module.buffers(), model.buffers()):
            if e.is_floating_point():
                e.lerp_(b.detach().to(e.dtype), 1.0 - d)
            else:
                e.copy_(b)
        self.num_updates += 1

    @torch.no_grad()
    def reset(self, model: nn.Module) -> None:
        """Copy ``model``'s weights into the average and restart the warm-up."""
        self.module.load_state_dict(model.state_dict())
        self.num_updates.zero_()

    def forward(self, *args, **kwargs):
        return self.module(*args, **kwargs)


# --------------------------------------------------------------------------------------------
# Learning-rate schedule
# --------------------------------------------------------------------------------------------


def lr_factor(
    step: int,
    warmup_steps: int = 0,
    decay: DecayKind = "exponential",
    decay_steps: int = 100_000,
    decay_rate: float = 0.5,
    min_ratio: float = 0.0,
) -> float:
    r"""Multiplier of the base learning rate at optimizer step ``step`` (0-based).

    * warm-up, ``step < warmup_steps``: :math:`(\text{step} + 1) / \text{warmup\_steps}`;
    * then, with :math:`t = \text{step} - \text{warmup\_steps}` and
      :math:`r` = ``min_ratio``, :math:`r + (1 - r)\,f(t)` where :math:`f` is

      - ``"none"``: 1;
      - ``"exponential"``: :math:`\text{decay\_rate}^{\,t / \text{decay\_steps}}`
        (the rate is multiplied by ``decay_rate`` every ``decay_steps`` steps);
      - ``"cosine"``: :math:`\tfrac12\,(1 + \cos(\pi \min(t / \text{decay\_steps}, 1)))`.
    """
    if step < 0:
        raise ValueError(f"step must be >= 0, got {step}")
    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / warmup_steps
    t = step - max(warmup_steps, 0)
    if decay == "none":
        f = 1.0
    elif decay == "exponential":
        f = decay_rate ** (t / max(decay_steps, 1))
    elif decay == "cosine":
        f = 0.5 * (1.0 + math.cos(math.pi * min(t / max(decay_steps, 1), 1.0)))
    else:
        raise ValueError(f"unknown lr decay {decay!r}; use 'none', 'exponential' or 'cosine'")
    return min_ratio + (1.0 - min_ratio) * f


# --------------------------------------------------------------------------------------------
# Non-finite guard
# --------------------------------------------------------------------------------------------


class NonFiniteGuard:
    """Counts skipped optimizer steps; raises after ``max_in_a_row`` consecutive skips.

    Args:
        max_in_a_row: consecutive non-finite steps tolerated; the next one raises
            :class:`NonFiniteTrainingError`. ``0`` raises at the first.
        what: a name for messages (``"teacher"``, ``"student"``).
    """

    def __init__(self, max_in_a_row: int = 10, what: str = "model"):
        if max_in_a_row < 0:
            raise ValueError(f"max_in_a_row must be >= 0, got {max_in_a_row}")
        self.max_in_a_row = max_in_a_row
        self.what = what
        self.total = 0
        self.in_a_row = 0

    def record(self, nonfinite: bool, step: int | None = None, detail: str = "") -> None:
        """Note one optimizer step; raise if it makes too many non-finite ones in a row."""
        if not nonfinite:
            self.in_a_row = 0
            return
        self.total += 1
        self.in_a_row += 1
        if self.in_a_row > self.max_in_a_row:
            where = f" (last at global step {step})" if step is not None else ""
            raise NonFiniteTrainingError(
                f"{self.what} training stopped: {self.in_a_row} optimizer steps in a row had a "
                f"non-finite loss or gradient{where}{': ' + detail if detail else ''}. "
                "Each was skipped, but training is not recovering. Try a lower learning rate "
                "(--model.lr), a longer warm-up (--model.warmup_steps), gradient clipping "
                "(--trainer.gradient_clip_val), float32 or bf16-mixed instead of 16-mixed "
                "(--trainer.precision), and check the data for NaNs; or tolerate more with "
                "--model.max_nonfinite_in_a_row."
            )

    def state_dict(self) -> dict[str, int]:
        return {"total": self.total, "in_a_row": self.in_a_row}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.total = int(state.get("total", 0))
        self.in_a_row = int(state.get("in_a_row", 0))


def grad_norm(parameters: Iterator[nn.Parameter] | list[nn.Parameter]) -> Tensor:
    """Global L2 norm of the gradients (float32, ``nan``/``inf`` if any is non-finite)."""
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return torch.zeros(())
    norms = torch.stack([torch.linalg.vector_norm(g.detach().float()) for g in grads])
    return torch.linalg.vector_norm(norms)


# --------------------------------------------------------------------------------------------
# The LightningModule base class
# --------------------------------------------------------------------------------------------


class FlowTrainingModule(pl.LightningModule):
    """Adam + warm-up/decay schedule, EMA, gradient-norm logging and the non-finite guard.

    Subclasses set :attr:`stage` (the TensorBoard prefix), build ``self.model`` (the trained
    ``nn.Module``) and then call :meth:`init_ema`, and implement :meth:`training_loss`.

    The loss is shown in the progress bar; the ``logs`` of :meth:`training_loss` go to the
    logger under ``<stage>/``. Per optimizer step this logs ``<stage>/grad_norm`` (before
    clipping), ``<stage>/lr`` and ``<stage>/nonfinite_steps`` (steps skipped so far). A step
    is skipped -- every gradient is dropped so that Adam changes neither weights nor
    moments -- when the loss of any micro-batch, on any device, or the gradient is
    non-finite; the decision is shared by all processes so that replicas stay identical.

    Mixed precision: losses are cast to float32 before they are logged or returned.

    Resume: the EMA is updated right after each optimizer step (inside
    :meth:`optimizer_step`), so a checkpoint written at the end of the batch holds matching
    weights and EMA; training noise comes from :meth:`step_generator`, a pure function of
    the seed and the position in training; the guard's counters and the noise seed are
    saved in checkpoints (see :mod:`pwave.train.resume`).
    """

    stage: str = "flow"

    def __init__(
        self,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        weight_decay: float = 0.0,
        warmup_steps: int = 1000,
        lr_decay: DecayKind = "exponential",
        lr_decay_steps: int | None = 200_000,
        lr_decay_rate: float = 0.5,
        lr_min_ratio: float = 0.0,
        ema_decay: float = 0.9999,
        max_nonfinite_in_a_row: int = 10,
    ):
        super().__init__()
        self.lr = lr
        self.betas = tuple(betas)
        self.weight_decay = weight_decay
        self.warmup_steps = warmup_steps
        self.lr_decay = lr_decay
        self.lr_decay_steps = lr_decay_steps
        self.lr_decay_rate = lr_decay_rate
        self.lr_min_ratio = lr_min_ratio
        self.ema_decay = ema_decay
        self.guard = NonFiniteGuard(max_nonfinite_in_a_row, what=self.stage)
        # Seed of the per-step training noise (see step_generator); the seed of
        # ``seed_everything`` when one was set. Kept in checkpoints.
        self.noise_seed = int(torch.initial_seed())
        self._batch_idx = 0
        self._pending_nonfinite_loss = False
        self._stepped = False
        lr_factor(0, warmup_steps, lr_decay, lr_decay_steps or 1, lr_decay_rate, lr_min_ratio)

    # -- to implement ------------------------------------------------------------------------
    def training_loss(self, batch) -> tuple[Tensor, dict[str, Tensor]]:
        """``(loss, logs)`` for one batch: a scalar to minimise and scalars to log."""
        raise NotImplementedError

    # -- helpers -----------------------------------------------------------------------------
    def init_ema(self) -> None:
        """Create ``self.ema`` from ``self.model`` (call after building the model)."""
        self.ema = EMA(self.model, decay=self.ema_decay)

    def step_generator(self, device: torch.device | str | None = None) -> torch.Generator:
        """A generator for the random draws of the current training step.

        Seeded with a hash of (:attr:`noise_seed`, global step, batch index, process rank):
        each step's noise is a pure function of the seed and the position in training, so a
        resumed run draws exactly what the uninterrupted run drew, and processes under DDP
        draw different noise. ``device`` defaults to the module's.
        """
        device = torch.device(self.device if device is None else device)
        rank = self.global_rank if self._trainer is not None else 0
        step = self.global_step if self._trainer is not None else 0
        words = [self.noise_seed % 2**63, step, self._batch_idx, rank]
        seed = int(np.random.SeedSequence(words).generate_state(1, dtype=np.uint64)[0])
        return torch.Generator(device=device).manual_seed(seed)

    def trainable_parameters(self) -> list[nn.Parameter]:
        return [p for p in self.model.parameters() if p.requires_grad]

    def log_scalars(self, logs: dict[str, Tensor | float], **kwargs) -> None:
        """Log ``logs`` under ``<stage>/``, as float32 scalars."""
        out = {}
        for k, v in logs.items():
            v = torch.as_tensor(v).detach()
            out[f"{self.stage}/{k}"] = v.float().mean() if v.numel() != 1 else v.float().reshape(())
        self.log_dict(out, **kwargs)

    # -- Lightning hooks ---------------------------------------------------------------------
    def configure_optimizers(self):
        optimizer = torch.optim.Adam(
            self.trainable_parameters(),
            lr=self.lr,
            betas=self.betas,
            weight_decay=self.weight_decay,
        )
        decay_steps = self.lr_decay_steps
        if decay_steps is None:  # decay over the whole run
            total = int(self.trainer.estimated_stepping_batches)
            decay_steps = max(total - self.warmup_steps, 1)

        def factor(step: int) -> float:
            return lr_factor(
                step,
                self.warmup_steps,
                self.lr_decay,
                decay_steps,
                self.lr_decay_rate,
                self.lr_min_ratio,
            )

        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "step", "frequency": 1},
        }

    def training_step(self, batch, batch_idx: int) -> Tensor:
        self._batch_idx = batch_idx
        loss, logs = self.training_loss(batch)
        loss = loss.float()
        if not bool(torch.isfinite(loss.detach())):
            self._pending_nonfinite_loss = True
        bs = _batch_size(batch)
        self.log("loss", loss.detach(), prog_bar=True, logger=False, batch_size=bs)
        self.log_scalars(logs, batch_size=bs)
        return loss

    def _uses_grad_scaler(self) -> bool:
        plugin = getattr(self.trainer, "precision_plugin", None)
        return getattr(plugin, "scaler", None) is not None

    def on_before_optimizer_step(self, optimizer) -> None:
        params = self.trainable_parameters()
        norm = grad_norm(params).to(self.device)
        bad_loss = self._pending_nonfinite_loss
        self._pending_nonfinite_loss = False
        local_bad = bad_loss or not bool(torch.isfinite(norm))
        bad = bool(self.trainer.strategy.reduce_boolean_decision(local_bad, all=False))
        if bad:
            for p in self.model.parameters():
                p.grad = None
            self._stepped = False
            # With a 16-bit grad scaler, overflowing gradients are routine (the scaler backs
            # off); only a non-finite loss counts towards the abort then.
            counts = bad_loss or not self._uses_grad_scaler()
            if counts:
                self.guard.record(
                    True,
                    step=self.global_step,
                    detail="non-finite loss" if bad_loss else f"gradient norm {float(norm)}",
                )
            else:
                self.guard.total += 1
        else:
            self.guard.record(False)
            self._stepped = True
            self.log(f"{self.stage}/grad_norm", norm, on_step=True, on_epoch=False)
        self.log(f"{self.stage}/lr", float(optimizer.param_groups[0]["lr"]), on_step=True)
        self.log(
            f"{self.stage}/nonfinite_steps",
            float(self.guard.total),
            on_step=True,
            on_epoch=False,
        )

    def optimizer_step(self, epoch: int, batch_idx: int, optimizer, optimizer_closure=None):
        """The optimizer step, then the EMA update (right away, so that every checkpoint
        written at the end of the batch holds an EMA that matches the weights)."""
        out = super().optimizer_step(epoch, batch_idx, optimizer, optimizer_closure)
        if self._stepped:
            self._stepped = False
            self.ema.update(self.model)
        return out

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["pwave_nonfinite_guard"] = self.guard.state_dict()
        checkpoint["pwave_noise_seed"] = self.noise_seed

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        if "pwave_nonfinite_guard" in checkpoint:
            self.guard.load_state_dict(checkpoint["pwave_nonfinite_guard"])
        if "pwave_noise_seed" in checkpoint:
            self.noise_seed = int(checkpoint["pwave_noise_seed"])

    #: File name of the exported EMA model in the run folder (``None``: no export).
    export_name: str | None = None

    def on_train_end(self) -> None:
        self.export()

    def export(self, path: str | Path | None = None) -> Path | None:
        """Save the EMA model with its own ``save`` (default ``<run dir>/<export_name>``).

        Only the global-zero process writes; returns the path written (``None`` elsewhere).
        """
        if path is None:
            if self.export_name is None:
                return None
            if self._trainer is None:
                raise ValueError("export() outside a Trainer needs a path")
            path = Path(self.trainer.default_root_dir) / self.export_name
        if self._trainer is not None and not self.trainer.is_global_zero:
            return None
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.ema.module.save(path)
        return path


def audio_and_mel(batch) -> tuple[Tensor, Tensor]:
    """``(audio [B, T], mel [B, n_mels, F])`` from a data-module batch (dict or pair)."""
    if isinstance(batch, dict):
        return batch["audio"], batch["mel"]
    audio, mel = batch[0], batch[1]
    return audio, mel


def _batch_size(batch) -> int | None:
    if isinstance(batch, dict) and isinstance(batch.get("audio"), Tensor):
        return int(batch["audio"].shape[0])
    if isinstance(batch, (tuple, list)) and batch and isinstance(batch[0], Tensor):
        return int(batch[0].shape[0])
    if isinstance(batch, Tensor):
        return int(batch.shape[0])
    return None
