r"""Benchmark sampling and the distillation passes of a teacher and a student.

``pwave bench`` (or ``python scripts/bench.py``) times, side by side in one run, for each
batch size:

* **teacher naive** -- the reference sequential sampler that reruns the WaveNet over the
  whole receptive field for every sample; timed at steady state (every step sees a full
  receptive-field window) for ``--naive-seconds`` of samples, since its per-sample cost
  no longer depends on the utterance length there;
* **teacher cached** -- the reference "Fast WaveNet" sampler
  (:mod:`pwave.nn.incremental`), eager;
* **teacher cached fused** -- the allocation-free static-buffer step of
  :mod:`pwave.sampling.cuda_graph`, eager, and **teacher cached cuda-graph** -- the same step
  captured once in a CUDA graph and replayed per sample (CUDA only);
* **student ref** / **student fused** -- the student's one-pass sampler: the reference
  module (float32, or under ``torch.autocast`` for bf16/fp16) and the fused time-major path
  of :mod:`pwave.sampling.time_major` (in the requested dtype, optionally ``torch.compile``-d);
* **teacher density** and **student sample+logq** -- the two halves of a distillation step
  (forward passes with autograd recording, as in training).

Each case: warm-up calls, then ``--repeats`` timed calls (CUDA synchronised around each),
continued until they add up to ``--min-time`` seconds; the median is reported, with peak
memory (CUDA: ``max_memory_allocated``; CPU: the process's peak resident set size so far).
Outputs: a table on the terminal (samples/s, x real time at the model's sample rate,
speed-up vs the naive teacher at the same batch), ``bench.json``, ``bench.md`` and
``bench.png`` (log-axis bar chart) in ``--output``, and a few lines stating the project's
speed bars and whether this run meets them (information only).

Modules: :mod:`~pwave.apps.bench.models` (presets, YAML, checkpoints),
:mod:`~pwave.apps.bench.settings`, :mod:`~pwave.apps.bench.cases` (what is timed),
:mod:`~pwave.apps.bench.timing`, :mod:`~pwave.apps.bench.run`,
:mod:`~pwave.apps.bench.bars`, :mod:`~pwave.apps.bench.report` (table, Markdown),
:mod:`~pwave.apps.bench.plot` and :mod:`~pwave.apps.bench.outputs` (files).

Example (CPU, demo sizes)::

    pwave bench --teacher-config demo --student-config demo --threads 2 --output runs/bench
"""

from pwave.apps.bench.bars import BARS, evaluate_bars
from pwave.apps.bench.cases import Case, build_cases, naive_steps
from pwave.apps.bench.models import (
    describe_model,
    resolve_student,
    resolve_teacher,
)
from pwave.apps.bench.outputs import write_outputs
from pwave.apps.bench.plot import bench_figure, plot_report
from pwave.apps.bench.report import format_markdown, format_table
from pwave.apps.bench.run import CaseResult, run_benchmark
from pwave.apps.bench.settings import DTYPES, BenchSettings
from pwave.apps.bench.timing import time_call

__all__ = [
    "BARS",
    "DTYPES",
    "BenchSettings",
    "Case",
    "CaseResult",
    "bench_figure",
    "build_cases",
    "describe_model",
    "evaluate_bars",
    "format_markdown",
    "format_table",
    "naive_steps",
    "plot_report",
    "resolve_student",
    "resolve_teacher",
    "run_benchmark",
    "time_call",
    "write_outputs",
]
