"""Kill-safe training: atomic checkpoints, graceful stops and exact resume.

* :class:`AtomicCheckpointIO`: Lightning's checkpoint writer and reader for pwave runs.
  Writes go through :func:`pwave.serialization.atomic_save` (temporary file, ``fsync``,
  rename), reads through :func:`pwave.serialization.safe_load` (``weights_only=True``: a
  checkpoint that would unpickle anything but tensors and plain containers is refused, even
  when resuming).
* :class:`ResumeCallback`: saves ``last.ckpt`` every N steps (the one writer of that file),
  at the end of the step
  during which ``SIGTERM`` / ``SIGINT`` arrived (then stops training cleanly; a second
  ``Ctrl-C`` aborts at once) and at the last step; keeps, in every checkpoint, the position
  in the data (epoch, batches done) and the global random states (torch, CUDA, numpy,
  python), which it restores when the run resumes.
* :class:`ResumableDataModule`: the :class:`~pwave.train.datamodule.VocoderDataModule` of
  the training commands; a run resumed in the middle of an epoch continues with the very
  batches the uninterrupted run would have seen (the crop sampler's permutation of that
  epoch, minus the batches already done).
* :func:`find_resume_checkpoint`: the newest checkpoint of a run folder.
* :func:`remove_stale_temporaries`: the temporary files of writers that were killed
  mid-save (``<name>.tmp.<pid>``), removed when a run starts.

What a checkpoint restores (issue 8): model, EMA, optimizer, learning-rate schedule and
step counters (Lightning), the non-finite guard's counters and the per-step noise seed
(:class:`~pwave.train.flow_module.FlowTrainingModule`), the data position and random states
(this module and :mod:`pwave.train.random_state`). Training noise (dequantisation, the
student's samples) is drawn per step from a generator seeded by (seed, step, batch, rank),
so a resumed run's losses equal the uninterrupted run's.
"""

from __future__ import annotations

import os
import re
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO
from lightning.pytorch.callbacks import Callback
from torch.utils.data import DataLoader, Sampler

from pwave.serialization import atomic_save, safe_load
from pwave.train.datamodule import VocoderDataModule
from pwave.train.random_state import rng_state, set_rng_state

LAST_CHECKPOINT = "last.ckpt"
CHECKPOINT_DIR = "checkpoints"


# --------------------------------------------------------------------------------------------
# Checkpoint I/O
# --------------------------------------------------------------------------------------------


class AtomicCheckpointIO(TorchCheckpointIO):
    """:class:`TorchCheckpointIO` with atomic writes and weights-only reads.

    ``load_checkpoint`` ignores a ``weights_only=False`` request: pwave checkpoints hold
    tensors and plain containers only, and nothing else is ever unpickled. Remote paths
    (``scheme://``) fall back to Lightning's writer and reader (the latter weights-only too).
    """

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path, storage_options: Any | None = None
    ) -> None:
        if storage_options is not None or "://" in str(path):
            return super().save_checkpoint(checkpoint, path, storage_options)
        atomic_save(checkpoint, path)

    def load_checkpoint(self, path, map_location: Any = None, weights_only: bool | None = None):
        if "://" in str(path):
            return super().load_checkpoint(path, map_location=map_location, weights_only=True)
        if not Path(path).is_file():
            raise FileNotFoundError(f"Checkpoint file not found: {path}")
        return safe_load(path, map_location=map_location)


def find_resume_checkpoint(folder: str | os.PathLike) -> Path | None:
    """The most recently written ``*.ckpt`` in ``folder`` (``last.ckpt`` on a tie), or ``None``.

    Every checkpoint of a run folder holds the whole training state, so the newest one is the
    furthest point the run reached (it is usually ``last.ckpt``).
    """
    folder = Path(folder)
    if not folder.is_dir():
        return None
    found = [p for p in folder.glob("*.ckpt") if p.is_file()]
    if not found:
        return None
    return max(found, key=lambda p: (p.stat().st_mtime_ns, p.name == LAST_CHECKPOINT))


#: A temporary file of :func:`pwave.serialization.atomic_save`: ``<name>.tmp.<pid>``.
TEMPORARY = re.compile(r".+\.tmp\.(?P<pid>\d+)")


def process_is_alive(pid: int) -> bool:
    """Whether process ``pid`` exists (one we may not signal counts as alive)."""
    if pid <= 0:
        return True  # not a process id: never treat as dead
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Delete the ``<name>.tmp.<pid>`` files in ``folder`` whose writer process is gone.

    A writer killed (``SIGKILL``) between creating its temporary file and renaming it into
    place leaves a checkpoint-sized file behind; one such file per kill would pile up. The
    temporaries of live processes (another run writing, or this one) are left alone.
    Returns the paths removed.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed = []
    for path in folder.iterdir():
        match = TEMPORARY.fullmatch(path.name)
        if match is None or not path.is_file() or process_is_alive(int(match["pid"])):
            continue
        try:
            path.unlink()
        except FileNotFoundError:  # its writer's cleanup, or another run's, got there first
            continue
        removed.append(path)
    return removed


# --------------------------------------------------------------------------------------------
# Data position
# --------------------------------------------------------------------------------------------


class SkipFirst(Sampler):
    """Wraps a sampler; its next pass leaves out the first ``skip`` items (later passes are
    whole). ``len`` stays the full length, as the training loop counts the skipped batches
    as done. ``set_epoch`` is passed on."""

    def __init__(self, sampler: Sampler, skip: int):
        self.sampler = sampler
        self.skip = max(int(skip), 0)

    def __len__(self) -> int:
        return len(self.sampler)

    def set_epoch(self, epoch: int) -> None:
        if hasattr(self.sampler, "set_epoch"):
            self.sampler.set_epoch(epoch)

    def __iter__(self) -> Iterator:
        skip, self.skip = self.skip, 0
        for i, item in enumerate(self.sampler):
            if i >= skip:
                yield item


class ResumableDataModule(VocoderDataModule):
    """:class:`VocoderDataModule` whose training loader can start an epoch part-way.

    :class:`ResumeCallback` calls :meth:`resume_position` when a run resumes from a
    checkpoint written at the end of a training step; the next :meth:`train_dataloader` then
    skips the batches of that epoch that were already trained on, so the resumed run sees
    the same batches, in the same order, as an uninterrupted one (the crop sampler's
    permutation of an epoch depends on the seed and the epoch only). A checkpoint from the
    end of an epoch needs nothing: the next epoch starts afresh. Under multi-process
    training (the distributed sampler re-splits the epoch) an interrupted epoch restarts
    from its first batch instead, with a warning.
    """

    _resume_at: tuple[int, int] | None = None

    def resume_position(self, epoch: int, batches_done: int) -> None:
        """Start the next training loader at batch ``batches_done`` of epoch ``epoch``."""
        self._resume_at = (int(epoch), int(batches_done))

    def train_dataloader(self) -> DataLoader:
        loader = super().train_dataloader()
        pending, self._resume_at = self._resume_at, None
        trainer = self.trainer
        if pending is None or trainer is None:
            return loader
        epoch, done = pending
        if trainer.current_epoch != epoch or done <= 0 or done >= len(loader):
            return loader  # at an epoch boundary
        if trainer.world_size > 1:
            from lightning.pytorch.utilities import rank_zero_warn

            rank_zero_warn(
                f"pwave: resuming multi-process training in the middle of epoch {epoch}: the "
                f"epoch restarts from its first batch ({done} batches are seen twice)"
            )
            return loader
        return DataLoader(
            loader.dataset,
            batch_size=loader.batch_size,
            sampler=SkipFirst(loader.sampler, done * int(loader.batch_size)),
            drop_last=loader.drop_last,
            **self._loader_kwargs(),
        )


# --------------------------------------------------------------------------------------------
# The callback
# --------------------------------------------------------------------------------------------


class ResumeCallback(Callback):
    """``last.ckpt`` every N steps, on signals and at the end; data position, random states.

    Every checkpoint it writes is taken at the end of an optimizer step (the state Lightning
    resumes exactly): every ``every_n_steps`` steps (each of them, if several), at the step
    during which ``SIGTERM`` / ``SIGINT`` arrived (then training stops cleanly; a second
    ``Ctrl-C`` aborts at once), and at the last step (``max_steps`` reached, or a stop asked
    for by another callback such as the ``max_time`` timer). Only if training ends in some
    other way (an early stop at validation, ``max_epochs``) is ``last.ckpt`` written when
    training ends. When a fit starts, the temporaries that killed writers left in
    ``dirpath`` are removed (:func:`remove_stale_temporaries`).

    Args:
        dirpath: the checkpoint folder (``<run dir>/checkpoints``); ``last.ckpt`` goes there.
        every_n_steps: interval of the periodic ``last.ckpt``, or several intervals (a save
            at every multiple of any of them); ``None``: no periodic saves.
        save: write checkpoints (``False``: only stop cleanly on a signal).
        signals: the signals that ask for a graceful stop.

    After a signal, :attr:`stop_signal` holds its number (the training commands exit with
    ``128 + signal``). Place it after the callbacks that may stop training and before the
    ``ModelCheckpoint`` callbacks (the training command does).
    """

    def __init__(
        self,
        dirpath: str | os.PathLike,
        every_n_steps: int | Sequence[int] | None = None,
        save: bool = True,
        signals: Sequence[int] = (signal.SIGTERM, signal.SIGINT),
    ):
        self.dirpath = Path(dirpath)
        if every_n_steps is None:
            every_n_steps = ()
        elif isinstance(every_n_steps, int):
            every_n_steps = (every_n_steps,)
        self.every_n_steps = tuple(sorted({int(n) for n in every_n_steps if n and n > 0}))
        self.save = save
        self.signals = tuple(signals)
        self.stop_signal: int | None = None
        self.epoch = 0
        self.batches_done = 0
        self._saved_step = -1
        self._received: int | None = None
        self._previous: dict[int, Any] = {}
        self._rng_to_restore: dict[str, Any] | None = None

    @property
    def state_key(self) -> str:
        return "PwaveResume"

    @property
    def last_path(self) -> Path:
        return self.dirpath / LAST_CHECKPOINT

    # -- signals ---------------------------------------------------------------------------
    def _handler(self, signum: int, frame) -> None:
        name = signal.Signals(signum).name
        if self._received is not None and signum == signal.SIGINT:
            self._restore_handlers()
            raise KeyboardInterrupt
        self._received = signum
        what = f"save {self.last_path} and " if self.save else ""
        print(
            f"pwave: received {name}: will {what}stop at the end of this training step "
            "(Ctrl-C again to abort at once)",
            file=sys.stderr,
            flush=True,
        )

    def _install_handlers(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for s in self.signals:
            self._previous[s] = signal.getsignal(s)
            signal.signal(s, self._handler)

    def _restore_handlers(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for s, previous in self._previous.items():
            signal.signal(s, previous if previous is not None else signal.SIG_DFL)
        self._previous = {}

    # -- hooks -----------------------------------------------------------------------------
    def setup(self, trainer, pl_module, stage: str) -> None:
        if stage == "fit" and self.save and trainer.is_global_zero:
            remove_stale_temporaries(self.dirpath)

    def on_train_start(self, trainer, pl_module) -> None:
        if self._rng_to_restore is not None:
            set_rng_state(self._rng_to_restore)
            self._rng_to_restore = None
        self._received = None
        self.stop_signal = None
        self._saved_step = trainer.global_step  # the state it starts from is saved already
        self._install_handlers()

    def _save(self, trainer) -> None:
        if self.save and trainer.global_step != self._saved_step:
            trainer.save_checkpoint(self.last_path, weights_only=False)
            self._saved_step = trainer.global_step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        self.epoch, self.batches_done = trainer.current_epoch, batch_idx + 1
        signalled = self._received is not None
        if trainer.world_size > 1:  # every process must take part in the save
            signalled = bool(trainer.strategy.reduce_boolean_decision(signalled, all=False))
        if signalled:
            self.stop_signal = self._received or signal.SIGTERM
            trainer.should_stop = True
        step = trainer.global_step
        last = trainer.should_stop or (0 < trainer.max_steps <= step)
        periodic = any(step % n == 0 for n in self.every_n_steps)
        if last or periodic:
            self._save(trainer)

    def on_train_end(self, trainer, pl_module) -> None:
        if trainer.global_step > 0:
            self._save(trainer)
        self._restore_handlers()

    def on_exception(self, trainer, pl_module, exception: BaseException) -> None:
        self._restore_handlers()

    def teardown(self, trainer, pl_module, stage: str) -> None:
        self._restore_handlers()

    # -- state -----------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "batches_done": self.batches_done, "rng": rng_state()}

    def on_load_checkpoint(self, trainer, pl_module, checkpoint: dict[str, Any]) -> None:
        state = (checkpoint.get("callbacks") or {}).get(self.state_key)
        if not state:
            return
        self.epoch = int(state.get("epoch", 0))
        self.batches_done = int(state.get("batches_done", 0))
        self._rng_to_restore = state.get("rng")
        datamodule = trainer.datamodule
        if hasattr(datamodule, "resume_position"):
            datamodule.resume_position(self.epoch, self.batches_done)


def stop_signal(trainer) -> int | None:
    """The signal that stopped ``trainer``'s last fit (``None`` if none did)."""
    for cb in getattr(trainer, "callbacks", []):
        if isinstance(cb, ResumeCallback) and cb.stop_signal is not None:
            return cb.stop_signal
    return None


__all__ = [
    "AtomicCheckpointIO",
    "ResumableDataModule",
    "ResumeCallback",
    "SkipFirst",
    "find_resume_checkpoint",
    "process_is_alive",
    "remove_stale_temporaries",
    "stop_signal",
]
