"""Time the cached (Fast WaveNet) and the naive sequential teacher samplers on the same mel.

Example (CPU, one thread, 0.1 s at 16 kHz, 30-layer teacher)::

    python scripts/bench_teacher_sampling.py --size bench30 --seconds 0.1 --threads 1

Prints samples/s of both samplers, their ratio, and the largest difference between their
outputs (they must agree). The naive sampler's cost per sample grows with ``t`` until ``t``
reaches the receptive field, so on utterances shorter than the receptive field the measured
ratio understates the steady-state speed-up; ``--steady-state`` also times the naive
sampler's per-sample pass over a full receptive field and prints that estimate.
"""

from __future__ import annotations

import argparse
import math
import time

import torch

from pwave.audio.config import FeatureConfig
from pwave.models.teacher import Teacher, TeacherConfig
from pwave.nn.wavenet import shift_right


def bench30_config(kernel_size: int, residual_channels: int) -> TeacherConfig:
    """30 layers in 3 cycles (dilations 1..512) at 16 kHz, hop 256."""
    return TeacherConfig(
        features=FeatureConfig(sample_rate=16000, hop_length=256),
        upsample_factors=(16, 16),
        cond_channels=80,
        residual_channels=residual_channels,
        gate_channels=2 * residual_channels,
        skip_channels=residual_channels,
        kernel_size=kernel_size,
        layers=30,
        cycles=3,
    )


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", choices=["bench30", "demo", "paper"], default="bench30")
    p.add_argument("--kernel-size", type=int, default=3, help="bench30 only")
    p.add_argument("--residual-channels", type=int, default=64, help="bench30 only")
    p.add_argument("--seconds", type=float, default=0.1, help="audio duration (rounded up to hops)")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--threads", type=int, default=1, help="torch.set_num_threads")
    p.add_argument(
        "--steady-state",
        action="store_true",
        help="also estimate naive samples/s once t exceeds the receptive field",
    )
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    if args.size == "bench30":
        config = bench30_config(args.kernel_size, args.residual_channels)
    else:
        config = TeacherConfig.demo() if args.size == "demo" else TeacherConfig.paper()
    teacher = Teacher(config).eval()
    feats = config.features
    frames = max(1, math.ceil(args.seconds * feats.sample_rate / feats.hop_length))
    T = frames * feats.hop_length
    ctx = config.mel_context_frames
    g = torch.Generator().manual_seed(args.seed)
    mel = torch.randn(args.batch, feats.n_mels, frames + 2 * ctx, generator=g)
    z = torch.randn(args.batch, T, generator=g)

    print(
        f"teacher: {config.layers} layers / {config.cycles} cycles, kernel {config.kernel_size}, "
        f"R/G/S {config.residual_channels}/{config.gate_channels}/{config.skip_channels}, "
        f"receptive field {teacher.receptive_field} samples, num_flows {config.num_flows}"
    )
    print(
        f"utterance: {T} samples ({T / feats.sample_rate:.3f} s at {feats.sample_rate} Hz), "
        f"batch {args.batch}, torch threads {torch.get_num_threads()}, device cpu"
    )

    teacher.sample(mel[:, :, : 1 + 2 * ctx], z=z[:, : feats.hop_length])  # warm-up
    cached, t_cached = timed(lambda: teacher.sample(mel, z=z, method="cached"))
    naive, t_naive = timed(lambda: teacher.sample(mel, z=z, method="naive"))
    n = args.batch * T
    sps_cached, sps_naive = n / t_cached, n / t_naive
    print(
        f"cached: {t_cached:8.2f} s  {sps_cached:10.1f} samples/s  "
        f"({sps_cached / feats.sample_rate:.4f} x real time)"
    )
    print(
        f"naive : {t_naive:8.2f} s  {sps_naive:10.1f} samples/s  "
        f"({sps_naive / feats.sample_rate:.4f} x real time)"
    )
    print(f"speed-up cached / naive: {sps_cached / sps_naive:.1f} x")
    print(f"max |cached - naive| = {(cached - naive).abs().max().item():.3e}")

    if args.steady_state:
        rf = teacher.receptive_field
        net = teacher.wavenets[0]
        cond = torch.randn(args.batch, config.cond_channels, rf, generator=g)
        x = shift_right(torch.randn(args.batch, 1, rf, generator=g))
        reps = 5
        with torch.no_grad():
            net(x, cond)
            _, t = timed(lambda: [net(x, cond) for _ in range(reps)])
        sps = args.batch * reps / t
        print(
            f"naive steady state (window = receptive field {rf}): {sps:10.1f} samples/s; "
            f"cached / naive steady state: {sps_cached / sps:.1f} x"
        )


if __name__ == "__main__":
    main()
