"""Tests of the benchmark: its naive-sampler steps against the reference, and the benchmark
run end to end on tiny models, its outputs checked for structure and finite positive numbers
-- never for speed. The fused / static-buffer paths it times are tested against the reference
in ``tests/test_sampling_fused.py`` and ``tests/test_sampling_cuda_graph.py``.
"""

from __future__ import annotations

import json
import math

import pytest
import torch
from helpers.models import tiny_teacher_config
from helpers.perturbed_models import perturbed_teacher

from pwave.apps import bench
from pwave.apps.bench import cases as bench_cases
from pwave.apps.bench import timing as bench_timing
from pwave.cli import bench as bench_cli
from pwave.models.sequential import sample_naive

cuda = pytest.mark.cuda
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


# --------------------------------------------------------------------------------------
# The naive sampler's resumable steps
# --------------------------------------------------------------------------------------
def test_naive_steps_resume_and_match_reference():
    teacher = perturbed_teacher(2)
    g = torch.Generator().manual_seed(7)
    mel = torch.randn(1, 8, 4, generator=g, dtype=torch.float64)
    z = torch.randn(1, 64, generator=g, dtype=torch.float64)
    cond = teacher.condition(mel).detach()
    ref = sample_naive(teacher, cond, z)
    ys = [torch.zeros_like(z) for _ in range(2)]
    bench.naive_steps(teacher, cond, z, ys, 0, 40)
    bench.naive_steps(teacher, cond, z, ys, 40, 64)  # resumed
    torch.testing.assert_close(ys[-1], ref, rtol=0, atol=1e-12)


# --------------------------------------------------------------------------------------
# The benchmark end to end
# --------------------------------------------------------------------------------------
def _check_report(report, batches):
    assert set(report) == {"meta", "results", "bars"}
    meta = report["meta"]
    for key in ("command", "device", "device_name", "torch", "threads", "teacher", "student"):
        assert key in meta
    assert meta["teacher"]["receptive_field"] > 1
    names = {r["case"] for r in report["results"]}
    expected = {
        "teacher naive",
        "teacher cached",
        "teacher cached fused",
        "student ref",
        "student fused",
        "teacher density (fwd)",
        "student sample+logq (fwd)",
    }
    assert expected <= names
    assert {r["batch"] for r in report["results"]} == set(batches)
    for r in report["results"]:
        assert r["status"] == "ok", r
        for key in ("median_s", "samples_per_s", "x_real_time", "speedup_vs_naive"):
            assert math.isfinite(r[key]) and r[key] > 0, (r["case"], key, r[key])
        assert r["samples"] == r["batch"] * r["length"]
        assert len(r["times_s"]) >= 1
    # fused paths reproduce their references (float32, same noise)
    for r in report["results"]:
        if r["case"] in ("teacher cached fused", "student fused", "teacher naive"):
            assert r["max_abs_diff"] is not None and r["max_abs_diff"] < 1e-3, r
    assert len(report["bars"]) == 4
    for b in report["bars"]:
        assert b["met"] in (True, False) and b["measured"] > 0


def test_bench_end_to_end_writes_json_and_png(tmp_path, capsys):
    out = tmp_path / "bench"
    code = bench_cli.main(
        [
            "--teacher-config",
            "debug",
            "--student-config",
            "debug",
            "--batch-sizes",
            "1,2",
            "--seconds",
            "0.01",
            "--naive-seconds",
            "0.002",
            "--repeats",
            "1",
            "--min-time",
            "0",
            "--warmup",
            "1",
            "--device",
            "cpu",
            "--threads",
            "1",
            "--output",
            str(out),
            "--no-progress",
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "samples/s" in printed and "bars" in printed
    report = json.loads((out / "bench.json").read_text())
    _check_report(report, [1, 2])
    assert report["meta"]["command"].startswith("pwave bench")
    markdown = (out / "bench.md").read_text()
    assert "| teacher naive |" in markdown and "| bar |" in markdown
    png = (out / "bench.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 1000


def test_time_call_repeats_until_min_time(monkeypatch):
    """At least ``repeats`` calls, then more until ``min_time`` is reached (capped)."""
    clock = [0.0]
    monkeypatch.setattr(bench_timing.time, "perf_counter", lambda: clock[0])

    def tick():  # each call takes 0.1 s of the fake clock
        clock[0] += 0.1
        return clock[0]

    cpu = torch.device("cpu")
    times, _, _ = bench.time_call(tick, cpu, warmup=2, repeats=3, min_time=0.0)
    assert len(times) == 3
    times, _, _ = bench.time_call(tick, cpu, warmup=0, repeats=3, min_time=0.95)
    assert len(times) == 10 and sum(times) >= 0.95
    times, _, _ = bench.time_call(tick, cpu, warmup=0, repeats=20, min_time=0.5)
    assert len(times) == 20
    monkeypatch.setattr(bench_timing, "MAX_REPEATS", 4)
    times, _, _ = bench.time_call(tick, cpu, warmup=0, repeats=1, min_time=100.0)
    assert len(times) == 4


def test_bench_records_a_failing_case_instead_of_crashing(monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("no compiler here")

    monkeypatch.setattr(bench_cases, "FastStudentSampler", boom)
    settings = bench.BenchSettings(
        teacher_config="debug",
        student_config="debug",
        seconds=0.005,
        naive_seconds=0.001,
        repeats=1,
        min_time=0.0,
        warmup=0,
        device="cpu",
        cases=["student"],
        progress=False,
    )
    report = bench.run_benchmark(settings)
    status = {r["case"]: r["status"] for r in report["results"]}
    assert status["student fused"].startswith("failed: RuntimeError")
    assert status["student ref"] == "ok"
    assert "failed" in bench.format_table(report)


def test_bench_script_runs(tmp_path):
    """``python scripts/bench.py`` is ``pwave bench`` (it answers --help and runs)."""
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "scripts" / "bench.py"
    done = subprocess.run(
        [sys.executable, str(script), "--help"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "--teacher-config" in done.stdout


def test_bench_rejects_unknown_models_and_dtypes():
    with pytest.raises(ValueError, match="teacher-config"):
        bench.resolve_teacher("no-such-config")
    with pytest.raises(ValueError, match="dtype"):
        bench.run_benchmark(bench.BenchSettings(dtypes=["int3"], progress=False))


def test_yaml_config_is_read(tmp_path):
    import yaml

    cfg = tiny_teacher_config().replace(layers=3)
    path = tmp_path / "t.yaml"
    path.write_text(yaml.safe_dump({"model": {"teacher": cfg.to_dict()}}))
    assert bench.resolve_teacher(str(path)).config.layers == 3


def _plot_report(cases):
    """A report as the plot reads it: ``cases`` are ``(name, model, samples/s)``."""
    results = [
        dict(case=c, model=m, dtype="float32", batch=1, samples_per_s=v, sample_rate=16000,
             status="ok")
        for c, m, v in cases
    ]  # fmt: skip
    meta = {"device_name": "AMD EPYC (2 logical CPUs)", "torch": "2.13.0+cpu", "threads": 1}
    return {"meta": meta, "results": results, "bars": []}


def test_bench_plot_is_readable():
    """Legend outside the bars and clear of every label, real-time label clear of the titles,
    and the forward-pass (density) bars on their own panel, apart from the sampling bars."""
    report = _plot_report(
        [
            ("teacher naive", "teacher", 352.0),
            ("teacher cached", "teacher", 967.0),
            ("teacher cached fused", "teacher", 4.1e3),
            ("student ref", "student", 5.2e4),
            ("student fused", "student", 2.7e4),
            ("teacher density (fwd)", "teacher", 6.8e4),
            ("student sample+logq (fwd)", "student", 9.0e4),  # the last bar is the longest
        ]
    )
    fig = bench.bench_figure(report)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    legends = list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend()]
    assert legends
    texts = [t for ax in fig.axes for t in ax.texts]
    titles = [ax.title for ax in fig.axes if ax.get_title()] + (
        [fig._suptitle] if fig._suptitle is not None else []
    )
    assert titles and texts
    for legend in legends:
        box = legend.get_window_extent(renderer)
        for ax in fig.axes:
            assert not box.overlaps(ax.get_window_extent(renderer)), "legend over the bars"
        for t in texts:
            assert not box.overlaps(t.get_window_extent(renderer)), t.get_text()
    for title in titles:
        for t in texts:
            assert not title.get_window_extent(renderer).overlaps(t.get_window_extent(renderer)), (
                t.get_text()
            )
    panels = [{t.get_text() for t in ax.get_yticklabels()} for ax in fig.axes]
    panels = [labels for labels in panels if labels - {""}]
    density = [labels for labels in panels if any("(fwd)" in x for x in labels)]
    assert len(density) == 1 and all("(fwd)" in x for x in density[0] - {""}), panels
    assert sum(any("(fwd)" not in x for x in labels - {""}) for labels in panels) == 1
    import matplotlib.pyplot as plt

    plt.close(fig)


# --------------------------------------------------------------------------------------
# CUDA (skipped without a GPU; run them whenever one is available)
# --------------------------------------------------------------------------------------
@cuda
@needs_cuda
def test_bench_runs_on_cuda(tmp_path):
    settings = bench.BenchSettings(
        teacher_config="debug",
        student_config="debug",
        seconds=0.01,
        naive_seconds=0.002,
        repeats=1,
        min_time=0.0,
        warmup=1,
        device="cuda",
        dtypes=["float32", "bfloat16"],
        progress=False,
    )
    report = bench.run_benchmark(settings)
    names = {r["case"] for r in report["results"] if r["status"] == "ok"}
    assert "teacher cached cuda-graph" in names
    json_path, png_path = bench.write_outputs(report, tmp_path)
    assert json_path.exists() and png_path.exists()
