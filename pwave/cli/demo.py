"""`pwave demo`: the whole pipeline on the built-in demo corpus, in one command."""

from __future__ import annotations

import argparse
from pathlib import Path

DESCRIPTION = """\
The whole pipeline on the built-in demo corpus (procedural speech-like audio, nothing to
download), on a CPU, in one command: about 17 minutes on a quiet 2-core CPU. The budgets
are optimizer steps, so the same command gives the same models on any machine; a busy
one only takes longer.

  1. prepare the demo corpus                 -> OUTPUT/data
  2. train the teacher (maximum likelihood)  -> OUTPUT/teacher/teacher.pt
  3. distil the student from the teacher     -> OUTPUT/student/student.pt
  4. copy-synthesise the eval split          -> OUTPUT/synth/{student,teacher}
     (the references: OUTPUT/synth/reference)
  5. evaluate both against the references   -> OUTPUT/eval
  6. time the samplers side by side          -> OUTPUT/bench
  7. write the listening report              -> OUTPUT/report/index.html

It ends with the steps reached, the evaluation summary and the speed table, also saved
in OUTPUT/demo_summary.json. The teacher samples sequentially, so it synthesises only
--teacher-utterances of the eval split."""

EPILOG = """\
examples:
  pwave demo                      # into runs/demo
  pwave demo --config-name debug --output runs/demo-debug   # about a minute
afterwards, for example:
  pwave synthesize --checkpoint runs/demo/student/student.pt \\
      --input speech.wav --output runs/demo/mine"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``pwave demo``."""
    parser.add_argument(
        "--output",
        type=Path,
        default=Path("runs/demo"),
        metavar="DIR",
        help="folder for everything the demo writes (default: runs/demo)",
    )
    parser.add_argument(
        "--config-name",
        default="demo",
        metavar="NAME",
        help="training configs pwave/configs/{teacher,student}/NAME.yaml: demo (default) or "
        "debug (tiny models, about a minute)",
    )
    parser.add_argument(
        "--teacher-steps",
        type=int,
        default=None,
        metavar="N",
        help="teacher optimizer steps (default: the config's max_steps, 2000 for demo)",
    )
    parser.add_argument(
        "--student-steps",
        type=int,
        default=None,
        metavar="N",
        help="student optimizer steps (default: the config's max_steps, 1000 for demo)",
    )
    parser.add_argument(
        "--teacher-minutes",
        type=float,
        default=None,
        metavar="MIN",
        help="optional wall-clock cap on the teacher's training (a capped run is not "
        "reproducible: it stops at a step that depends on the machine)",
    )
    parser.add_argument(
        "--student-minutes",
        type=float,
        default=None,
        metavar="MIN",
        help="optional wall-clock cap on the student's training",
    )
    parser.add_argument(
        "--teacher-utterances",
        type=int,
        default=1,
        metavar="N",
        help="eval utterances synthesised by the slow, sequential teacher (default: 1)",
    )
    parser.add_argument(
        "--utterances",
        type=int,
        default=48,
        metavar="N",
        help="size of the demo corpus (default: 48)",
    )
    parser.add_argument(
        "--seconds",
        type=float,
        default=4.0,
        metavar="SEC",
        help="length of each demo utterance (default: 4)",
    )
    parser.add_argument(
        "--seed", type=int, default=0, metavar="N", help="seed of every step (default: 0)"
    )
    parser.add_argument(
        "--skip-bench", action="store_true", help="leave out step 6, the speed table"
    )


def run(args: argparse.Namespace) -> int:
    """``pwave demo``: the whole pipeline (:func:`pwave.apps.demo.run_demo`)."""
    from pwave.apps.demo import run_demo

    return run_demo(args)
