"""Time ``pwave synthesize``'s student samplers side by side through the Python API.

Runs :class:`pwave.inference.vocoder.Vocoder` with ``sampler="reference"`` (the model's own
modules, under autocast for bf16) and ``sampler="fast"`` (the fused time-major path, the
default) on the same mel of a synthetic utterance, alternating the two so that both see
the same machine load, and prints the median time and "x real time" of each.

Example (CPU, two threads, random-weight demo student, 4 s)::

    python scripts/bench_synthesis.py --student-config demo --seconds 4 --threads 2

``--student`` takes a trained checkpoint instead (its weights do not change the speed).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from pwave.apps.bench import resolve_student
from pwave.inference.vocoder import SAMPLERS, Vocoder


def time_samplers(
    vocoders: dict[str, Vocoder], mel: np.ndarray, repeats: int
) -> dict[str, list[float]]:
    """Seconds per ``vocode_mel(mel)`` call for each vocoder, calls interleaved."""
    for vocoder in vocoders.values():  # warm-up
        vocoder.vocode_mel(mel)
    times: dict[str, list[float]] = {name: [] for name in vocoders}
    for _ in range(repeats):
        for name, vocoder in vocoders.items():
            start = time.perf_counter()
            vocoder.vocode_mel(mel)
            times[name].append(time.perf_counter() - start)
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--student-config", default="demo", help="demo | paper | tiny | YAML")
    parser.add_argument("--student", default=None, help="a student checkpoint instead")
    parser.add_argument("--seconds", type=float, default=4.0, help="utterance length")
    parser.add_argument("--dtypes", default="float32,bf16", help="comma-separated")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument("--repeats", type=int, default=7, help="timed calls per sampler")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    student = resolve_student(args.student_config, args.student)
    sr = student.features.sample_rate
    t = np.arange(int(args.seconds * sr)) / sr
    audio = 0.3 * np.sin(2 * np.pi * 220 * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))
    print(f"student {args.student or args.student_config}, {args.seconds} s at {sr} Hz, "
          f"device {args.device}, {torch.get_num_threads()} threads")  # fmt: skip
    for dtype in args.dtypes.split(","):
        vocoders = {s: Vocoder(student, args.device, dtype, s) for s in SAMPLERS}
        mel = vocoders["fast"].audio_to_mel(audio.astype(np.float32))
        seconds = mel.shape[-1] * student.features.hop_length / sr
        times = time_samplers(vocoders, mel, args.repeats)
        for name, ts in times.items():
            median = statistics.median(ts)
            rate = seconds / median
            print(f"  {dtype:8s} {name:9s} {median * 1e3:8.1f} ms   {rate:6.1f}x real time")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
