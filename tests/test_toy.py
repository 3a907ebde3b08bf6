"""The 2-D teacher/student toy: known densities are normalised; a tiny run writes its files."""

from __future__ import annotations

import argparse
import json
import math

import pytest
import torch

from pwave.apps import toy
from pwave.cli import toy as toy_cli


@pytest.mark.parametrize("name", ["8gaussians", "ring", "checkerboard"])
def test_known_log_density_integrates_to_one(name):
    density = toy.make_density(name)
    n, lim = 1200, 4.0  # even count: the grid avoids the origin (the ring's 1/r)
    axis = (torch.arange(n, dtype=torch.float64) + 0.5) * (2 * lim / n) - lim
    grid = torch.cartesian_prod(axis, axis)
    mass = density.log_prob(grid).exp().sum().item() * (2 * lim / n) ** 2
    assert abs(mass - 1.0) < 2e-3, mass


@pytest.mark.parametrize("name", ["8gaussians", "ring", "checkerboard"])
def test_samples_follow_the_log_density(name):
    """Two paths agree: the Monte Carlo entropy of the sampler matches the grid entropy."""
    density = toy.make_density(name)
    x = density.sample(50_000, torch.Generator().manual_seed(0)).double()
    log_p = density.log_prob(x)
    assert torch.isfinite(log_p).all()  # samples lie in the support
    n, lim = 1000, 4.0
    axis = (torch.arange(n, dtype=torch.float64) + 0.5) * (2 * lim / n) - lim
    grid_log_p = density.log_prob(torch.cartesian_prod(axis, axis))
    p = grid_log_p.exp()
    grid_entropy = -(p * torch.where(p > 0, grid_log_p, 0.0)).sum().item() * (2 * lim / n) ** 2
    mc_entropy = -log_p.mean().item()
    se = log_p.std().item() / math.sqrt(x.shape[0])
    assert abs(mc_entropy - grid_entropy) < 5 * se + 5e-3


def test_moons_sampler_shape():
    x = toy.make_density("moons").sample(100, torch.Generator().manual_seed(0))
    assert x.shape == (100, 2) and torch.isfinite(x).all()


def test_tiny_run_writes_metrics_and_plot(tmp_path):
    parser = toy_cli.add_arguments(argparse.ArgumentParser())
    tiny = "--teacher-steps 3 --student-steps 3 --teacher-layers 2 --student-layers 2 --hidden 8"
    tiny += " --bins 4 --batch-size 64 --eval-samples 500 --time-samples 200 --seed 1"
    args = parser.parse_args(["--output", str(tmp_path), *tiny.split()])
    threads = torch.get_num_threads()
    metrics = toy.run_toy(args)
    assert torch.get_num_threads() == threads  # the toy restores the thread count
    on_disk = json.loads((tmp_path / "metrics.json").read_text())
    assert (tmp_path / "toy.png").stat().st_size > 0
    for key in [
        "teacher_kl",
        "teacher_kl_se",
        "teacher_nll",
        "true_entropy",
        "true_entropy_se",
        "student_reverse_kl",
        "student_reverse_kl_se",
        "teacher_samples_per_second",
        "student_samples_per_second",
        "student_speedup",
        "total_seconds",
    ]:
        assert key in on_disk, key
        assert math.isfinite(on_disk[key]), key
        assert on_disk[key] == pytest.approx(metrics[key])
    # the 8-Gaussians entropy: log 8 + log(2 pi e sigma^2) for well-separated modes
    expected = math.log(8) + math.log(2 * math.pi * math.e * 0.2**2)
    assert on_disk["true_entropy"] == pytest.approx(
        expected, abs=5 * on_disk["true_entropy_se"] + 0.01
    )
    assert on_disk["config"]["seed"] == 1


def test_main_without_density_reports_no_kl(tmp_path, capsys):
    tiny = "--dataset moons --teacher-steps 2 --student-steps 2 --teacher-layers 1"
    tiny += " --student-layers 1 --hidden 8 --flow affine --eval-samples 300 --time-samples 100"
    assert toy_cli.main(["--output", str(tmp_path), *tiny.split(), "--no-plot"]) == 0
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["teacher_kl"] is None and math.isfinite(metrics["student_reverse_kl"])
    assert "teacher NLL" in capsys.readouterr().out


def test_toy_runs_through_the_pwave_cli(tmp_path):
    """`pwave toy` (the CLI adds its own entries to the namespace) writes its JSON too."""
    import json

    from pwave.cli import main

    out = tmp_path / "cli"
    code = main(
        ["toy", "--output", str(out), "--teacher-steps", "3", "--student-steps", "3",
         "--eval-samples", "500", "--time-samples", "200", "--no-plot"]
    )  # fmt: skip
    assert code == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["config"]["teacher_steps"] == 3
