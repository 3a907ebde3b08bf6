"""A Lightning callback for tests: one JSON line per optimizer step (test-only).

``--trainer.callbacks+=helpers.step_log.StepLog`` appends ``{"step", "loss", "ids",
"starts"}`` after every training batch to the file named by ``$PWAVE_TEST_STEPS``, so two
runs can be compared step by step (same batches, same losses).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from lightning.pytorch.callbacks import Callback

ENV = "PWAVE_TEST_STEPS"


class StepLog(Callback):
    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        row = {
            "step": int(trainer.global_step),
            "loss": float(loss),
            "ids": list(batch["id"]),
            "starts": [int(s) for s in batch["start_frame"]],
        }
        with open(os.environ[ENV], "a") as f:
            f.write(json.dumps(row) + "\n")


def read_steps(path: str | os.PathLike) -> dict[int, dict]:
    """The rows written to ``path``, by step (a later row for a step replaces an earlier)."""
    path = Path(path)
    if not path.is_file():
        return {}
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return {row["step"]: row for row in rows}
