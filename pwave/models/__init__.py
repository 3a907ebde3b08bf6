"""Models: the WaveNet conditioner, the mel upsampler and the WaveNet MAF teacher.

The IAF student lives in :mod:`pwave.models.student` (built on the same WaveNet).
"""

from pwave.models.incremental import CachedTeacherSampler, IncrementalWaveNet
from pwave.models.teacher import Teacher, TeacherConfig
from pwave.models.upsampler import MelUpsampler, check_upsample_factors
from pwave.models.wavenet import WaveNet, shift_right

__all__ = [
    "CachedTeacherSampler",
    "IncrementalWaveNet",
    "MelUpsampler",
    "Teacher",
    "TeacherConfig",
    "WaveNet",
    "check_upsample_factors",
    "shift_right",
]
