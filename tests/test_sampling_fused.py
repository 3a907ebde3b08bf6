"""The fused WaveNet weights, the time-major parallel pass and the fast student sampler
(:mod:`pwave.sampling.fused`, :mod:`pwave.sampling.time_major`) against the reference path of
the model code (float64, tight tolerance)."""

from __future__ import annotations

import shutil

import pytest
import torch
from helpers.perturbed_models import perturbed_student, perturbed_wavenet

from pwave.models.teacher import bounded_log_scale
from pwave.sampling.fused import fold_log_scale_bounds, fuse_wavenet, fused_gate, gate_into
from pwave.sampling.time_major import (
    FastStudentSampler,
    TimeMajorPlan,
    TimeMajorWorkspace,
    wavenet_time_major,
)

cuda = pytest.mark.cuda
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


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
    net = perturbed_wavenet(cond_channels, kernel_size, layers, cycles)
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
    net = perturbed_wavenet(4, 3, 6, 2, seed=11)
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
    nets = [perturbed_wavenet(4, 3, 2, 1, seed=7), perturbed_wavenet(4, 3, 6, 2, seed=8)]
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
    net = perturbed_wavenet(4, 3, 3, 1)
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
    student = perturbed_student()
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
    student = perturbed_student(dtype=torch.float32)
    g = torch.Generator().manual_seed(10)
    mel = torch.randn(1, 8, 4, generator=g)
    z = torch.randn(1, 64, generator=g)
    if shutil.which("g++") is None and shutil.which("c++") is None:
        pytest.skip("inductor needs a C++ compiler on a CPU")
    eager = FastStudentSampler(student)(mel, z)
    compiled = FastStudentSampler(student, compile=True)(mel, z)
    torch.testing.assert_close(compiled, eager, rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------------------------
# CUDA (skipped without a GPU; run them whenever one is available)
# --------------------------------------------------------------------------------------
@cuda
@needs_cuda
def test_fast_student_on_cuda_float64_bf16_and_compiled():
    student = perturbed_student(device="cuda", dtype=torch.float64)
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
