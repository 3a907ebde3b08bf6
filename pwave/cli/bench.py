"""`pwave bench`: the command line of :mod:`pwave.apps.bench`."""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence

from pwave.apps.bench import (
    BenchSettings,
    format_table,
    run_benchmark,
    write_outputs,
)


# --------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------
def _list_of(kind: type):
    def parse(text: str):
        return [kind(x) for x in text.replace(",", " ").split() if x]

    return parse


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Options of ``pwave bench`` (also used by ``scripts/bench.py``)."""
    m = parser.add_argument_group("models (random weights unless a checkpoint is given)")
    m.add_argument("--teacher-config", default="demo", help="demo | paper | tiny | PATH.yaml")
    m.add_argument("--teacher", default=None, metavar="CKPT", help="teacher checkpoint")
    m.add_argument("--student-config", default="demo", help="demo | paper | tiny | PATH.yaml")
    m.add_argument("--student", default=None, metavar="CKPT", help="student checkpoint")
    r = parser.add_argument_group("what to time")
    r.add_argument("--batch-sizes", type=_list_of(int), default=[1], help="e.g. '1,4' (default 1)")
    r.add_argument("--seconds", type=float, default=1.0, help="utterance length (default 1 s)")
    r.add_argument(
        "--teacher-seconds",
        type=float,
        default=None,
        help="utterance length for the cached teacher samplers (default: --seconds)",
    )
    r.add_argument(
        "--naive-seconds",
        type=float,
        default=0.02,
        help="samples timed for the naive sampler, at steady state (default 0.02 s)",
    )
    r.add_argument("--repeats", type=int, default=3, help="timed calls per case (median)")
    r.add_argument(
        "--min-time",
        type=float,
        default=1.0,
        help="keep timing a case beyond --repeats until its timed calls add up to this many "
        "seconds (short cases get a stabler median; 0: exactly --repeats)",
    )
    r.add_argument("--warmup", type=int, default=1, help="untimed calls per case first")
    r.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    r.add_argument(
        "--dtypes",
        type=_list_of(str),
        default=["float32"],
        help="student/distillation dtypes, e.g. 'float32,bfloat16' (bf16/fp16 = autocast "
        "for the reference modules, native dtype for the fused path)",
    )
    r.add_argument("--compile", action="store_true", help="also time torch.compile'd student")
    r.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument(
        "--cases",
        type=lambda text: [x.strip() for x in text.split(",") if x.strip()],
        default=None,
        help="comma-separated; only cases whose name contains one, e.g. 'student fused'",
    )
    parser.add_argument("--output", default="runs/bench", help="folder for bench.json/.png")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def settings_from_args(args: argparse.Namespace) -> BenchSettings:
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
