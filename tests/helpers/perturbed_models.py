"""Small float64 WaveNets, teachers and students moved away from their initialisation.

A freshly initialised flow is close to the identity (its output heads start near zero), which
would let a wrong fast path agree with the reference by accident; these models have every
parameter perturbed by seeded noise so that the comparisons in the sampler tests mean
something.
"""

from __future__ import annotations

import torch

from helpers.models import tiny_student_config, tiny_teacher_config
from pwave.models.student import Student
from pwave.models.teacher import Teacher
from pwave.nn.wavenet import WaveNet


def perturb(module: torch.nn.Module, seed: int, scale: float = 0.3) -> None:
    """Move every parameter away from its (near-zero-output) initialisation, in place."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(scale * torch.randn(p.shape, generator=g, dtype=p.dtype).to(p.device))


def perturbed_wavenet(
    cond_channels: int, kernel_size: int, layers: int, cycles: int, seed: int = 0
) -> WaveNet:
    """A float64 WaveNet ``1 -> 2`` channels (6 residual, 10 gate, 7 skip), perturbed."""
    torch.manual_seed(seed)
    net = WaveNet(
        in_channels=1,
        out_channels=2,
        residual_channels=6,
        gate_channels=10,
        skip_channels=7,
        kernel_size=kernel_size,
        layers=layers,
        cycles=cycles,
        cond_channels=cond_channels,
    ).double()
    perturb(net, seed)
    return net


def perturbed_teacher(
    num_flows: int = 1, seed: int = 0, device="cpu", dtype=torch.float64
) -> Teacher:
    """The benchmark's tiny teacher (:func:`helpers.models.tiny_teacher_config`) with
    ``num_flows`` flows, in eval mode, perturbed."""
    torch.manual_seed(seed)
    teacher = Teacher(tiny_teacher_config().replace(num_flows=num_flows, init_log_scale=-1.0))
    teacher = teacher.to(device=device, dtype=dtype).eval()
    perturb(teacher, seed, 0.1)
    return teacher


def perturbed_student(seed: int = 0, device="cpu", dtype=torch.float64) -> Student:
    """The benchmark's tiny student (:func:`helpers.models.tiny_student_config`), in eval
    mode, perturbed."""
    torch.manual_seed(seed)
    student = Student(tiny_student_config()).to(device=device, dtype=dtype).eval()
    perturb(student, seed, 0.1)
    return student
