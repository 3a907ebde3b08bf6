"""`pwave evaluate`: the command line of :mod:`pwave.evaluation.evaluate`."""

from __future__ import annotations

import argparse
import csv
import json
import math
from pathlib import Path

from tqdm import tqdm

from pwave.audio.config import FeatureConfig
from pwave.audio.io import load_audio
from pwave.audio.mel import MelSpectrogram
from pwave.errors import AudioReadError
from pwave.evaluation.evaluate import evaluate_pair, pair_files, summarize


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--generated", required=True, type=Path, help="folder (or file) of output")
    parser.add_argument("--reference", required=True, type=Path, help="folder (or file) of refs")
    parser.add_argument("--output", type=Path, default=None, help="folder for metrics.csv")
    parser.add_argument(
        "--sample-rate", type=int, default=None, help="rate to compare at (default: reference's)"
    )
    parser.add_argument("--teacher", type=Path, default=None, help="teacher checkpoint for NLL")


def evaluate_folders(
    generated: Path,
    reference: Path,
    sample_rate: int | None = None,
    teacher=None,
    feature_config: FeatureConfig | None = None,
) -> tuple[list[dict], list[dict]]:
    """Score every pair; returns ``(rows, problems)``; never raises for a bad file."""
    pairs, unmatched = pair_files(generated, reference)
    problems = [{"file": stem, "reason": "no counterpart with the same name"} for stem in unmatched]
    rows: list[dict] = []
    vocoder = None
    if teacher is not None:
        from pwave.inference.synthesis import Vocoder

        feature_config = teacher.config.features
        vocoder = Vocoder(teacher, device="cpu", dtype="float32")
    for stem, gen_path, ref_path in tqdm(pairs, desc="evaluate", unit="file"):
        try:
            ref = load_audio(ref_path, sample_rate)
            rate = ref.sample_rate
            gen = load_audio(gen_path, rate)
        except AudioReadError as err:
            problems.append({"file": err.path, "reason": err.reason})
            continue
        config = (feature_config or FeatureConfig()).replace(mel_mean=(), mel_std=())
        if config.sample_rate != rate:
            config = config.replace(sample_rate=rate, fmax=min(config.fmax or rate / 2, rate / 2))
        row = {"utterance": stem, "seconds": len(ref.audio) / rate}
        row.update(evaluate_pair(gen.audio, ref.audio, rate, MelSpectrogram(config)))
        if vocoder is not None and rate == vocoder.sample_rate:
            from pwave.inference.scoring import score_audio

            row["teacher_bits"] = score_audio(vocoder, gen.audio)[1]
            row["teacher_bits_reference"] = score_audio(vocoder, ref.audio)[1]
        rows.append(row)
    return rows, problems


def run(args: argparse.Namespace) -> int:
    from pwave.errors import UserError

    for folder in (args.generated, args.reference):
        if not folder.exists():
            raise UserError(f"{folder} does not exist")
    teacher = None
    if args.teacher is not None:
        from pwave.models.teacher import Teacher

        teacher = Teacher.load(args.teacher)
        teacher.eval()
    rows, problems = evaluate_folders(args.generated, args.reference, args.sample_rate, teacher)
    for p in problems:
        print(f"skipped {p['file']}: {p['reason']}")
    if not rows:
        raise UserError("no generated/reference pair could be scored (files are paired by name)")
    keys = tuple(k for k in rows[0] if k not in ("utterance",))
    summary = summarize(rows, keys)
    out = args.output or args.generated
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "metrics.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    (out / "summary.json").write_text(
        json.dumps({"summary": summary, "skipped": problems}, indent=2)
    )
    print(format_summary(summary, len(rows)))
    print(f"wrote {out / 'metrics.csv'} and {out / 'summary.json'}")
    return 0


def format_summary(summary: dict[str, dict[str, float]], n: int) -> str:
    lines = [f"evaluation over {n} utterance(s)", f"{'metric':<24}{'mean':>10}{'std':>10}"]
    for key, s in summary.items():
        mean = "nan" if math.isnan(s["mean"]) else f"{s['mean']:.3f}"
        std = "nan" if math.isnan(s["std"]) else f"{s['std']:.3f}"
        lines.append(f"{key:<24}{mean:>10}{std:>10}")
    return "\n".join(lines)
