"""`pwave mels check` and `pwave mels convert`: mels made by another front end.

Both commands live in this module; :func:`add_arguments` adds the options of the one named
by the parser's ``prog`` (``pwave mels check`` or ``pwave mels convert``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

DESCRIPTION = """\
Mels predicted by a text-to-speech model are made by its toolkit's front end, and a vocoder
fed other settings (log base or floor, normalisation, bins, hop, filterbank) makes noise or
buzz. `pwave mels check` reads .npy mels (a file or a folder) against a model's feature
config and training statistics, names each fault it finds (transposed arrays, wrong number
of bins, wrong log base or floor, missing or double normalisation, a frame count that does
not fit the recording at the model's hop and rate) with what to change, and exits with 1
when the mels cannot be used as they are. `pwave mels convert` rewrites mels from a preset's
convention (or a model's) into a model's (or a preset's): exact between log bases, floors
and normalisations; approximate between filterbanks, rates and hops (mean error about 0.15
to 0.2 nats on the bins both cover). The presets:

  hifigan          22050 Hz, n_fft 1024, hop 256, 80 Slaney mels 0-8000 Hz,
                   ln(max(x, 1e-5)), no normalisation (also: tacotron2, matcha)
  parallelwavegan  22050 Hz, n_fft 1024, hop 256, 80 Slaney mels 80-7600 Hz,
                   log10(max(x, 1e-10)), per-bin mean/var from stats.npy|.h5,
                   [frames, n_mels] arrays, centred frames (also: pwg)
  espnet           as parallelwavegan, statistics from feats_stats.npz
  vocos            24000 Hz, n_fft 1024, hop 256, 100 HTK mels 0-12000 Hz,
                   ln(max(x, 1e-7)), no normalisation, centred frames"""

EPILOG = """\
examples:
  pwave mels check --checkpoint runs/lj/student.pt tts_out/ \\
      --audio LJSpeech-1.1/wavs
  pwave mels convert --from-preset parallelwavegan --from-stats stats.npy \\
      --checkpoint runs/lj/student.pt dump/eval/norm --output mels_for_pwave
  pwave mels convert --from-preset vocos --to-preset hifigan mels/ \\
      --output mels_hifigan"""

SUBCOMMANDS = ("check", "convert")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``pwave mels check`` or ``pwave mels convert`` (by ``parser.prog``)."""
    if parser.prog.endswith(" convert"):
        _add_convert_arguments(parser)
    else:
        _add_check_arguments(parser)


def _add_check_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("mels", metavar="MELS", help="a .npy mel, or a folder of them")
    parser.add_argument(
        "--checkpoint",
        required=True,
        metavar="CKPT",
        help="the model the mels are for (.pt, .ckpt or export folder), or its "
        "feature_config.json / prepared dataset folder",
    )
    parser.add_argument(
        "--audio", metavar="DIR", help="recordings named like the mels, to check frame counts"
    )
    parser.add_argument(
        "--normalized",
        action="store_true",
        help="the mels are meant to be normalised already (as Vocoder.vocode_mel(..., "
        "normalized=True) takes them); pwave's .npy inputs are not",
    )
    parser.add_argument("--output", metavar="FILE", help="also write the findings as JSON to FILE")


def _add_convert_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("mels", metavar="MELS", help="a .npy mel, or a folder of them")
    parser.add_argument(
        "--output", required=True, metavar="PATH", help="output .npy (for one file) or folder"
    )
    src = parser.add_argument_group("source convention (one of)")
    src.add_argument("--from-preset", metavar="NAME", help="the mels follow this preset")
    src.add_argument(
        "--from-checkpoint", metavar="CKPT", help="the mels are a pwave model's (unnormalised)"
    )
    src.add_argument(
        "--from-stats",
        metavar="FILE",
        help="statistics the mels were normalised with (ParallelWaveGAN stats.npy or .h5, "
        "ESPnet feats_stats.npz); omit for mels saved before normalisation",
    )
    dst = parser.add_argument_group("target convention (one of)")
    dst.add_argument("--checkpoint", metavar="CKPT", help="the model that will read the mels")
    dst.add_argument("--to-preset", metavar="NAME", help="write mels in this preset's convention")
    dst.add_argument(
        "--to-stats", metavar="FILE", help="normalise the output with these statistics"
    )


def _features_of(path: str):
    """The feature config of a model file or export folder, or of a feature-config file or
    prepared dataset folder."""
    from pathlib import Path

    from pwave.audio.features import FEATURE_CONFIG_FILE, load_feature_config

    p = Path(path)
    config_like = p.suffix in (".json", ".yaml", ".yml") or (
        p.is_dir() and (p / FEATURE_CONFIG_FILE).exists() and not (p / "model.safetensors").exists()
    )
    if config_like:
        return load_feature_config(p)
    from pwave.model_io.loading import load_model

    return load_model(p).features


def run_check(args: argparse.Namespace) -> int:
    """Run ``pwave mels check``: print the findings; 0 usable, 1 not usable."""
    from pwave.audio.mel_check import check_mels
    from pwave.errors import UserError

    try:
        features = _features_of(args.checkpoint)
        report = check_mels(features, args.mels, args.audio, normalized=args.normalized)
    except (ValueError, FileNotFoundError) as err:
        raise UserError(str(err)) from err
    print(report.text())
    if args.output:
        import json
        from dataclasses import asdict

        data = {"usable": report.usable, "files": report.files,
                "convention": report.convention,
                "findings": [asdict(f) for f in report.findings]}  # fmt: skip
        with open(args.output, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2)
    return 0 if report.usable else 1


def _convention(preset: str | None, checkpoint: str | None, stats: str | None, side: str):
    from pwave.audio.mel_convert import MelConvention
    from pwave.audio.presets import load_stats_file

    if (preset is None) == (checkpoint is None):
        raise ValueError(f"give exactly one {side} convention: a preset or a checkpoint")
    if preset is not None:
        return MelConvention.of_preset(preset, stats)
    conv = MelConvention.of_model(_features_of(checkpoint))
    if stats is not None:
        n = conv.features.n_mels
        conv = MelConvention(conv.name, conv.features, load_stats_file(stats, n), "last")
    return conv


def run_convert(args: argparse.Namespace) -> int:
    """Run ``pwave mels convert``: write every converted mel; print exact or approximate."""
    from pathlib import Path

    import numpy as np

    from pwave.audio.mel_check import find_mel_files
    from pwave.audio.mel_convert import conversion_loss, convert
    from pwave.errors import UserError

    try:
        src = _convention(args.from_preset, args.from_checkpoint, args.from_stats, "source")
        dst = _convention(args.to_preset, args.checkpoint, args.to_stats, "target")
        paths = find_mel_files(args.mels)
        root, out = Path(args.mels), Path(args.output)
        exact = True
        for p in paths:
            converted, exact = convert(np.load(p, allow_pickle=False), src, dst)
            target = out if root.is_file() and out.suffix == ".npy" else (
                out / (p.name if root.is_file() else p.relative_to(root)))  # fmt: skip
            target.parent.mkdir(parents=True, exist_ok=True)
            np.save(target, converted.astype(np.float32))
    except (ValueError, FileNotFoundError) as err:
        raise UserError(str(err)) from err
    how = "exact (log base, floor and normalisation only)" if exact else (
        "approximate (another filterbank, rate or hop: about 0.15-0.2 nats mean error); "
        f"{100 * conversion_loss(src.features, dst.features):.0f}% of the target's bins lie "
        "outside the source's frequency range")  # fmt: skip
    print(f"converted {len(paths)} mel(s) from {src.name} to {dst.name}: {how}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``pwave mels ARGS`` from Python (for scripts and tests); returns the exit code."""
    from pwave.cli import main as pwave_main

    return pwave_main(["mels", *(sys.argv[1:] if argv is None else argv)])
