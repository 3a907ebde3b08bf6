"""What a benchmark run depends on (:class:`BenchSettings`) and the dtypes it knows."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

DTYPES = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
    "float16": torch.float16,
    "fp16": torch.float16,
}


@dataclass
class BenchSettings:
    """Everything a benchmark run depends on (the CLI fills it from its arguments)."""

    teacher_config: str = "demo"
    teacher: str | None = None
    student_config: str = "demo"
    student: str | None = None
    batch_sizes: list[int] = field(default_factory=lambda: [1])
    seconds: float = 1.0
    teacher_seconds: float | None = None
    naive_seconds: float = 0.02
    repeats: int = 3
    min_time: float = 1.0
    warmup: int = 1
    device: str = "auto"
    dtypes: list[str] = field(default_factory=lambda: ["float32"])
    compile: bool = False
    threads: int | None = None
    seed: int = 0
    cases: list[str] | None = None
    progress: bool = True

    def check_dtypes(self) -> None:
        """Raise ``ValueError`` naming the first dtype not in :data:`DTYPES`."""
        for name in self.dtypes:
            if name not in DTYPES:
                raise ValueError(f"unknown dtype {name!r}; choose from {sorted(DTYPES)}")
