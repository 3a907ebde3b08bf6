"""Models: the WaveNet MAF teacher and the WaveNet IAF student, their configs, their
reference sequential samplers and how they are saved."""

from pwave.models.sequential import CachedTeacherSampler
from pwave.models.student import Student, StudentConfig
from pwave.models.teacher import Teacher, TeacherConfig

__all__ = [
    "CachedTeacherSampler",
    "Student",
    "StudentConfig",
    "Teacher",
    "TeacherConfig",
]
