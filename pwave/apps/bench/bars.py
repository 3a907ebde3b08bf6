"""The project's speed bars (see docs/benchmarks.md), evaluated against one run as
information, never as assertions.

Each bar is one small function of a :class:`RunView` (the run at its smallest batch size);
:data:`CPU_BARS` and :data:`GPU_BARS` list them in the order they are reported.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

#: The project's speed bars (see docs/benchmarks.md); evaluated as information.
BARS = {
    "cpu_cached_vs_naive": 20.0,
    "cpu_student_vs_cached": 50.0,
    "cpu_student_real_time": 1.0,
    "gpu_student_samples_per_s": 20e6,
    "gpu_teacher_graph_samples_per_s": 5000.0,
}

Row = dict[str, Any]


@dataclass(frozen=True)
class RunView:
    """The report's meta and its finished cases at the smallest batch size measured."""

    meta: dict[str, Any]
    batch: int
    results: list[Row]

    def best(self, pred: Callable[[Row], bool]) -> Row | None:
        """The fastest finished case that satisfies ``pred`` (``None`` if none does)."""
        ok = [r for r in self.results if r["status"] == "ok" and pred(r)]
        return max(ok, key=lambda r: r["samples_per_s"]) if ok else None

    @property
    def teacher(self) -> dict[str, Any]:
        return self.meta["teacher"]

    @property
    def student(self) -> dict[str, Any]:
        return self.meta["student"]

    @property
    def demo_models(self) -> bool:
        return self.teacher["name"] == "demo" and self.student["name"] == "demo"

    @property
    def naive(self) -> Row | None:
        return self.best(lambda r: r["case"] == "teacher naive")

    @property
    def cached(self) -> Row | None:
        return self.best(lambda r: r["case"].startswith("teacher cached"))

    @property
    def sampling_student(self) -> Row | None:
        return self.best(lambda r: r["model"] == "student" and "fwd" not in r["case"])

    def cpu_conditions(self) -> str:
        t, st = self.teacher, self.student
        return (
            f"CPU, {self.meta['threads']} threads; teacher {t['name']} (receptive field "
            f"{t['receptive_field']}), student {st['name']}"
        )


def _bar(
    view: RunView,
    name: str,
    key: str,
    measured: float | None,
    unit: str,
    conditions_match: bool,
    conditions: str,
) -> Row:
    target = BARS[key]
    return dict(
        name=name,
        target=target,
        measured=measured,
        unit=unit,
        met=None if measured is None else bool(measured >= target),
        conditions_match=conditions_match,
        conditions=conditions,
        batch=view.batch,
    )


def _ratio(num: Row | None, den: Row | None) -> float | None:
    return num["samples_per_s"] / den["samples_per_s"] if num and den else None


def _case(label: str, row: Row | None, with_dtype: bool = True) -> str:
    if row is None:
        return ""
    return f"; {label}: {row['case']}" + (f" {row['dtype']}" if with_dtype else "")


def cpu_cached_vs_naive(v: RunView) -> Row:
    cached = v.cached
    return _bar(
        v,
        f"cached teacher >= {BARS['cpu_cached_vs_naive']:g}x naive (receptive field >= 1000)",
        "cpu_cached_vs_naive",
        _ratio(cached, v.naive),
        "x",
        v.demo_models and v.teacher["receptive_field"] >= 1000,
        v.cpu_conditions() + _case("best cached case", cached, with_dtype=False),
    )


def _student_vs(v: RunView, label: str, teacher_case: Row | None) -> Row:
    stud = v.sampling_student
    return _bar(
        v,
        f"student >= {BARS['cpu_student_vs_cached']:g}x cached teacher (vs {label})",
        "cpu_student_vs_cached",
        _ratio(stud, teacher_case),
        "x",
        v.demo_models,
        v.cpu_conditions()
        + _case("student case", stud)
        + _case("teacher case", teacher_case, with_dtype=False),
    )


def cpu_student_vs_best_cached(v: RunView) -> Row:
    return _student_vs(v, "best cached teacher", v.cached)


def cpu_student_vs_reference_cached(v: RunView) -> Row:
    reference = v.best(lambda r: r["case"] == "teacher cached")
    return _student_vs(v, "reference cached sampler", reference)


def cpu_student_real_time(v: RunView) -> Row:
    stud, rate = v.sampling_student, v.student["sample_rate"]
    return _bar(
        v,
        f"student faster than real time at {rate} Hz",
        "cpu_student_real_time",
        stud["x_real_time"] if stud else None,
        "x real time",
        v.demo_models and rate == 16000,
        v.cpu_conditions() + _case("student case", stud),
    )


def gpu_student_rate(v: RunView) -> Row:
    bf16 = v.best(
        lambda r: r["model"] == "student" and "fwd" not in r["case"] and "bf" in r["dtype"]
    )
    seconds = v.meta["settings"]["seconds"]
    return _bar(
        v,
        "paper student, bf16, batch 1, 10 s utterance >= 20 M samples/s",
        "gpu_student_samples_per_s",
        bf16["samples_per_s"] if bf16 else None,
        "samples/s",
        v.student["name"] == "paper" and v.batch == 1 and seconds >= 10,
        f"student {v.student['name']}, batch {v.batch}, {seconds} s"
        + (f"; case: {bf16['case']} {bf16['dtype']}" if bf16 else "; no bf16 student case"),
    )


def gpu_teacher_graph_rate(v: RunView) -> Row:
    graph = v.best(lambda r: r["case"] == "teacher cached cuda-graph")
    return _bar(
        v,
        "paper teacher, cached with CUDA graphs, batch 1 >= 5000 samples/s",
        "gpu_teacher_graph_samples_per_s",
        graph["samples_per_s"] if graph else None,
        "samples/s",
        v.teacher["name"] == "paper" and v.batch == 1,
        f"teacher {v.teacher['name']}, batch {v.batch}",
    )


CPU_BARS: tuple[Callable[[RunView], Row], ...] = (
    cpu_cached_vs_naive,
    cpu_student_vs_best_cached,
    cpu_student_vs_reference_cached,
    cpu_student_real_time,
)
GPU_BARS: tuple[Callable[[RunView], Row], ...] = (gpu_student_rate, gpu_teacher_graph_rate)


def evaluate_bars(report: dict[str, Any]) -> list[Row]:
    """The project's speed bars against this run (at the smallest batch size measured).

    Each entry: ``name``, ``target``, ``measured`` (or ``None``), ``unit``, ``met``
    (``True``/``False``/``None`` when not measured here), ``conditions_match`` (whether the
    run matches the bar's stated conditions), ``conditions`` (a note) and ``batch``.
    """
    meta, results = report["meta"], report["results"]
    batches = sorted({r["batch"] for r in results})
    if not batches:
        return []
    view = RunView(meta, batches[0], [r for r in results if r["batch"] == batches[0]])
    bars = CPU_BARS if meta["device"].startswith("cpu") else GPU_BARS
    return [bar(view) for bar in bars]
