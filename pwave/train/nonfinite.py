"""Non-finite losses and gradients: the global gradient norm, and the guard that counts
skipped optimizer steps and stops training after too many in a row."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor, nn

from pwave.errors import NonFiniteTrainingError
from pwave.train.defaults import DEFAULTS


class NonFiniteGuard:
    """Counts skipped optimizer steps; raises after ``max_in_a_row`` consecutive skips.

    Args:
        max_in_a_row: consecutive non-finite steps tolerated; the next one raises
            :class:`NonFiniteTrainingError`. ``0`` raises at the first.
        what: a name for messages (``"teacher"``, ``"student"``).
    """

    def __init__(self, max_in_a_row: int = DEFAULTS.max_nonfinite_in_a_row, what: str = "model"):
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


__all__ = ["NonFiniteGuard", "NonFiniteTrainingError", "grad_norm"]
