"""What a training run prints on the terminal: pwave's own summary, not Lightning's banners.

A run prints what a user needs -- what trains where (device, precision), for how long
(optimizer steps, time budget) and where the outputs go (the run folder) -- in two lines of
its own (:func:`run_summary`), printed by the main process only. Lightning's inventory of
accelerators ("GPU available ...", "TPU available ..."), its AMP and distributed banners,
its "Seed set to" and checkpoint-restoring notices and its cloud-logging adverts are
dropped (:func:`quiet_lightning`); its model summary table is off by default (the
parameter count is in pwave's summary; ``--trainer.enable_model_summary true`` brings the
table back). Warnings about the user's data or settings are kept.
"""

from __future__ import annotations

import logging
import os
import re
import warnings
from typing import Any

#: Lightning's notices that say nothing about the user's run (regular expressions, searched).
DROPPED_NOTICES = (
    r"^(GPU|TPU|HPU|IPU|MPS) available",
    r"^LOCAL_RANK: \d+ - CUDA_VISIBLE_DEVICES",
    r"Automatic Mixed Precision \(AMP\)",
    r"^Seed set to",
    r"^\[rank: \d+\] Seed set to",
    r"^Initializing distributed: GLOBAL_RANK",
    r"All distributed processes registered",
    r"^Restoring states from the checkpoint path",
    r"^Restored all states from the checkpoint",
    r"litlogger|litmodels",
)

#: The loggers that emit them.
LIGHTNING_LOGGERS = (
    "lightning.pytorch.utilities.rank_zero",
    "lightning.pytorch.accelerators.cuda",
    "lightning.fabric.utilities.seed",
    "lightning.fabric.utilities.distributed",
    "lightning.fabric.utilities.rank_zero",
)

#: Lightning warnings that are about pwave's own, intended set-up (regular expressions).
IGNORED_WARNINGS = (
    # Lightning's own pytree helper under newer torch releases.
    r".*isinstance\(treespec, LeafSpec\).*",
    # The EMA copy (and the student's frozen teacher) are in eval mode on purpose.
    r".*module\(s\) in eval mode.*",
    # ``pwave train <stage> ...`` passes its words on as ``args``; that is intended.
    r".*LightningCLI's args parameter is intended.*",
    # The data module resumes mid-epoch exactly (pwave.train.resume.ResumableDataModule).
    r".*your dataloader is not resumable.*",
    # A resumed run writes into its own checkpoint folder.
    r".*Checkpoint directory .* exists and is not empty.*",
)


class DropNotices(logging.Filter):
    """Drops log records whose message matches one of :data:`DROPPED_NOTICES`."""

    pattern = re.compile("|".join(f"(?:{p})" for p in DROPPED_NOTICES))

    def filter(self, record: logging.LogRecord) -> bool:
        return self.pattern.search(record.getMessage()) is None


def quiet_lightning() -> None:
    """Install the :class:`DropNotices` filter on Lightning's loggers (once) and ignore the
    warnings of :data:`IGNORED_WARNINGS`."""
    for name in LIGHTNING_LOGGERS:
        log = logging.getLogger(name)
        if not any(isinstance(f, DropNotices) for f in log.filters):
            log.addFilter(DropNotices())
    for message in IGNORED_WARNINGS:
        warnings.filterwarnings("ignore", message=message)


def is_main_process() -> bool:
    """Whether this is the process that talks to the user (local rank 0 of node 0); known
    before the trainer starts, from the environment the launcher sets."""
    return os.environ.get("LOCAL_RANK", "0") == "0" and os.environ.get("NODE_RANK", "0") == "0"


def device_text(trainer) -> str:
    """``"cpu (1 device, precision 32-true)"``, ``"cuda NVIDIA H200 (2 devices, ddp, ...)"``."""
    kind = type(trainer.accelerator).__name__.removesuffix("Accelerator").lower() or "device"
    if kind == "cuda":
        import torch

        kind = f"cuda {torch.cuda.get_device_name(trainer.strategy.root_device)}"
    n = int(trainer.num_devices) * int(getattr(trainer, "num_nodes", 1) or 1)
    parts = [f"{n} device{'s' if n != 1 else ''}"]
    if trainer.world_size > 1:
        parts.append(type(trainer.strategy).__name__.removesuffix("Strategy").lower())
    parts.append(f"precision {trainer.precision}")
    return f"{kind} ({', '.join(parts)})"


def duration_text(trainer, max_time: Any = None) -> str:
    """``"300 optimizer steps"``, ``"3000 optimizer steps or 00:00:10:00, whichever comes
    first"``, ``"10 epochs"``."""
    if trainer.max_steps is not None and trainer.max_steps > 0:
        budget = f"{trainer.max_steps} optimizer steps"
    elif trainer.max_epochs is not None and trainer.max_epochs > 0:
        budget = f"{trainer.max_epochs} epochs"
    else:
        budget = "no step limit"
    if max_time:
        budget += f" or {max_time}, whichever comes first"
    return budget


def run_summary(stage: str, trainer, module, run_dir, max_time: Any = None) -> str:
    """pwave's two lines at the start of a run (what, where, how long; the run folder)."""
    params = sum(p.numel() for p in module.model.parameters())
    outputs = ["config.yaml", "checkpoints/"]
    if getattr(module, "export_name", None):
        outputs.append(module.export_name)
    if any(type(logger).__name__ == "TensorBoardLogger" for logger in trainer.loggers):
        outputs.append("TensorBoard events")
    return (
        f"pwave: training the {stage} ({params:,} parameters) on {device_text(trainer)} "
        f"for {duration_text(trainer, max_time)}\n"
        f"pwave: run folder {run_dir} ({', '.join(outputs)})"
    )


def report_health(module, verdict, scalars: dict[str, float]) -> None:
    """Log ``scalars`` and the flag ``health_alarm`` (0 or 1) under the module's stage (e.g.
    ``student/health_alarm``); when ``verdict.alarm`` (a verdict of
    :mod:`pwave.evaluation.health`), also warn on the console (:func:`warnings.warn`, on the
    main process) and add ``verdict.message()`` as TensorBoard text ``<stage>/health``."""
    module.log_scalars({**scalars, "health_alarm": float(verdict.alarm)})
    trainer = module.trainer
    if not verdict.alarm or not trainer.is_global_zero:
        return
    message = verdict.message()
    warnings.warn(message, UserWarning, stacklevel=2)
    for logger in trainer.loggers:
        if type(logger).__name__ == "TensorBoardLogger":
            logger.experiment.add_text(f"{module.stage}/health", message, trainer.global_step)


__all__ = [
    "DROPPED_NOTICES",
    "DropNotices",
    "IGNORED_WARNINGS",
    "LIGHTNING_LOGGERS",
    "device_text",
    "duration_text",
    "is_main_process",
    "quiet_lightning",
    "report_health",
    "run_summary",
]
