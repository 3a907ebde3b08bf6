r"""Benchmark sampling and the distillation passes of a teacher and a student.

``pwave bench`` (or ``python scripts/bench.py``) times, side by side in one run, for each
batch size:

* **teacher naive** -- the reference sequential sampler that reruns the WaveNet over the
  whole receptive field for every sample; timed at steady state (every step sees a full
  receptive-field window) for ``--naive-seconds`` of samples, since its per-sample cost
  no longer depends on the utterance length there;
* **teacher cached** -- the reference "Fast WaveNet" sampler
  (:mod:`pwave.nn.incremental`), eager;
* **teacher cached fused** -- the allocation-free static-buffer step of
  :mod:`pwave.sampling.cuda_graph`, eager, and **teacher cached cuda-graph** -- the same step
  captured once in a CUDA graph and replayed per sample (CUDA only);
* **student ref** / **student fused** -- the student's one-pass sampler: the reference
  module (float32, or under ``torch.autocast`` for bf16/fp16) and the fused time-major path
  of :mod:`pwave.sampling.fused` (in the requested dtype, optionally ``torch.compile``-d);
* **teacher density** and **student sample+logq** -- the two halves of a distillation step
  (forward passes with autograd recording, as in training).

Each case: warm-up calls, then ``--repeats`` timed calls (CUDA synchronised around each),
continued until they add up to ``--min-time`` seconds; the median is reported, with peak
memory (CUDA: ``max_memory_allocated``; CPU: the process's peak resident set size so far).
Outputs: a table on the terminal (samples/s, x real time at the model's sample rate,
speed-up vs the naive teacher at the same batch), ``bench.json`` and ``bench.png``
(log-axis bar chart) in ``--output``, and a few lines stating the project's speed bars and
whether this run meets them (information only).

Example (CPU, demo sizes)::

    pwave bench --teacher-config demo --student-config demo --threads 2 --output runs/bench
"""

from __future__ import annotations

import json
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from pwave.audio.config import FeatureConfig
from pwave.models.sequential import naive_step
from pwave.models.student import Student, StudentConfig
from pwave.models.teacher import Teacher, TeacherConfig
from pwave.sampling.cuda_graph import GraphTeacherSampler
from pwave.sampling.fused import FastStudentSampler

DTYPES = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
    "float16": torch.float16,
    "fp16": torch.float16,
}

#: The project's speed bars (see docs/benchmarks.md); evaluated as information.
BARS = {
    "cpu_cached_vs_naive": 20.0,
    "cpu_student_vs_cached": 50.0,
    "cpu_student_real_time": 1.0,
    "gpu_student_samples_per_s": 20e6,
    "gpu_teacher_graph_samples_per_s": 5000.0,
}


# --------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------
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


def _config_from_yaml(path: str, kind: str) -> dict[str, Any]:
    """The ``kind`` config dict in a YAML file: ``model.<kind>``, ``<kind>`` or the top level."""
    import yaml

    with open(path) as f:
        data = yaml.safe_load(f) or {}
    if isinstance(data.get("model"), dict) and kind in data["model"]:
        return data["model"][kind]
    if isinstance(data.get(kind), dict):
        return data[kind]
    return data


def _resolve(model_cls, presets: dict, kind: str, config: str, checkpoint: str | None):
    """A float32 eval-mode model from a checkpoint, a preset name or a YAML file."""
    if checkpoint:
        return model_cls.load(checkpoint).float().eval()
    if config in presets:
        cfg = presets[config]()
    elif os.path.exists(config):
        cfg = model_cls.config_class.from_dict(_config_from_yaml(config, kind))
    else:
        raise ValueError(f"--{kind}-config {config!r} is neither demo|paper|tiny nor a file")
    return model_cls(cfg).float().eval()


def resolve_teacher(config: str = "demo", checkpoint: str | None = None) -> Teacher:
    """A float32 eval-mode teacher from a checkpoint, a preset name or a YAML file."""
    presets = {
        "demo": TeacherConfig.demo,
        "paper": TeacherConfig.paper,
        "tiny": tiny_teacher_config,
    }
    return _resolve(Teacher, presets, "teacher", config, checkpoint)


def resolve_student(config: str = "demo", checkpoint: str | None = None) -> Student:
    """A float32 eval-mode student from a checkpoint, a preset name or a YAML file."""
    presets = {
        "demo": StudentConfig.demo,
        "paper": StudentConfig.paper,
        "tiny": tiny_student_config,
    }
    return _resolve(Student, presets, "student", config, checkpoint)


def describe_model(model: Teacher | Student, name: str) -> dict[str, Any]:
    c = model.config
    info: dict[str, Any] = {
        "name": name,
        "parameters": sum(p.numel() for p in model.parameters()),
        "receptive_field": model.receptive_field,
        "sample_rate": c.features.sample_rate,
        "hop_length": c.features.hop_length,
        "residual_channels": c.residual_channels,
        "gate_channels": c.gate_channels,
        "skip_channels": c.skip_channels,
        "kernel_size": c.kernel_size,
    }
    if isinstance(model, Teacher):
        info.update(layers=c.layers, cycles=c.cycles, num_flows=c.num_flows)
    else:
        info.update(flow_layers=list(c.flow_layers), flow_cycles=list(c.flow_cycles))
    return info


# --------------------------------------------------------------------------------------
# The naive sampler's per-sample work, resumable at any time step
# --------------------------------------------------------------------------------------
def naive_steps(
    teacher: Teacher, cond: Tensor, z: Tensor, ys: list[Tensor], start: int, stop: int
) -> None:
    """Run the naive sampler for ``t`` in ``[start, stop)``, in place.

    The same step per sample as :func:`~pwave.nn.incremental.sample_naive`
    (:func:`~pwave.nn.incremental.naive_step`: rerun each flow's WaveNet over the last
    ``receptive_field`` inputs, keep the last output), but resumable: ``ys[k] [B, T]``
    holds flow ``k``'s outputs for ``t < start`` and receives those for
    ``start <= t < stop``. ``start=0, stop=T`` reproduces ``sample_naive``; a
    ``start`` past the receptive field times the steady-state cost per sample.
    """
    with torch.no_grad():
        for t in range(start, stop):
            naive_step(teacher, cond, z, ys, t)


# --------------------------------------------------------------------------------------
# Timing
# --------------------------------------------------------------------------------------
def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


MAX_REPEATS = 1000


def time_call(
    fn: Callable[[], Any],
    device: torch.device,
    warmup: int,
    repeats: int,
    min_time: float = 1.0,
) -> tuple[list[float], Any, float | None]:
    """Call ``fn`` ``warmup`` times, then time at least ``repeats`` calls (synchronised on
    CUDA), and more until the timed calls add up to ``min_time`` seconds (at most
    :data:`MAX_REPEATS`): a short case gets enough calls for a stable median.

    Returns ``(seconds per call, last output, peak CUDA memory in MiB or None)``.
    """
    out = None
    for _ in range(warmup):
        out = fn()
    _sync(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times: list[float] = []
    while len(times) < max(1, repeats) or (sum(times) < min_time and len(times) < MAX_REPEATS):
        _sync(device)
        start = time.perf_counter()
        out = fn()
        _sync(device)
        times.append(time.perf_counter() - start)
    peak = None
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated(device) / 2**20
    return times, out, peak


def _process_peak_rss_mib() -> float | None:
    try:
        import resource

        kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return kib / 1024.0 if sys.platform != "darwin" else kib / 2**20
    except (ImportError, OSError):
        return None


@dataclass
class CaseResult:
    """One timed case (all rates in samples per second of generated/scored audio)."""

    case: str
    model: str
    device: str
    dtype: str
    batch: int
    length: int
    samples: int
    sample_rate: int
    times_s: list[float] = field(default_factory=list)
    median_s: float = float("nan")
    samples_per_s: float = float("nan")
    x_real_time: float = float("nan")
    speedup_vs_naive: float | None = None
    peak_memory_mib: float | None = None
    memory_kind: str = ""
    max_abs_diff: float | None = None
    diff_against: str | None = None
    status: str = "ok"
    note: str = ""


@dataclass
class _Case:
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
class BenchSettings:
    """Everything a benchmark run depends on (the CLI fills it from its arguments)."""

    teacher_config: str = "demo"
    teacher: str | None = None
    student_config: str = "demo"
    student: str | None = None
    batch_sizes: list[int] = field(default_factory=lambda: [1])
    seconds: float = 1.0
    teacher_seconds: float | None = None
    naive_seconds: float = 0.02
    repeats: int = 3
    min_time: float = 1.0
    warmup: int = 1
    device: str = "auto"
    dtypes: list[str] = field(default_factory=lambda: ["float32"])
    compile: bool = False
    threads: int | None = None
    seed: int = 0
    cases: list[str] | None = None
    progress: bool = True


def _frames(seconds: float, feats: FeatureConfig) -> int:
    return max(1, math.ceil(seconds * feats.sample_rate / feats.hop_length))


def _resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda was asked for but torch.cuda.is_available() is False")
    return device


def _autocast(device: torch.device, dtype: torch.dtype):
    return torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32)


def build_cases(
    teacher: Teacher, student: Student, s: BenchSettings, device: torch.device, batch: int
) -> list[_Case]:
    """The cases of one batch size (setup is deferred to each case's ``make``)."""
    g = torch.Generator().manual_seed(s.seed + batch)
    cases: list[_Case] = []
    dev = device.type

    # --- teacher sampling ---------------------------------------------------------------
    tf = teacher.features
    t_frames = _frames(s.seconds if s.teacher_seconds is None else s.teacher_seconds, tf)
    ctx = teacher.config.mel_context_frames
    t_mel = torch.randn(batch, tf.n_mels, t_frames + 2 * ctx, generator=g).to(device)
    T = t_frames * tf.hop_length
    t_z = teacher.base.sample(batch, (T,), generator=g).to(device)
    rate_t = tf.sample_rate
    shared: dict[str, Tensor] = {}

    def make_cached():
        def call():
            out = teacher.sample(t_mel, z=t_z, method="cached")
            shared["cached"] = out
            return out

        return call

    cases.append(_Case("teacher cached", "teacher", "float32", batch, T, rate_t, make_cached))

    def make_fused(mode: str):
        def make():
            sampler = GraphTeacherSampler(teacher, batch, T, device=device, mode=mode)
            sampler.capture()
            return lambda: sampler.sample(t_mel, t_z)  # upsampling included, as in the reference

        return make

    cases.append(
        _Case(
            "teacher cached fused",
            "teacher",
            "float32",
            batch,
            T,
            rate_t,
            make_fused("eager"),
            reference="teacher cached",
        )
    )
    if dev == "cuda":
        cases.append(
            _Case(
                "teacher cached cuda-graph",
                "teacher",
                "float32",
                batch,
                T,
                rate_t,
                make_fused("cuda"),
                reference="teacher cached",
            )
        )

    n_naive = max(1, round(s.naive_seconds * rate_t))
    n_naive = min(n_naive, T)
    start = min(teacher.receptive_field - 1, T - n_naive)

    def make_naive():
        cond = teacher.condition(t_mel).detach()
        ys = [torch.zeros_like(t_z) for _ in teacher.wavenets]
        history = shared.get("cached")
        if history is not None and len(ys) == 1:
            ys[0].copy_(history)  # the cached sample as history: outputs must agree

        def call():
            naive_steps(teacher, cond, t_z, ys, start, start + n_naive)
            return ys[-1][:, start : start + n_naive].clone()

        return call

    steady = start >= teacher.receptive_field - 1
    cases.append(
        _Case(
            "teacher naive",
            "teacher",
            "float32",
            batch,
            n_naive,
            rate_t,
            make_naive,
            reference="teacher cached" if len(teacher.wavenets) == 1 else None,
            offset=start,
            note=(
                f"steps {start}..{start + n_naive - 1}"
                + ("" if steady else " (window shorter than the receptive field)")
            ),
        )
    )

    # --- student sampling ---------------------------------------------------------------
    sf = student.features
    s_frames = _frames(s.seconds, sf)
    s_ctx = student.config.mel_context_frames
    s_mel = torch.randn(batch, sf.n_mels, s_frames + 2 * s_ctx, generator=g).to(device)
    S_len = s_frames * sf.hop_length
    s_z = student.base.sample(batch, (S_len,), generator=g).to(device)
    rate_s = sf.sample_rate
    for name in s.dtypes:
        dtype = DTYPES[name]
        dname = str(dtype).replace("torch.", "")

        def make_ref(dtype=dtype):
            def call():
                with torch.no_grad(), _autocast(device, dtype):
                    return student.sample(s_mel, z=s_z).float()

            return call

        ref_label = "student ref" if dtype == torch.float32 else "student ref autocast"
        cases.append(
            _Case(
                ref_label,
                "student",
                dname,
                batch,
                S_len,
                rate_s,
                make_ref,
                reference=None if dtype == torch.float32 else "student ref",
            )
        )
        compile_opts = [False, True] if s.compile else [False]
        for comp in compile_opts:

            def make_fast(dtype=dtype, comp=comp):
                sampler = FastStudentSampler(student, dtype=dtype, compile=comp)
                return lambda: sampler(s_mel, s_z).float()

            cases.append(
                _Case(
                    "student fused" + (" compiled" if comp else ""),
                    "student",
                    dname,
                    batch,
                    S_len,
                    rate_s,
                    make_fast,
                    reference="student ref",
                )
            )

    # --- the two halves of a distillation step (forward, autograd recording) --------------
    for name in s.dtypes:
        dtype = DTYPES[name]
        dname = str(dtype).replace("torch.", "")

        def make_density(dtype=dtype):
            frames = _frames(s.seconds, tf)
            mel = torch.randn(batch, tf.n_mels, frames + 2 * ctx, generator=g).to(device)
            audio = 0.1 * torch.randn(batch, frames * tf.hop_length, generator=g)
            audio = audio.to(device).requires_grad_(True)

            def call():
                with _autocast(device, dtype):
                    return teacher.log_prob(audio, mel, dequantize=False).detach().float()

            return call

        cases.append(
            _Case(
                "teacher density (fwd)",
                "teacher",
                dname,
                batch,
                _frames(s.seconds, tf) * tf.hop_length,
                rate_t,
                make_density,
                note="distillation half: log p_T(x) with autograd on",
            )
        )

        def make_student_lq(dtype=dtype):
            def call():
                with _autocast(device, dtype):
                    x, log_q = student.sample_and_log_prob(s_mel, z=s_z)
                return log_q.detach().float()

            return call

        cases.append(
            _Case(
                "student sample+logq (fwd)",
                "student",
                dname,
                batch,
                S_len,
                rate_s,
                make_student_lq,
                note="distillation half: x, log q(x) with autograd on",
            )
        )

    if s.cases:
        cases = [c for c in cases if any(key in c.name for key in s.cases)]
    return cases


# --------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------
def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    name = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    name = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{name} ({os.cpu_count()} logical CPUs)"


def _load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def run_benchmark(s: BenchSettings, command: str | None = None) -> dict[str, Any]:
    """Run every case for every batch size; returns the report (see :func:`write_outputs`)."""
    from tqdm.auto import tqdm

    if s.threads:
        torch.set_num_threads(s.threads)
    for name in s.dtypes:
        if name not in DTYPES:
            raise ValueError(f"unknown dtype {name!r}; choose from {sorted(DTYPES)}")
    device = _resolve_device(s.device)
    torch.manual_seed(s.seed)
    teacher = resolve_teacher(s.teacher_config, s.teacher).to(device)
    student = resolve_student(s.student_config, s.student).to(device)
    for p in list(teacher.parameters()) + list(student.parameters()):
        p.requires_grad_(False)
    for p in student.parameters():  # the student is trained in a distillation step
        p.requires_grad_(True)

    meta: dict[str, Any] = {
        "command": command or "",
        "device": str(device),
        "device_name": _device_name(device),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "threads": torch.get_num_threads(),
        "load_average_before": _load_average(),
        "settings": asdict(s),
        "teacher": describe_model(teacher, s.teacher or s.teacher_config),
        "student": describe_model(student, s.student or s.student_config),
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    all_cases = [(b, c) for b in s.batch_sizes for c in build_cases(teacher, student, s, device, b)]
    results: list[CaseResult] = []
    outputs: dict[tuple[int, str, str], Tensor] = {}
    bar = tqdm(all_cases, desc="bench", disable=not s.progress, unit="case")
    for batch, case in bar:
        bar.set_postfix_str(f"{case.name} {case.dtype} B={batch}")
        r = CaseResult(
            case=case.name,
            model=case.model,
            device=str(device),
            dtype=case.dtype,
            batch=batch,
            length=case.length,
            samples=batch * case.length,
            sample_rate=case.sample_rate,
            note=case.note,
        )
        try:
            fn = case.make()
            times, out, peak = time_call(fn, device, s.warmup, s.repeats, s.min_time)
        except Exception as err:  # a failing case (e.g. no compiler) must not end the run
            r.status = f"failed: {type(err).__name__}: {str(err).splitlines()[0][:200]}"
            results.append(r)
            continue
        r.times_s = times
        r.median_s = statistics.median(times)
        r.samples_per_s = r.samples / r.median_s
        r.x_real_time = r.samples_per_s / r.sample_rate
        if peak is not None:
            r.peak_memory_mib, r.memory_kind = peak, "cuda max allocated"
        else:
            r.peak_memory_mib, r.memory_kind = _process_peak_rss_mib(), "process peak RSS"
        if isinstance(out, Tensor):
            outputs[(batch, case.name, case.dtype)] = out.detach()
            ref = outputs.get((batch, case.reference, "float32")) if case.reference else None
            if ref is not None and ref.dim() == 2:
                ref = ref[:, case.offset : case.offset + out.shape[-1]]
            if ref is not None and ref.shape == out.shape:
                r.max_abs_diff = (out.float() - ref.float()).abs().max().item()
                r.diff_against = f"{case.reference} float32"
        results.append(r)
    bar.close()

    for r in results:
        naive = next((n for n in results if n.case == "teacher naive" and n.batch == r.batch), None)
        if naive is not None and r.status == "ok" and naive.status == "ok":
            r.speedup_vs_naive = r.samples_per_s / naive.samples_per_s
    meta["load_average_after"] = _load_average()
    meta["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
    report = {"meta": meta, "results": [asdict(r) for r in results]}
    report["bars"] = evaluate_bars(report)
    return report


# --------------------------------------------------------------------------------------
# Bars, table, files
# --------------------------------------------------------------------------------------
def _best(results: list[dict], pred: Callable[[dict], bool]) -> dict | None:
    ok = [r for r in results if r["status"] == "ok" and pred(r)]
    return max(ok, key=lambda r: r["samples_per_s"]) if ok else None


def evaluate_bars(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The project's speed bars against this run (at the smallest batch size measured).

    Each entry: ``name``, ``target``, ``measured`` (or ``None``), ``met`` (``True``/
    ``False``/``None`` when not measured here) and ``conditions`` (whether the run matches
    the bar's stated conditions, with a note).
    """
    meta, results = report["meta"], report["results"]
    device = meta["device"]
    batches = sorted({r["batch"] for r in results})
    if not batches:
        return []
    b0 = batches[0]
    at_b0 = [r for r in results if r["batch"] == b0]
    teacher, student = meta["teacher"], meta["student"]
    bars: list[dict[str, Any]] = []

    def add(name, target, measured, unit, conditions_ok, conditions):
        met = None if measured is None else bool(measured >= target)
        bars.append(
            dict(
                name=name,
                target=target,
                measured=measured,
                unit=unit,
                met=met,
                conditions_match=conditions_ok,
                conditions=conditions,
                batch=b0,
            )
        )

    naive = _best(at_b0, lambda r: r["case"] == "teacher naive")
    cached = _best(at_b0, lambda r: r["case"].startswith("teacher cached"))
    stud = _best(at_b0, lambda r: r["model"] == "student" and "fwd" not in r["case"])
    if device.startswith("cpu"):
        cond = (
            f"CPU, {meta['threads']} threads; teacher {teacher['name']} (receptive field "
            f"{teacher['receptive_field']}), student {student['name']}"
        )
        demo = teacher["name"] == "demo" and student["name"] == "demo"
        ratio = cached["samples_per_s"] / naive["samples_per_s"] if cached and naive else None
        add(
            f"cached teacher >= {BARS['cpu_cached_vs_naive']:g}x naive (receptive field >= 1000)",
            BARS["cpu_cached_vs_naive"],
            ratio,
            "x",
            demo and teacher["receptive_field"] >= 1000,
            cond + (f"; best cached case: {cached['case']}" if cached else ""),
        )
        for label, ref in (
            ("best cached teacher", cached),
            ("reference cached sampler", _best(at_b0, lambda r: r["case"] == "teacher cached")),
        ):
            ratio = stud["samples_per_s"] / ref["samples_per_s"] if stud and ref else None
            add(
                f"student >= {BARS['cpu_student_vs_cached']:g}x cached teacher (vs {label})",
                BARS["cpu_student_vs_cached"],
                ratio,
                "x",
                demo,
                cond
                + (f"; student case: {stud['case']} {stud['dtype']}" if stud else "")
                + (f"; teacher case: {ref['case']}" if ref else ""),
            )
        add(
            f"student faster than real time at {student['sample_rate']} Hz",
            BARS["cpu_student_real_time"],
            stud["x_real_time"] if stud else None,
            "x real time",
            demo and student["sample_rate"] == 16000,
            cond + (f"; student case: {stud['case']} {stud['dtype']}" if stud else ""),
        )
    else:
        bf16 = _best(
            at_b0,
            lambda r: r["model"] == "student" and "fwd" not in r["case"] and "bf" in r["dtype"],
        )
        seconds = meta["settings"]["seconds"]
        add(
            "paper student, bf16, batch 1, 10 s utterance >= 20 M samples/s",
            BARS["gpu_student_samples_per_s"],
            bf16["samples_per_s"] if bf16 else None,
            "samples/s",
            student["name"] == "paper" and b0 == 1 and seconds >= 10,
            f"student {student['name']}, batch {b0}, {seconds} s"
            + (f"; case: {bf16['case']} {bf16['dtype']}" if bf16 else "; no bf16 student case"),
        )
        graph = _best(at_b0, lambda r: r["case"] == "teacher cached cuda-graph")
        add(
            "paper teacher, cached with CUDA graphs, batch 1 >= 5000 samples/s",
            BARS["gpu_teacher_graph_samples_per_s"],
            graph["samples_per_s"] if graph else None,
            "samples/s",
            teacher["name"] == "paper" and b0 == 1,
            f"teacher {teacher['name']}, batch {b0}",
        )
    return bars


def _fmt_rate(x: float) -> str:
    if not math.isfinite(x):
        return "-"
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if x >= scale:
            return f"{x / scale:.3g}{unit}"
    return f"{x:.3g}"


def format_table(report: dict[str, Any]) -> str:
    """The results as a fixed-width text table, then the bars."""
    header = [
        "case",
        "device",
        "dtype",
        "batch",
        "samples",
        "median time",
        "samples/s",
        "x real time",
        "vs naive",
        "peak MiB",
        "max|diff|",
    ]
    rows = [header]
    for r in report["results"]:
        if r["status"] != "ok":
            rows.append([r["case"], r["device"], r["dtype"], str(r["batch"]), "-", r["status"]])
            continue
        rows.append(
            [
                r["case"],
                r["device"],
                r["dtype"],
                str(r["batch"]),
                str(r["samples"]),
                f"{r['median_s'] * 1e3:.4g} ms",
                _fmt_rate(r["samples_per_s"]),
                f"{r['x_real_time']:.3g}",
                "-" if r["speedup_vs_naive"] is None else f"{r['speedup_vs_naive']:.3g}x",
                "-" if r["peak_memory_mib"] is None else f"{r['peak_memory_mib']:.0f}",
                "-" if r["max_abs_diff"] is None else f"{r['max_abs_diff']:.1e}",
            ]
        )
    widths = [max(len(row[i]) for row in rows if i < len(row)) for i in range(len(header))]
    lines = []
    for n, row in enumerate(rows):
        if len(row) < len(header):  # failed case: status spans the rest
            lines.append(
                "  ".join(c.ljust(widths[i]) for i, c in enumerate(row[:-1])) + "  " + row[-1]
            )
        else:
            lines.append(
                "  ".join(
                    c.ljust(w) if i == 0 else c.rjust(w)
                    for i, (c, w) in enumerate(zip(row, widths))
                )
            )
        if n == 0:
            lines.append("-" * len(lines[0]))
    meta = report["meta"]
    lines.append(
        "samples/s = batch x length / median time; x real time at the model's sample rate; "
        "vs naive: against the naive teacher at the same batch; max|diff|: largest difference "
        "from the float32 reference case of the same model (same noise)."
    )
    lines.append("")
    lines.append(
        f"device: {meta['device_name']}; torch {meta['torch']}; threads {meta['threads']}; "
        f"load average before/after: {meta['load_average_before']} / {meta['load_average_after']}"
    )
    lines.append("bars (information, not assertions):")
    for b in report["bars"]:
        verdict = {True: "MET", False: "not met", None: "not measured"}[b["met"]]
        measured = "-" if b["measured"] is None else f"{b['measured']:.4g} {b['unit']}"
        cond = "" if b["conditions_match"] else " [this run differs from the bar's conditions]"
        lines.append(f"  {b['name']}: {measured} -> {verdict}{cond}")
    return "\n".join(lines)


def format_markdown(report: dict[str, Any]) -> str:
    """The results and bars as Markdown tables (what docs/benchmarks.md quotes)."""
    meta = report["meta"]
    lines = [
        f"`{meta['command']}`",
        "",
        f"Device: {meta['device_name']}; torch {meta['torch']}; {meta['threads']} threads; "
        f"load average (1/5/15 min) before {meta['load_average_before']}, after "
        f"{meta['load_average_after']}.",
        "",
        "| case | device | dtype | batch | samples | median time | samples/s "
        "| x real time | vs naive | max abs diff |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in report["results"]:
        if r["status"] != "ok":
            lines.append(
                f"| {r['case']} | {r['device']} | {r['dtype']} | {r['batch']} | "
                f"{r['status']} | | | | | |"
            )
            continue
        vs = "-" if r["speedup_vs_naive"] is None else f"{r['speedup_vs_naive']:.3g}x"
        diff = "-" if r["max_abs_diff"] is None else f"{r['max_abs_diff']:.1e}"
        lines.append(
            f"| {r['case']} | {r['device']} | {r['dtype']} | {r['batch']} | {r['samples']} | "
            f"{r['median_s'] * 1e3:.4g} ms | {_fmt_rate(r['samples_per_s'])} | "
            f"{r['x_real_time']:.3g} | {vs} | {diff} |"
        )
    lines += ["", "| bar | measured | met |", "|---|---:|---|"]
    for b in report["bars"]:
        measured = "-" if b["measured"] is None else f"{b['measured']:.4g} {b['unit']}"
        verdict = {True: "yes", False: "no", None: "not measured"}[b["met"]]
        if not b["conditions_match"]:
            verdict += " (run differs from the bar's conditions)"
        lines.append(f"| {b['name']} | {measured} | {verdict} |")
    return "\n".join(lines) + "\n"


def plot_report(report: dict[str, Any], path: str | os.PathLike) -> None:
    """Horizontal bars of samples/s on a log axis, one per case, with real-time lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = [r for r in report["results"] if r["status"] == "ok"]
    labels = [f"{r['case']} [{r['dtype']}, B={r['batch']}]" for r in ok]
    values = [r["samples_per_s"] for r in ok]
    colours = ["tab:red" if r["model"] == "teacher" else "tab:blue" for r in ok]
    fig, ax = plt.subplots(figsize=(9, 0.35 * len(ok) + 1.6))
    ax.barh(range(len(ok)), values, color=colours)
    ax.set_yticks(range(len(ok)), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("samples / s (log scale)")
    for i, v in enumerate(values):
        ax.text(v, i, f" {_fmt_rate(v)}", va="center", fontsize=7)
    from matplotlib.patches import Patch

    ax.legend(
        handles=[Patch(color="tab:red", label="teacher"), Patch(color="tab:blue", label="student")],
        loc="lower right",
        fontsize=8,
    )
    for rate in sorted({r["sample_rate"] for r in ok}):
        ax.axvline(rate, color="k", linestyle="--", linewidth=0.8)
        ax.text(rate, -0.7, f"real time {rate} Hz", fontsize=7, ha="center")
    meta = report["meta"]
    ax.set_title(
        f"pwave bench on {meta['device_name']} (torch {meta['torch']}, {meta['threads']} threads)",
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_outputs(report: dict[str, Any], output: str | os.PathLike) -> tuple[Path, Path]:
    """Write ``bench.json``, ``bench.png`` and ``bench.md`` into ``output``; returns the
    JSON and PNG paths."""
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    json_path, png_path = out / "bench.json", out / "bench.png"

    def clean(x):
        if isinstance(x, float) and not math.isfinite(x):
            return None
        if isinstance(x, dict):
            return {k: clean(v) for k, v in x.items()}
        if isinstance(x, list):
            return [clean(v) for v in x]
        return x

    json_path.write_text(json.dumps(clean(report), indent=2))
    plot_report(report, png_path)
    (out / "bench.md").write_text(format_markdown(report))
    return json_path, png_path
