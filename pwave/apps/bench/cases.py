"""The timed cases of one batch size: teacher sampling (naive, cached, fused, CUDA graph),
student sampling (reference, fused) and the two halves of a distillation step.

A :class:`Case` defers its setup to ``make()`` (untimed), which returns the timed call.
Random inputs are drawn from one generator per batch size in a fixed order, so every run
with the same seed times the same inputs.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import torch
from torch import Tensor

from pwave.apps.bench.settings import DTYPES, BenchSettings
from pwave.audio.config import FeatureConfig
from pwave.models.sequential import naive_step
from pwave.models.student import Student
from pwave.models.teacher import Teacher
from pwave.sampling.cuda_graph import GraphTeacherSampler
from pwave.sampling.time_major import FastStudentSampler


@dataclass
class Case:
    """One case to time: what it is, how long its output is, and its untimed setup."""

    name: str
    model: str
    dtype: str
    batch: int
    length: int
    sample_rate: int
    make: Callable[[], Callable[[], Any]]  # untimed setup -> the timed call
    reference: str | None = None  # case name whose output this one should match
    offset: int = 0  # this case's output covers the reference's steps offset..offset+length
    note: str = ""


@dataclass
class Inputs:
    """Random inputs of one model at one batch size: ``mel [B, n_mels, frames + 2 ctx]``
    and base noise ``z [B, T]`` with ``T = frames * hop``, at ``sample_rate``."""

    mel: Tensor
    z: Tensor
    sample_rate: int

    @property
    def length(self) -> int:
        return self.z.shape[-1]


def naive_steps(
    teacher: Teacher, cond: Tensor, z: Tensor, ys: list[Tensor], start: int, stop: int
) -> None:
    """Run the naive sampler for ``t`` in ``[start, stop)``, in place.

    The same step per sample as :func:`~pwave.models.sequential.sample_naive`
    (:func:`~pwave.models.sequential.naive_step`: rerun each flow's WaveNet over the last
    ``receptive_field`` inputs, keep the last output), but resumable: ``ys[k] [B, T]``
    holds flow ``k``'s outputs for ``t < start`` and receives those for
    ``start <= t < stop``. ``start=0, stop=T`` reproduces ``sample_naive``; a
    ``start`` past the receptive field times the steady-state cost per sample.
    """
    with torch.no_grad():
        for t in range(start, stop):
            naive_step(teacher, cond, z, ys, t)


def frames_for(seconds: float, feats: FeatureConfig) -> int:
    """Mel frames covering ``seconds`` of audio (at least one)."""
    return max(1, math.ceil(seconds * feats.sample_rate / feats.hop_length))


def _autocast(device: torch.device, dtype: torch.dtype):
    return torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32)


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).replace("torch.", "")


def random_inputs(
    model: Teacher | Student,
    seconds: float,
    batch: int,
    generator: torch.Generator,
    device: torch.device,
) -> Inputs:
    """A random mel (with the model's context frames) and base noise for ``seconds``."""
    feats = model.features
    frames = frames_for(seconds, feats)
    ctx = model.config.mel_context_frames
    mel = torch.randn(batch, feats.n_mels, frames + 2 * ctx, generator=generator).to(device)
    z = model.base.sample(batch, (frames * feats.hop_length,), generator=generator).to(device)
    return Inputs(mel, z, feats.sample_rate)


def teacher_sampling_cases(
    teacher: Teacher, inp: Inputs, s: BenchSettings, device: torch.device, batch: int
) -> list[Case]:
    """Cached (reference), fused eager, CUDA graph (CUDA only) and naive (steady state)."""
    T, rate = inp.length, inp.sample_rate
    shared: dict[str, Tensor] = {}

    def make_cached():
        def call():
            shared["cached"] = teacher.sample(inp.mel, z=inp.z, method="cached")
            return shared["cached"]

        return call

    def make_fused(mode: str):
        def make():
            sampler = GraphTeacherSampler(teacher, batch, T, device=device, mode=mode)
            sampler.capture()
            return lambda: sampler.sample(inp.mel, inp.z)  # upsampling included, as the reference

        return make

    cases = [Case("teacher cached", "teacher", "float32", batch, T, rate, make_cached)]
    modes = [("teacher cached fused", "eager")]
    if device.type == "cuda":
        modes.append(("teacher cached cuda-graph", "cuda"))
    for name, mode in modes:
        cases.append(
            Case(name, "teacher", "float32", batch, T, rate, make_fused(mode), "teacher cached")
        )
    cases.append(_naive_case(teacher, inp, s, batch, shared))
    return cases


def _naive_case(
    teacher: Teacher, inp: Inputs, s: BenchSettings, batch: int, shared: dict[str, Tensor]
) -> Case:
    """The naive sampler over ``--naive-seconds`` of steps, past the receptive field when the
    utterance allows, with the cached sampler's output as history (when it ran first)."""
    T = inp.length
    n_naive = min(max(1, round(s.naive_seconds * inp.sample_rate)), T)
    start = min(teacher.receptive_field - 1, T - n_naive)

    def make_naive():
        cond = teacher.condition(inp.mel).detach()
        ys = [torch.zeros_like(inp.z) for _ in teacher.wavenets]
        history = shared.get("cached")
        if history is not None and len(ys) == 1:
            ys[0].copy_(history)  # the cached sample as history: outputs must agree

        def call():
            naive_steps(teacher, cond, inp.z, ys, start, start + n_naive)
            return ys[-1][:, start : start + n_naive].clone()

        return call

    steady = start >= teacher.receptive_field - 1
    return Case(
        "teacher naive",
        "teacher",
        "float32",
        batch,
        n_naive,
        inp.sample_rate,
        make_naive,
        reference="teacher cached" if len(teacher.wavenets) == 1 else None,
        offset=start,
        note=(
            f"steps {start}..{start + n_naive - 1}"
            + ("" if steady else " (window shorter than the receptive field)")
        ),
    )


def student_sampling_cases(
    student: Student, inp: Inputs, s: BenchSettings, device: torch.device, batch: int
) -> list[Case]:
    """Per dtype: the reference sampler (autocast below float32) and the fused sampler
    (eager, and compiled with ``--compile``)."""

    def make_ref(dtype: torch.dtype):
        def call():
            with torch.no_grad(), _autocast(device, dtype):
                return student.sample(inp.mel, z=inp.z).float()

        return call

    def make_fused(dtype: torch.dtype, compile: bool):
        sampler = FastStudentSampler(student, dtype=dtype, compile=compile)
        return lambda: sampler(inp.mel, inp.z).float()

    cases: list[Case] = []
    for name in s.dtypes:
        dtype = DTYPES[name]
        full = dtype == torch.float32
        case = partial(Case, model="student", dtype=_dtype_name(dtype), batch=batch)
        case = partial(case, length=inp.length, sample_rate=inp.sample_rate)
        cases.append(
            case(
                name="student ref" if full else "student ref autocast",
                make=partial(make_ref, dtype),
                reference=None if full else "student ref",
            )
        )
        for compiled in [False, True] if s.compile else [False]:
            cases.append(
                case(
                    name="student fused" + (" compiled" if compiled else ""),
                    make=partial(make_fused, dtype, compiled),
                    reference="student ref",
                )
            )
    return cases


def distillation_cases(
    teacher: Teacher,
    student: Student,
    s_inp: Inputs,
    s: BenchSettings,
    device: torch.device,
    generator: torch.Generator,
    batch: int,
) -> list[Case]:
    """Per dtype, the two halves of a distillation step with autograd recording: the
    teacher's density of audio, and the student's sample with its log-density."""
    tf = teacher.features
    frames = frames_for(s.seconds, tf)

    def make_density(dtype: torch.dtype):
        ctx = teacher.config.mel_context_frames
        mel = torch.randn(batch, tf.n_mels, frames + 2 * ctx, generator=generator).to(device)
        audio = 0.1 * torch.randn(batch, frames * tf.hop_length, generator=generator)
        audio = audio.to(device).requires_grad_(True)

        def call():
            with _autocast(device, dtype):
                return teacher.log_prob(audio, mel, dequantize=False).detach().float()

        return call

    def make_student_lq(dtype: torch.dtype):
        def call():
            with _autocast(device, dtype):
                _, log_q = student.sample_and_log_prob(s_inp.mel, z=s_inp.z)
            return log_q.detach().float()

        return call

    cases: list[Case] = []
    for name in s.dtypes:
        dtype = DTYPES[name]
        case = partial(Case, dtype=_dtype_name(dtype), batch=batch)
        cases.append(
            case(
                name="teacher density (fwd)",
                model="teacher",
                length=frames * tf.hop_length,
                sample_rate=tf.sample_rate,
                make=partial(make_density, dtype),
                note="distillation half: log p_T(x) with autograd on",
            )
        )
        cases.append(
            case(
                name="student sample+logq (fwd)",
                model="student",
                length=s_inp.length,
                sample_rate=s_inp.sample_rate,
                make=partial(make_student_lq, dtype),
                note="distillation half: x, log q(x) with autograd on",
            )
        )
    return cases


def build_cases(
    teacher: Teacher, student: Student, s: BenchSettings, device: torch.device, batch: int
) -> list[Case]:
    """The cases of one batch size, filtered by ``s.cases`` (setup deferred to ``make``)."""
    g = torch.Generator().manual_seed(s.seed + batch)
    t_seconds = s.seconds if s.teacher_seconds is None else s.teacher_seconds
    t_inp = random_inputs(teacher, t_seconds, batch, g, device)
    s_inp = random_inputs(student, s.seconds, batch, g, device)
    cases = (
        teacher_sampling_cases(teacher, t_inp, s, device, batch)
        + student_sampling_cases(student, s_inp, s, device, batch)
        + distillation_cases(teacher, student, s_inp, s, device, g, batch)
    )
    if s.cases:
        cases = [c for c in cases if any(key in c.name for key in s.cases)]
    return cases
