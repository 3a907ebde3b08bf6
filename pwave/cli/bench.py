"""`pwave bench`: time the teacher's sequential samplers against the student's parallel pass."""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pwave.apps.bench import BenchSettings


# --------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------
def _list_of(kind: type):
    def parse(text: str):
        return [kind(x) for x in text.replace(",", " ").split() if x]

    return parse


DESCRIPTION = """\
Time, side by side in one run, the teacher's sequential samplers (naive: the receptive
field recomputed every sample; cached: "Fast WaveNet" queues; fused static-buffer step;
CUDA graph on a GPU) against the student's parallel pass (its modules, and the fused
time-major path), plus the two halves of a distillation step.

Models have random weights unless --teacher/--student name trained ones; speed does not
depend on the weights. Each case is warmed up, then timed --repeats times (and on until
--min-time seconds); the median is reported as samples/s and x real time (audio seconds
per wall second), with peak memory. Writes bench.json, bench.md and bench.png into
--output."""

EPILOG = """\
examples:
  pwave bench --threads 2 --output runs/bench          # demo sizes, CPU
  pwave bench --teacher runs/demo/teacher/teacher.pt \\
      --student runs/demo/student/student.pt --output runs/demo/bench
  pwave bench --teacher-config paper --student-config paper --device cuda \\
      --seconds 10 --dtype float32,bfloat16 --compile --output runs/bench-gpu"""


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Options of ``pwave bench`` (also used by ``scripts/bench.py``)."""
    _add_model_options(parser)
    _add_timing_options(parser)
    parser.add_argument(
        "--output",
        default="runs/bench",
        metavar="DIR",
        help="folder for bench.json, bench.md and bench.png (default: runs/bench)",
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return parser


def _add_model_options(parser: argparse.ArgumentParser) -> None:
    """Which teacher and student ``pwave bench`` times."""
    m = parser.add_argument_group("models (random weights unless a checkpoint is given)")
    m.add_argument(
        "--teacher-config",
        default="demo",
        metavar="NAME",
        help="teacher size: a shipped config (demo, the default; paper; debug; ...) or a YAML",
    )
    m.add_argument(
        "--teacher", default=None, metavar="PATH", help="a trained teacher.pt (or .ckpt)"
    )
    m.add_argument(
        "--student-config",
        default="demo",
        metavar="NAME",
        help="student size: a shipped config (demo, the default; paper; debug; ...) or a YAML",
    )
    m.add_argument(
        "--student", default=None, metavar="PATH", help="a trained student.pt (or .ckpt)"
    )


def _add_timing_options(parser: argparse.ArgumentParser) -> None:
    """What ``pwave bench`` times: utterance lengths, batch sizes, repeats."""
    r = parser.add_argument_group("what to time")
    r.add_argument(
        "--batch-sizes",
        type=_list_of(int),
        default=[1],
        metavar="LIST",
        help="comma-separated batch sizes, e.g. 1,4 (default: 1)",
    )
    r.add_argument(
        "--seconds",
        type=float,
        default=1.0,
        metavar="SEC",
        help="utterance length (default: 1)",
    )
    r.add_argument(
        "--teacher-seconds",
        type=float,
        default=None,
        metavar="SEC",
        help="utterance length for the cached teacher samplers (default: --seconds)",
    )
    r.add_argument(
        "--naive-seconds",
        type=float,
        default=0.02,
        metavar="SEC",
        help="audio timed for the naive sampler, at steady state (default: 0.02)",
    )
    r.add_argument(
        "--repeats",
        type=int,
        default=3,
        metavar="N",
        help="timed calls per case; the median is reported (default: 3)",
    )
    r.add_argument(
        "--min-time",
        type=float,
        default=1.0,
        metavar="SEC",
        help="keep timing a case beyond --repeats until its timed calls add up to this many "
        "seconds (short cases get a stabler median; 0: exactly --repeats; default: 1)",
    )
    r.add_argument(
        "--warmup",
        type=int,
        default=1,
        metavar="N",
        help="untimed calls per case first (default: 1)",
    )
    _add_runtime_options(r)


def _add_runtime_options(r: argparse._ArgumentGroup) -> None:
    """Where and how ``pwave bench`` runs the cases: device, dtypes, threads, seed."""
    from pwave.cli import add_option

    r.add_argument(
        "--device", default="auto", help="auto (CUDA if present, the default), cpu, cuda or cuda:N"
    )
    add_option(
        r,
        "--dtype",
        "--dtypes",
        dest="dtypes",
        type=_list_of(str),
        default=["float32"],
        metavar="LIST",
        help="comma-separated dtypes of the student and distillation cases, e.g. "
        "float32,bfloat16 (default: float32; bf16/fp16: autocast for the reference modules, "
        "native dtype for the fused path; --dtypes works too)",
    )
    r.add_argument(
        "--compile", action="store_true", help="also time the torch.compile'd fused student"
    )
    r.add_argument(
        "--threads",
        type=int,
        default=None,
        metavar="N",
        help="torch CPU threads (default: torch's choice)",
    )
    r.add_argument(
        "--seed", type=int, default=0, metavar="N", help="seed of weights and inputs (default: 0)"
    )
    r.add_argument(
        "--cases",
        type=lambda text: [x.strip() for x in text.split(",") if x.strip()],
        default=None,
        metavar="LIST",
        help="comma-separated; only the cases whose name contains one, e.g. 'student fused'",
    )


def settings_from_args(args: argparse.Namespace) -> BenchSettings:
    """The :class:`~pwave.apps.bench.BenchSettings` of parsed ``pwave bench`` arguments."""
    from pwave.apps.bench import BenchSettings

    return BenchSettings(
        teacher_config=args.teacher_config,
        teacher=args.teacher,
        student_config=args.student_config,
        student=args.student,
        batch_sizes=list(args.batch_sizes),
        seconds=args.seconds,
        teacher_seconds=args.teacher_seconds,
        naive_seconds=args.naive_seconds,
        repeats=args.repeats,
        min_time=args.min_time,
        warmup=args.warmup,
        device=args.device,
        dtypes=list(args.dtypes),
        compile=args.compile,
        threads=args.threads,
        seed=args.seed,
        cases=args.cases,
        progress=not args.no_progress,
    )


def run(args: argparse.Namespace) -> int:
    """``pwave bench``: run from parsed arguments; prints the table, writes JSON + PNG."""
    return _run(args, ["pwave", "bench", *getattr(args, "_argv", [])])


def _run(args: argparse.Namespace, command: Sequence[str]) -> int:
    from pwave.apps.bench import format_table, run_benchmark, write_outputs

    settings = settings_from_args(args)
    try:
        report = run_benchmark(settings, command=shlex.join(command))
    except (ValueError, FileNotFoundError) as err:
        from pwave.errors import UserError

        raise UserError(str(err)) from err
    print(format_table(report))
    json_path, png_path = write_outputs(report, args.output)
    print(f"wrote {json_path}, {png_path} and bench.md")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``pwave bench ARGS`` from Python (for scripts and tests); returns the exit code."""
    from pwave.cli import main as pwave_main

    return pwave_main(["bench", *(sys.argv[1:] if argv is None else argv)])
