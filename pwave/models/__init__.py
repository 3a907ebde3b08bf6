"""Models: the WaveNet conditioner, the mel upsampler, the WaveNet MAF teacher and the
WaveNet IAF student, plus their fast samplers."""

from pwave.models.incremental import CachedTeacherSampler, IncrementalWaveNet
from pwave.models.student import Student, StudentConfig
from pwave.models.teacher import Teacher, TeacherConfig
from pwave.models.upsampler import MelUpsampler, check_upsample_factors
from pwave.models.wavenet import WaveNet, shift_right

__all__ = [
    "CachedTeacherSampler",
    "IncrementalWaveNet",
    "MelUpsampler",
    "Student",
    "StudentConfig",
    "Teacher",
    "TeacherConfig",
    "WaveNet",
    "check_upsample_factors",
    "shift_right",
]
