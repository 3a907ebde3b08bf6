#!/usr/bin/env python
"""Benchmark ``pwave prepare``: the demo corpus plus a folder of short synthetic files.

Usage::

    python scripts/bench_prepare.py [--files 1000] [--workers 2] [--keep DIR]

Writes everything into a temporary folder (or ``--keep DIR``), then times
:func:`pwave.data.prepare.prepare_corpus` with the default feature config (16 kHz, hop 256,
80 mels) and prints files/s and audio-seconds/s ("x real time") for each corpus. Generation
of the input audio is timed separately and not counted.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from pwave.audio.config import FeatureConfig
from pwave.audio.io import save_wav
from pwave.data.demo import generate_demo_corpus
from pwave.data.prepare import prepare_corpus

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from helpers.synthetic import tone_burst  # noqa: E402


def make_folder(root: Path, files: int, seed: int = 0) -> float:
    """``files`` wavs of 1-2 s (16 kHz, 10 speaker folders); returns total seconds."""
    rng = np.random.default_rng(seed)
    total = 0.0
    for i in range(files):
        seconds = float(rng.uniform(1.0, 2.0))
        save_wav(root / f"spk{i % 10}" / f"utt{i:05d}.wav", tone_burst(seconds, 16000, i), 16000)
        total += seconds
    return total


def bench(name: str, source: Path, out: Path, workers: int, speaker_level: bool) -> dict:
    start = time.perf_counter()
    ds = prepare_corpus(
        source,
        out,
        layout="folder",
        feature_config=FeatureConfig(),
        num_workers=workers,
        speaker_level=speaker_level,
        progress=False,
        log=None,
    )
    wall = time.perf_counter() - start
    seconds = sum(u.duration for u in ds.utterances)
    return dict(name=name, files=len(ds), seconds=seconds, wall=wall)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--keep", help="work in this folder and keep it")
    args = parser.parse_args()

    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="pwave_bench_"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        t = time.perf_counter()
        demo = generate_demo_corpus(work / "demo_src")
        gen_demo = time.perf_counter() - t
        t = time.perf_counter()
        make_folder(work / "folder_src", args.files)
        gen_folder = time.perf_counter() - t
        print(f"generated demo corpus: {len(demo)} files in {gen_demo:.1f} s")
        print(f"generated synthetic folder: {args.files} files in {gen_folder:.1f} s")

        rows = [
            bench("demo", work / "demo_src", work / "demo_out", args.workers, True),
            bench("folder", work / "folder_src", work / "folder_out", args.workers, True),
        ]
        files = sum(r["files"] for r in rows)
        rows.append(
            dict(
                name="total",
                files=files,
                seconds=sum(r["seconds"] for r in rows),
                wall=sum(r["wall"] for r in rows),
            )
        )
        print(
            f"\nprepare, {args.workers} worker(s), {os.cpu_count()} CPU(s) visible, "
            f"{platform.processor() or platform.machine()}"
        )
        head = ("corpus", "files", "audio s", "wall s", "files/s", "audio s/s")
        print("{:8s} {:>6s} {:>9s} {:>8s} {:>8s} {:>10s}".format(*head))
        for r in rows:
            print(
                f"{r['name']:8s} {r['files']:6d} {r['seconds']:9.1f} {r['wall']:8.2f} "
                f"{r['files'] / r['wall']:8.1f} {r['seconds'] / r['wall']:10.1f}"
            )
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
