"""Distillation objectives (reverse KL estimators) and auxiliary losses for the student."""

from pwave.distill.losses import (
    analytic_entropy_cross_entropy,
    contrastive_loss,
    gaussian_kl_loss,
    mc_reverse_kl,
    multi_resolution_stft_loss,
    power_loss,
)
from pwave.distill.objective import (
    VARIANTS,
    check_compatible,
    distillation_loss,
    freeze_teacher,
    mismatched_mel,
)
from pwave.distill.stft import DEFAULT_RESOLUTIONS, STFTResolution, stft_magnitude

__all__ = [
    "DEFAULT_RESOLUTIONS",
    "STFTResolution",
    "VARIANTS",
    "analytic_entropy_cross_entropy",
    "check_compatible",
    "contrastive_loss",
    "distillation_loss",
    "freeze_teacher",
    "gaussian_kl_loss",
    "mc_reverse_kl",
    "mismatched_mel",
    "multi_resolution_stft_loss",
    "power_loss",
    "stft_magnitude",
]
