"""`pwave prepare`: turn a corpus into a prepared dataset (audio, mels, splits, report)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from pwave.audio.config import FeatureConfig
from pwave.data.layouts import LAYOUTS
from pwave.errors import PrepareError, UserError

# --------------------------------------------------------------------------- CLI


DESCRIPTION = """\
Turn a corpus into the prepared dataset that `pwave train` reads (--data.data_dir DIR).

Every file is decoded (any format the audio backend reads, any rate and channel count),
mixed to mono, resampled, padded to whole mel frames and turned into a log-mel; audio and
mel are cached as .npy, the train-split mel statistics go into feature_config.json, and
the files are split into train, dev and eval (by the layout's rule). A bad file never
stops the run: it is skipped and listed with its reason in report.txt and report.json,
next to every change made to a file (resampling, mix-down). Without SOURCE, the built-in
demo corpus is generated. Running it again with the same settings reuses the dataset."""

EPILOG = """\
examples:
  pwave prepare /path/to/audio --layout folder --output runs/recipe-folder/data
  pwave prepare downloads/LJSpeech-1.1 --layout ljspeech \\
      --feature-config pwave/configs/teacher/ljspeech.yaml \\
      --output runs/ljspeech/data
  pwave prepare downloads/LJSpeech-1.1 --layout ljspeech --preset hifigan \\
      --output runs/ljspeech-hifigan/data    # a model that reads HiFi-GAN mels
  pwave prepare --output runs/demo/data               # the demo corpus"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``pwave prepare`` options to ``parser``."""
    from pwave.cli import add_option

    parser.add_argument(
        "source", nargs="?", default=None, help="corpus folder (omit to generate the demo corpus)"
    )
    add_option(
        parser,
        "--output",
        "-o",
        "--out",
        dest="out",
        required=True,
        metavar="DIR",
        help="folder of the prepared dataset (created)",
    )
    parser.add_argument(
        "--layout",
        default="auto",
        choices=[*LAYOUTS, "auto", "demo"],
        help="corpus layout, which also sets the split rule (default: auto, guessed from the "
        "folder's names)",
    )
    parser.add_argument(
        "--feature-config",
        metavar="FILE",
        help="the mel settings from a JSON or YAML file, a training config (its model's "
        "features) or a prepared dataset folder; replaces the options below",
    )
    parser.add_argument(
        "--preset",
        metavar="NAME",
        help="the mel settings of a TTS front end, so the model reads its mels directly: "
        "hifigan (also tacotron2, matcha), parallelwavegan (pwg), espnet or vocos; replaces "
        "the options below (`pwave mels check --help` lists their settings)",
    )
    _add_mel_options(parser)
    _add_corpus_options(parser)
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="rebuild an output folder that holds a dataset with other settings",
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def _add_mel_options(parser: argparse.ArgumentParser) -> None:
    """The mel settings of ``pwave prepare`` (defaults: those of ``FeatureConfig()``)."""
    d = FeatureConfig()
    g = parser.add_argument_group("mel settings (ignored with --feature-config or --preset)")
    g.add_argument(
        "--sample-rate",
        type=int,
        default=d.sample_rate,
        metavar="HZ",
        help="rate of the prepared audio (default: %(default)s)",
    )
    g.add_argument(
        "--n-fft",
        type=int,
        default=d.n_fft,
        metavar="N",
        help="FFT size in samples (default: %(default)s)",
    )
    g.add_argument(
        "--hop-length",
        type=int,
        default=d.hop_length,
        metavar="N",
        help="samples per mel frame (default: %(default)s)",
    )
    g.add_argument(
        "--win-length",
        type=int,
        default=d.win_length,
        metavar="N",
        help="analysis window in samples, at most --n-fft (default: %(default)s)",
    )
    g.add_argument(
        "--n-mels",
        type=int,
        default=d.n_mels,
        metavar="N",
        help="mel bins (default: %(default)s)",
    )
    g.add_argument(
        "--fmin",
        type=float,
        default=d.fmin,
        metavar="HZ",
        help="lowest filterbank frequency (default: %(default)s)",
    )
    g.add_argument(
        "--fmax",
        type=float,
        default=d.fmax,
        metavar="HZ",
        help="highest filterbank frequency; 0 or negative: sample_rate / 2 (default: %(default)s)",
    )
    g.add_argument(
        "--log-base",
        choices=["e", "10"],
        default=d.log_base,
        help="log of the mel magnitudes (default: %(default)s)",
    )
    g.add_argument(
        "--log-floor",
        type=float,
        default=d.log_floor,
        metavar="X",
        help="magnitudes are clamped to at least X before the log (default: %(default)s)",
    )


def _add_corpus_options(parser: argparse.ArgumentParser) -> None:
    """How ``pwave prepare`` reads, splits and generates corpora."""
    parser.add_argument(
        "--segment-min-seconds",
        type=float,
        default=0.25,
        metavar="SEC",
        help="skip files shorter than this (default: %(default)s)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        metavar="N",
        help="seed of the folder and demo splits and of the demo audio (default: 0)",
    )
    parser.add_argument(
        "--num-workers",
        type=int,
        default=None,
        metavar="N",
        help="processes decoding files (default: up to 4; 0 or 1: this process only)",
    )
    parser.add_argument(
        "--speaker-level",
        action="store_true",
        help="folder layout: the first sub-folder names the speaker",
    )
    parser.add_argument(
        "--dev-fraction",
        type=float,
        default=0.05,
        metavar="F",
        help="held-out dev fraction of the folder, demo, vctk and arctic layouts "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--eval-fraction",
        type=float,
        default=0.05,
        metavar="F",
        help="held-out eval fraction, as --dev-fraction (default: %(default)s)",
    )
    parser.add_argument(
        "--demo-utterances",
        type=int,
        default=48,
        metavar="N",
        help="without SOURCE: utterances of the demo corpus (default: %(default)s)",
    )
    parser.add_argument(
        "--demo-seconds",
        type=float,
        default=4.0,
        metavar="SEC",
        help="without SOURCE: seconds per demo utterance (default: %(default)s)",
    )


def feature_config_from_args(args: argparse.Namespace) -> FeatureConfig:
    """The :class:`FeatureConfig` named by the parsed ``pwave prepare`` options."""
    if getattr(args, "preset", None):
        if getattr(args, "feature_config", None):
            raise ValueError("give --preset or --feature-config, not both")
        from pwave.audio.presets import get_preset

        return get_preset(args.preset).features
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
    """Run ``pwave prepare``; returns the exit code (a bad corpus or option is a one-line
    ``pwave: error: ...``, exit code 2, printed by the CLI)."""
    from pwave.data.prepare import prepare_corpus

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
    except PrepareError:
        raise  # a PwaveError: printed as one line by the CLI
    except (ValueError, FileNotFoundError) as err:
        raise UserError(str(err)) from err
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``pwave prepare ARGS`` from Python (for scripts and tests); returns the exit code."""
    from pwave.cli import main as pwave_main

    return pwave_main(["prepare", *(sys.argv[1:] if argv is None else argv)])
