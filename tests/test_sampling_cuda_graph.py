"""The static-buffer cached teacher step and its graph replay
(:mod:`pwave.sampling.cuda_graph`) against the parallel pass and the eager cached sampler
(float64, tight tolerance; the real CUDA graph only with a GPU)."""

from __future__ import annotations

import pytest
import torch
from helpers.perturbed_models import perturbed_teacher, perturbed_wavenet

from pwave.sampling.cuda_graph import (
    FakeGraph,
    GraphTeacherSampler,
    StaticCachedWaveNet,
    capture_step,
)
from pwave.sampling.fused import fuse_wavenet

cuda = pytest.mark.cuda
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.mark.parametrize("gate", ["tanh", "sigmoid"])
def test_static_step_equals_parallel_pass_column_by_column(gate):
    net = perturbed_wavenet(5, 3, 4, 2)
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
    teacher = perturbed_teacher(num_flows)
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


# --------------------------------------------------------------------------------------
# CUDA (skipped without a GPU; run them whenever one is available)
# --------------------------------------------------------------------------------------
@cuda
@needs_cuda
def test_cuda_graph_sampler_equals_eager_on_cuda():
    teacher = perturbed_teacher(2, device="cuda", dtype=torch.float32)
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
