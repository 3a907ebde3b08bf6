"""First-chunk latency and real-time factor of ``Vocoder.stream`` per chunk size.

A demo-size student (``StudentConfig.demo()``, random weights, float32, CPU, fast sampler)
vocodes a random mel of ``--seconds`` seconds fed in chunks of ``k`` frames, every frame
available at once (so the times are compute, not waiting). Printed per chunk size:

* algorithmic latency: audio of frame 0 needs ``1 + lookahead`` frames, and a chunk of ``k``
  frames is only pushed when it is complete: ``(max(k, 1 + L)) * hop / rate``;
* first-chunk compute: wall time from the first push to the first audio returned;
* RTF: total wall time / audio duration (lower is better; < 1 is faster than real time),
  against the offline pass of the whole mel.

Run: ``python scripts/bench_streaming.py [--seconds 4] [--chunks 1,3,17,50] [--threads 2]``.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
import torch

from pwave.inference.streaming import frame_noise, lookahead_frames
from pwave.inference.vocoder import Vocoder
from pwave.models.student import Student, StudentConfig


def time_stream(vocoder: Vocoder, mel: np.ndarray, chunk: int, noise: torch.Tensor):
    """``(first-chunk seconds, total seconds, samples)`` for one streamed pass."""
    chunks = [mel[:, i : i + chunk] for i in range(0, mel.shape[1], chunk)]
    start = time.perf_counter()
    first, samples = None, 0
    for audio in vocoder.stream(chunks, noise=noise, normalized=True):
        if first is None:
            first = time.perf_counter() - start
        samples += audio.shape[0]
    return first, time.perf_counter() - start, samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="audio length")
    parser.add_argument("--chunks", default="1,3,17,50", help="chunk sizes in frames")
    parser.add_argument("--repeats", type=int, default=2, help="best of N passes")
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    student = Student(StudentConfig.demo()).eval()
    vocoder = Vocoder(student, device="cpu", dtype="float32", sampler="fast")
    hop, rate = vocoder.hop_length, vocoder.sample_rate
    frames = int(args.seconds * rate / hop)
    mel = np.random.default_rng(0).standard_normal((vocoder.n_mels, frames)).astype(np.float32)
    noise = frame_noise(vocoder._base, hop, frames, seed=0)
    L = lookahead_frames(student)
    seconds = frames * hop / rate
    offline = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        vocoder.synthesize_batch([vocoder.model_input(mel, normalized=True)], [noise])
        offline.append(time.perf_counter() - start)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"torch threads {torch.get_num_threads()}, load {os.getloadavg()[0]:.2f}")  # fmt: skip
    print(f"demo student ({rate} Hz, hop {hop}, look-ahead {L} frames, receptive field "
          f"{student.receptive_field} samples), {seconds:.2f} s of audio")  # fmt: skip
    print("| chunk (frames) | algorithmic latency (ms) | first-chunk compute (ms) | RTF |")
    print("|---:|---:|---:|---:|")
    print(f"| offline | - | {1000 * min(offline):.0f} (whole) | {min(offline) / seconds:.3f} |")
    for chunk in [int(c) for c in args.chunks.split(",")]:
        runs = [time_stream(vocoder, mel, chunk, noise) for _ in range(args.repeats)]
        first = min(r[0] for r in runs)
        total = min(r[1] for r in runs)
        assert runs[0][2] == frames * hop
        algo = 1000 * max(chunk, 1 + L) * hop / rate
        print(f"| {chunk} | {algo:.0f} | {1000 * first:.1f} | {total / seconds:.3f} |")


if __name__ == "__main__":
    main()
