"""Tests of the benchmark and of the fused / static-buffer inference paths it times.

Every fast path is compared with the reference path of the model code (float64, tight
tolerance); the benchmark itself is run end to end on tiny models and its outputs are
checked for structure and finite positive numbers -- never for speed.
"""

from __future__ import annotations

import json
import math
import shutil

import pytest
import torch

from pwave.apps import bench
from pwave.cli import bench as bench_cli
from pwave.models.sequential import sample_naive
from pwave.models.student import Student
from pwave.models.teacher import Teacher, bounded_log_scale
from pwave.nn.wavenet import WaveNet
from pwave.sampling.cuda_graph import (
    FakeGraph,
    GraphTeacherSampler,
    StaticCachedWaveNet,
    capture_step,
)
from pwave.sampling.fused import (
    FastStudentSampler,
    TimeMajorPlan,
    TimeMajorWorkspace,
    fold_log_scale_bounds,
    fuse_wavenet,
    fused_gate,
    gate_into,
    wavenet_time_major,
)

cuda = pytest.mark.cuda
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def _perturb(module: torch.nn.Module, seed: int, scale: float = 0.3) -> None:
    """Move every parameter away from its (near-zero-output) initialisation."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(scale * torch.randn(p.shape, generator=g, dtype=p.dtype).to(p.device))


def _wavenet(cond_channels: int, kernel_size: int, layers: int, cycles: int, seed: int = 0):
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
    _perturb(net, seed)
    return net


def _tiny_teacher(num_flows: int = 1, seed: int = 0, device="cpu", dtype=torch.float64):
    torch.manual_seed(seed)
    teacher = Teacher(bench.tiny_teacher_config().replace(num_flows=num_flows, init_log_scale=-1.0))
    teacher = teacher.to(device=device, dtype=dtype).eval()
    _perturb(teacher, seed, 0.1)
    return teacher


def _tiny_student(seed: int = 0, device="cpu", dtype=torch.float64):
    torch.manual_seed(seed)
    student = Student(bench.tiny_student_config()).to(device=device, dtype=dtype).eval()
    _perturb(student, seed, 0.1)
    return student


# --------------------------------------------------------------------------------------
# Fused ops against the reference
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "form,pre_scale,out_scale", [("tanh", (1, 0.5), 2), ("sigmoid", (2, 1), 0.5)]
)
def test_fused_gate_equals_tanh_times_sigmoid(form, pre_scale, out_scale):
    g = torch.Generator().manual_seed(1)
    a = 4 * torch.randn(5, 3, 8, generator=g, dtype=torch.float64)
    b = 4 * torch.randn(5, 3, 8, generator=g, dtype=torch.float64)
    ref = torch.tanh(a) * torch.sigmoid(b)
    pre = torch.cat([a * pre_scale[0], b * pre_scale[1]], dim=-1)
    out = fused_gate(pre.clone(), form)
    torch.testing.assert_close(out, out_scale * ref, rtol=0, atol=1e-14)
    buf = torch.empty_like(ref)
    fused_gate(pre.clone(), form, out=buf)
    torch.testing.assert_close(buf, out_scale * ref, rtol=0, atol=1e-14)
    # the out-of-place form (what torch.compile fuses) leaves pre alone
    flat, kept = pre.reshape(-1, 16), pre.clone()
    gated = torch.empty(flat.shape[0], 9, dtype=torch.float64)[:, :8]  # a strided out, as used
    gate_into(flat, gated, form)
    torch.testing.assert_close(gated, out_scale * ref.reshape(-1, 8), rtol=0, atol=1e-14)
    assert torch.equal(pre, kept)
    for bad in (lambda: fused_gate(pre.clone(), "relu"), lambda: gate_into(flat, gated, "relu")):
        with pytest.raises(ValueError, match="gate form"):
            bad()


@pytest.mark.parametrize(
    "cond_channels,kernel_size,layers,cycles,gate",
    [(5, 3, 5, 1, "tanh"), (0, 2, 6, 2, "sigmoid"), (3, 1, 2, 1, "tanh"), (4, 3, 4, 2, "sigmoid")],
)
def test_time_major_wavenet_equals_reference(cond_channels, kernel_size, layers, cycles, gate):
    net = _wavenet(cond_channels, kernel_size, layers, cycles)
    g = torch.Generator().manual_seed(2)
    x = torch.randn(3, 1, 40, generator=g, dtype=torch.float64)
    c = (
        torch.randn(3, cond_channels, 40, generator=g, dtype=torch.float64)
        if cond_channels
        else None
    )
    with torch.no_grad():
        ref = net(x, c)
    fw = fuse_wavenet(net, gate)
    out = wavenet_time_major(fw, x.permute(2, 0, 1), None if c is None else c.permute(2, 0, 1))
    torch.testing.assert_close(out.permute(1, 2, 0), ref, rtol=0, atol=1e-12)
    assert fw.receptive_field == net.receptive_field


@pytest.mark.parametrize("block", [1, 2, 3, 8])
def test_time_major_rescaling_blocks_do_not_change_the_result(block):
    """The stream's rescaling restarts every ``block`` layers; every block size is exact."""
    net = _wavenet(4, 3, 6, 2, seed=11)
    g = torch.Generator().manual_seed(12)
    x = torch.randn(2, 1, 37, generator=g, dtype=torch.float64)
    c = torch.randn(2, 4, 37, generator=g, dtype=torch.float64)
    with torch.no_grad():
        ref = net(x, c)
    plan = TimeMajorPlan.from_fused(fuse_wavenet(net, "sigmoid"), block=block)
    assert sum(ly.restore is not None for ly in plan.layers) == (6 - 1) // block
    out = wavenet_time_major(plan, x.permute(2, 0, 1), c.permute(2, 0, 1))
    torch.testing.assert_close(out.permute(1, 2, 0), ref, rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="block"):
        TimeMajorPlan.from_fused(fuse_wavenet(net), block=0)


def test_one_workspace_serves_nets_of_different_depths_and_batches():
    """Reused buffers must not leak state between calls: each call equals a fresh run."""
    nets = [_wavenet(4, 3, 2, 1, seed=7), _wavenet(4, 3, 6, 2, seed=8)]
    plans = [TimeMajorPlan.from_fused(fuse_wavenet(net)) for net in nets]
    workspace = TimeMajorWorkspace(max(p.fused.max_pad for p in plans))
    g = torch.Generator().manual_seed(9)
    for batch in (2, 2, 3):
        for net, plan in zip(nets, plans):
            x = torch.randn(batch, 1, 33, generator=g, dtype=torch.float64)
            c = torch.randn(batch, 4, 33, generator=g, dtype=torch.float64)
            with torch.no_grad():
                ref = net(x, c)
            out = wavenet_time_major(plan, x.permute(2, 0, 1), c.permute(2, 0, 1), workspace)
            torch.testing.assert_close(out.permute(1, 2, 0), ref, rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="max_pad"):
        wavenet_time_major(plans[1], x.permute(2, 0, 1), c.permute(2, 0, 1), TimeMajorWorkspace(1))


def test_fold_log_scale_bounds_gives_the_bounded_log_scale():
    net = _wavenet(4, 3, 3, 1)
    g = torch.Generator().manual_seed(3)
    x = torch.randn(2, 30, 1, generator=g, dtype=torch.float64)
    c = torch.randn(2, 30, 4, generator=g, dtype=torch.float64)
    raw = wavenet_time_major(fuse_wavenet(net), x.transpose(0, 1), c.transpose(0, 1))[..., 1]
    folded = wavenet_time_major(
        fold_log_scale_bounds(fuse_wavenet(net), -7.0, 2.0), x.transpose(0, 1), c.transpose(0, 1)
    )[..., 1]
    torch.testing.assert_close(
        4.5 * torch.tanh(folded) - 2.5, bounded_log_scale(raw, -7.0, 2.0), rtol=0, atol=1e-12
    )


def test_fast_student_equals_reference_sample():
    student = _tiny_student()
    g = torch.Generator().manual_seed(4)
    mel = torch.randn(2, 8, 6, generator=g, dtype=torch.float64)
    z = torch.randn(2, 96, generator=g, dtype=torch.float64)
    ref = student.sample(mel, z=z)
    for gate in ("tanh", "sigmoid"):
        out = FastStudentSampler(student, gate=gate)(mel, z)
        torch.testing.assert_close(out, ref, rtol=0, atol=1e-12)
    # reduced precision conditioners stay close (bf16 keeps ~3 significant digits)
    low = FastStudentSampler(student.float(), dtype=torch.bfloat16)(mel.float(), z.float())
    assert low.dtype == torch.float32
    assert (low - ref.float()).abs().max() < 0.05 * ref.abs().max() + 1e-3


def test_compiled_fast_student_equals_eager_on_cpu():
    """``torch.compile`` traces the workspace logic (inductor's C++ backend on a CPU)."""
    student = _tiny_student(dtype=torch.float32)
    g = torch.Generator().manual_seed(10)
    mel = torch.randn(1, 8, 4, generator=g)
    z = torch.randn(1, 64, generator=g)
    if shutil.which("g++") is None and shutil.which("c++") is None:
        pytest.skip("inductor needs a C++ compiler on a CPU")
    eager = FastStudentSampler(student)(mel, z)
    compiled = FastStudentSampler(student, compile=True)(mel, z)
    torch.testing.assert_close(compiled, eager, rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------------------------
# The static-buffer cached step and its (fake) graph replay
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("gate", ["tanh", "sigmoid"])
def test_static_step_equals_parallel_pass_column_by_column(gate):
    net = _wavenet(5, 3, 4, 2)
    B, T = 2, 25
    g = torch.Generator().manual_seed(5)
    x = torch.randn(B, 1, T, generator=g, dtype=torch.float64)
    c = torch.randn(B, 5, T, generator=g, dtype=torch.float64)
    with torch.no_grad():
        ref = net(x, c)
    counter = torch.zeros(1, dtype=torch.long)
    step = StaticCachedWaveNet(fuse_wavenet(net, gate), B, counter)
    proj = torch.zeros(T, B, 4 * 10, dtype=torch.float64)
    step.project_conditioning(c.permute(2, 0, 1), proj)
    outs = []
    for t in range(T):
        step.x_in.copy_(x[:, :, t])
        step.cond_t.copy_(proj[t])
        outs.append(step.step().clone())
        counter.add_(1)
    torch.testing.assert_close(torch.stack(outs, -1), ref, rtol=0, atol=1e-12)


@pytest.mark.parametrize("num_flows", [1, 2])
def test_fake_graph_sampler_equals_eager_cached_sampler(num_flows):
    teacher = _tiny_teacher(num_flows)
    g = torch.Generator().manual_seed(6)
    mel = torch.randn(2, 8, 5, generator=g, dtype=torch.float64)
    z = torch.randn(2, 80, generator=g, dtype=torch.float64)
    ref = teacher.sample(mel, z=z, method="cached")
    sampler = GraphTeacherSampler(teacher, 2, 80, mode="eager")
    out = sampler.sample(mel, z)
    assert isinstance(sampler._graph, FakeGraph)
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-12)
    # static buffers are reused: a second utterance through the same graph is also exact
    z2 = torch.randn(2, 80, generator=g, dtype=torch.float64)
    torch.testing.assert_close(
        sampler.sample(mel, z2), teacher.sample(mel, z=z2, method="cached"), rtol=0, atol=1e-12
    )
    with pytest.raises(ValueError, match="built for"):
        sampler.sample(mel, z[:, :40])


def test_capture_step_modes():
    calls = []
    graph = capture_step(lambda: calls.append(1), mode="eager")
    graph.replay()
    graph.replay()
    assert calls == [1, 1]
    with pytest.raises(ValueError):
        capture_step(lambda: None, mode="bogus")


def test_naive_steps_resume_and_match_reference():
    teacher = _tiny_teacher(2)
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
            "tiny",
            "--student-config",
            "tiny",
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
    monkeypatch.setattr(bench.time, "perf_counter", lambda: clock[0])

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
    monkeypatch.setattr(bench, "MAX_REPEATS", 4)
    times, _, _ = bench.time_call(tick, cpu, warmup=0, repeats=1, min_time=100.0)
    assert len(times) == 4


def test_bench_records_a_failing_case_instead_of_crashing(monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("no compiler here")

    monkeypatch.setattr(bench, "FastStudentSampler", boom)
    settings = bench.BenchSettings(
        teacher_config="tiny",
        student_config="tiny",
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


def test_bench_rejects_unknown_models_and_dtypes():
    with pytest.raises(ValueError, match="teacher-config"):
        bench.resolve_teacher("no-such-config")
    with pytest.raises(ValueError, match="dtype"):
        bench.run_benchmark(bench.BenchSettings(dtypes=["int3"], progress=False))


def test_yaml_config_is_read(tmp_path):
    import yaml

    cfg = bench.tiny_teacher_config().replace(layers=3)
    path = tmp_path / "t.yaml"
    path.write_text(yaml.safe_dump({"model": {"teacher": cfg.to_dict()}}))
    assert bench.resolve_teacher(str(path)).config.layers == 3


# --------------------------------------------------------------------------------------
# CUDA (skipped without a GPU; run them whenever one is available)
# --------------------------------------------------------------------------------------
@cuda
@needs_cuda
def test_cuda_graph_sampler_equals_eager_on_cuda():
    teacher = _tiny_teacher(2, device="cuda", dtype=torch.float32)
    g = torch.Generator().manual_seed(8)
    mel = torch.randn(2, 8, 5, generator=g).cuda()
    z = torch.randn(2, 80, generator=g).cuda()
    eager = GraphTeacherSampler(teacher, 2, 80, mode="eager").sample(mel, z)
    graphed = GraphTeacherSampler(teacher, 2, 80, mode="cuda")
    out = graphed.sample(mel, z)
    assert isinstance(graphed._graph, torch.cuda.CUDAGraph)
    torch.testing.assert_close(out, eager, rtol=0, atol=1e-5)
    ref = teacher.sample(mel, z=z, method="cached")
    torch.testing.assert_close(out, ref, rtol=1e-3, atol=1e-3)
    torch.testing.assert_close(graphed.sample(mel, z), out, rtol=0, atol=0)  # replay again


@cuda
@needs_cuda
def test_fast_student_on_cuda_float64_bf16_and_compiled():
    student = _tiny_student(device="cuda", dtype=torch.float64)
    g = torch.Generator().manual_seed(9)
    mel = torch.randn(2, 8, 6, generator=g, dtype=torch.float64).cuda()
    z = torch.randn(2, 96, generator=g, dtype=torch.float64).cuda()
    ref = student.sample(mel, z=z)
    torch.testing.assert_close(FastStudentSampler(student)(mel, z), ref, rtol=0, atol=1e-12)
    student = student.float()
    ref32 = student.sample(mel.float(), z=z.float())
    low = FastStudentSampler(student, dtype=torch.bfloat16)(mel.float(), z.float())
    assert (low - ref32).abs().max() < 0.05 * ref32.abs().max() + 1e-3
    compiled = FastStudentSampler(student, compile=True)(mel.float(), z.float())
    torch.testing.assert_close(compiled, ref32, rtol=1e-4, atol=1e-4)


@cuda
@needs_cuda
def test_bench_runs_on_cuda(tmp_path):
    settings = bench.BenchSettings(
        teacher_config="tiny",
        student_config="tiny",
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
