"""`pwave prepare`: the command line of :mod:`pwave.data.prepare`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from pwave.audio.config import FeatureConfig
from pwave.data.layouts import LAYOUTS
from pwave.data.prepare import prepare_corpus
from pwave.errors import PrepareError

# --------------------------------------------------------------------------- CLI


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``pwave prepare`` options to ``parser``."""
    d = FeatureConfig()
    parser.add_argument(
        "source", nargs="?", default=None, help="corpus folder (omit to generate the demo corpus)"
    )
    parser.add_argument("-o", "--out", required=True, help="output folder of the prepared dataset")
    parser.add_argument(
        "--layout",
        default="auto",
        choices=[*LAYOUTS, "auto", "demo"],
        help="corpus layout (default: auto, guessed from the folder's names)",
    )
    parser.add_argument("--feature-config", help="JSON/YAML file with the mel settings")
    g = parser.add_argument_group("mel settings (ignored with --feature-config)")
    g.add_argument("--sample-rate", type=int, default=d.sample_rate)
    g.add_argument("--n-fft", type=int, default=d.n_fft)
    g.add_argument("--hop-length", type=int, default=d.hop_length)
    g.add_argument("--win-length", type=int, default=d.win_length)
    g.add_argument("--n-mels", type=int, default=d.n_mels)
    g.add_argument("--fmin", type=float, default=d.fmin)
    g.add_argument("--fmax", type=float, default=d.fmax, help="0 or negative: sample_rate / 2")
    g.add_argument("--log-base", choices=["e", "10"], default=d.log_base)
    g.add_argument("--log-floor", type=float, default=d.log_floor)
    parser.add_argument(
        "--segment-min-seconds", type=float, default=0.25, help="skip shorter files (default 0.25)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--num-workers", type=int, default=None)
    parser.add_argument(
        "--speaker-level", action="store_true", help="folder layout: sub-folder = speaker"
    )
    parser.add_argument("--dev-fraction", type=float, default=0.05)
    parser.add_argument("--eval-fraction", type=float, default=0.05)
    parser.add_argument("--demo-utterances", type=int, default=48)
    parser.add_argument("--demo-seconds", type=float, default=4.0)
    parser.add_argument("--overwrite", action="store_true", help="rebuild an existing output")
    parser.add_argument("--no-progress", action="store_true")


def feature_config_from_args(args: argparse.Namespace) -> FeatureConfig:
    """The :class:`FeatureConfig` named by the parsed ``pwave prepare`` options."""
    if getattr(args, "feature_config", None):
        from pwave.audio.features import load_feature_config

        return load_feature_config(args.feature_config)
    return FeatureConfig(
        sample_rate=args.sample_rate,
        n_fft=args.n_fft,
        hop_length=args.hop_length,
        win_length=args.win_length,
        n_mels=args.n_mels,
        fmin=args.fmin,
        fmax=args.fmax if args.fmax and args.fmax > 0 else None,
        log_base=args.log_base,
        log_floor=args.log_floor,
    )


def run(args: argparse.Namespace) -> int:
    """Run ``pwave prepare``; returns the exit code (errors are printed, not raised)."""
    try:
        config = feature_config_from_args(args)
        prepare_corpus(
            args.source,
            args.out,
            layout="demo" if args.source is None else args.layout,
            feature_config=config,
            segment_min_seconds=args.segment_min_seconds,
            seed=args.seed,
            num_workers=args.num_workers,
            overwrite=args.overwrite,
            progress=not args.no_progress,
            speaker_level=args.speaker_level,
            dev_fraction=args.dev_fraction,
            eval_fraction=args.eval_fraction,
            demo_utterances=args.demo_utterances,
            demo_seconds=args.demo_seconds,
        )
    except (PrepareError, ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``pwave prepare ARGS`` from Python (for scripts and tests); returns the exit code."""
    from pwave.cli import main as pwave_main

    return pwave_main(["prepare", *(sys.argv[1:] if argv is None else argv)])
