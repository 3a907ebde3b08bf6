r"""The LightningModule base class of both training stages.

:class:`FlowTrainingModule` wires together Adam with the learning-rate schedule
(:mod:`pwave.train.schedule`), the weight average (:mod:`pwave.train.ema`), gradient-norm
logging and the non-finite guard (:mod:`pwave.train.nonfinite`); its arguments and their
defaults are those of :mod:`pwave.train.defaults`. Subclasses implement
:meth:`FlowTrainingModule.training_loss`.
"""

from __future__ import annotations

from pathlib import Path

import lightning.pytorch as pl
import numpy as np
import torch
from torch import Tensor, nn

from pwave.train.defaults import DEFAULTS
from pwave.train.ema import EMA
from pwave.train.nonfinite import NonFiniteGuard, grad_norm
from pwave.train.schedule import DecayKind, lr_factor


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
        lr: float = DEFAULTS.lr,
        betas: tuple[float, float] = DEFAULTS.betas,
        weight_decay: float = DEFAULTS.weight_decay,
        warmup_steps: int = DEFAULTS.warmup_steps,
        lr_decay: DecayKind = DEFAULTS.lr_decay,
        lr_decay_steps: int | None = DEFAULTS.lr_decay_steps,
        lr_decay_rate: float = DEFAULTS.lr_decay_rate,
        lr_min_ratio: float = DEFAULTS.lr_min_ratio,
        ema_decay: float = DEFAULTS.ema_decay,
        max_nonfinite_in_a_row: int = DEFAULTS.max_nonfinite_in_a_row,
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


__all__ = ["FlowTrainingModule", "audio_and_mel"]
