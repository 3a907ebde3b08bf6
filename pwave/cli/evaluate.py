"""`pwave evaluate`: objective metrics of generated audio against references."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

DESCRIPTION = """\
Objective metrics of generated audio against references.

Files are paired by name (NAME.* in --generated with NAME.* in --reference, any audio
format), read at one rate (--sample-rate, default the reference's), trimmed to the
shorter length and scored with the log-mel distance (dB), the mel-cepstral distortion
(dB) and the multi-resolution STFT distance (lower is better), PESQ and STOI (higher is
better), and with --teacher the teacher's NLL in bits per 16-bit sample of both files.
Writes metrics.csv (one row per pair) and summary.json into --output, and prints the
mean and standard deviation of every metric. Files without a counterpart are listed."""

EPILOG = """\
example (the folders `pwave demo` writes):
  pwave evaluate --generated runs/demo/synth/student \\
      --reference runs/demo/synth/reference \\
      --teacher runs/demo/teacher/teacher.pt --output runs/demo/eval/student"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``pwave evaluate``."""
    parser.add_argument(
        "--generated",
        required=True,
        type=Path,
        metavar="PATH",
        help="the generated audio: a folder (or one file)",
    )
    parser.add_argument(
        "--reference",
        required=True,
        type=Path,
        metavar="PATH",
        help="the real audio with the same file names: a folder (or one file)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        metavar="DIR",
        help="folder for metrics.csv and summary.json (default: the --generated folder)",
    )
    parser.add_argument(
        "--sample-rate",
        type=int,
        default=None,
        metavar="HZ",
        help="compare at this rate (default: the reference's)",
    )
    parser.add_argument(
        "--teacher",
        type=Path,
        default=None,
        metavar="PATH",
        help="teacher.pt: also report its NLL of each generated and reference file",
    )
    parser.add_argument(
        "--html",
        type=Path,
        default=None,
        metavar="DIR",
        help="also write a listening report into DIR: index.html with players and "
        "spectrograms of the recording, the generated copy and Griffin-Lim (opens offline)",
    )
    parser.add_argument(
        "--html-utterances",
        type=int,
        default=8,
        metavar="N",
        help="utterances shown in the --html report, a fixed pick (default: %(default)s)",
    )


def run(args: argparse.Namespace) -> int:
    """``pwave evaluate``: score the pairs, write metrics.csv and summary.json, print."""
    from pwave.errors import UserError
    from pwave.evaluation.evaluate import (
        evaluate_folders,
        format_summary,
        metric_keys,
        summarize,
        write_rows_csv,
    )

    for folder in (args.generated, args.reference):
        if not folder.exists():
            raise UserError(f"{folder} does not exist")
    features = teacher_bits = None
    if args.teacher is not None:
        from pwave.inference.scoring import score_audio
        from pwave.inference.vocoder import Vocoder
        from pwave.models.teacher import Teacher

        teacher = Teacher.load(args.teacher).eval()
        vocoder = Vocoder(teacher, device="cpu", dtype="float32")
        features = teacher.config.features

        def teacher_bits(audio):
            return score_audio(vocoder, audio)[1]

    rows, problems = evaluate_folders(
        args.generated, args.reference, args.sample_rate, features, teacher_bits
    )
    for p in problems:
        print(f"skipped {p['file']}: {p['reason']}")
    if not rows:
        raise UserError("no generated/reference pair could be scored (files are paired by name)")
    summary = summarize(rows, metric_keys(rows))
    out = args.output or args.generated
    out.mkdir(parents=True, exist_ok=True)
    write_rows_csv(rows, out / "metrics.csv")
    (out / "summary.json").write_text(
        json.dumps({"summary": summary, "skipped": problems}, indent=2)
    )
    print(format_summary(summary, len(rows)))
    print(f"wrote {out / 'metrics.csv'} and {out / 'summary.json'}")
    if args.html is not None:
        from pwave.evaluation.report_build import evaluation_report

        index = evaluation_report(
            args.html,
            args.generated,
            args.reference,
            rows,
            summary,
            features,
            teacher_bits,
            args.teacher,
            args.html_utterances,
        )
        print(f"wrote the listening report {index} (open it in a browser)")
    return 0
