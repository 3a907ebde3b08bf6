"""Benchmark the teacher's and the student's samplers and distillation passes.

Same as ``pwave bench``; see :mod:`pwave.apps.bench` for what is timed. Examples::

    # CPU, demo sizes (docs/benchmarks.md)
    python scripts/bench.py --teacher-config demo --student-config demo --threads 2

    # GPU, paper sizes, bf16 + torch.compile, CUDA-graph teacher
    python scripts/bench.py --device cuda --teacher-config paper --student-config paper \\
        --seconds 10 --teacher-seconds 1 --dtypes float32,bfloat16 --compile
"""

from __future__ import annotations

import sys

from pwave.cli.bench import main

if __name__ == "__main__":
    sys.exit(main())
