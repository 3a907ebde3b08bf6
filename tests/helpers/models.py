"""Tiny model configs for tests (the product never imports this).

The smallest teacher and student that still exercise every code path: 16 kHz, hop 16,
8 mel bins, a few 4-channel layers.
"""

from __future__ import annotations

from pwave.audio.config import FeatureConfig
from pwave.models.student import StudentConfig
from pwave.models.teacher import TeacherConfig


def tiny_teacher_config() -> TeacherConfig:
    """A very small teacher (16 kHz, hop 16, 4 layers) for tests and smoke runs."""
    return TeacherConfig(
        features=FeatureConfig(
            sample_rate=16000, n_fft=64, hop_length=16, win_length=64, n_mels=8, fmax=8000.0
        ),
        upsample_factors=(4, 4),
        cond_channels=4,
        residual_channels=4,
        gate_channels=8,
        skip_channels=4,
        kernel_size=3,
        layers=4,
    )


def tiny_student_config() -> StudentConfig:
    """A very small student matching :func:`tiny_teacher_config`'s features."""
    return StudentConfig(
        features=tiny_teacher_config().features,
        upsample_factors=(4, 4),
        cond_channels=4,
        flow_layers=(2, 3),
        flow_cycles=(1, 1),
        residual_channels=4,
        gate_channels=8,
        skip_channels=4,
        kernel_size=3,
        base="gaussian",
    )
