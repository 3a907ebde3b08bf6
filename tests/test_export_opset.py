"""``pwave export --onnx --opset N``: the opset that ``config.json`` reports is the opset of
the graph in ``student.onnx`` (read back with ``onnx``, not taken from the exporter's word),
and an opset the exporter cannot honour is refused rather than recorded."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest
import torch
from helpers.perturbed_models import perturbed_student

from pwave.model_io.export import ONNX_FILE, ONNX_OPSET
from pwave.models.savable import CONFIG_FILE

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxscript")


def _cli(*argv: str) -> int:
    from pwave.cli.export import add_arguments, run

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return run(parser.parse_args(list(argv)))


def _graph_opset(path) -> int:
    model = onnx.load(str(path))
    return next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("student") / "student.pt"
    perturbed_student(seed=4).float().save(path)
    return path


def test_the_recorded_opset_is_the_graphs_and_the_graph_runs(checkpoint, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    out = tmp_path / "e"
    assert _cli("--checkpoint", str(checkpoint), "--output", str(out), "--onnx") == 0
    entry = json.loads((out / CONFIG_FILE).read_text())["onnx"]
    assert entry["opset"] == ONNX_OPSET == _graph_opset(out / ONNX_FILE)
    # the reported difference is an upper bound of what onnxruntime does on other inputs
    student = perturbed_student(seed=4).float()
    session = ort.InferenceSession(str(out / ONNX_FILE), providers=["CPUExecutionProvider"])
    g = torch.Generator().manual_seed(11)
    mel = torch.randn(3, 8, 17, generator=g)
    z = torch.randn(3, 17 * 16, generator=g)
    (got,) = session.run(["audio"], {"mel": mel.numpy(), "z": z.numpy()})
    ref = student.sample(mel, z=z).numpy()
    assert entry["max_abs_diff_vs_pytorch"] is not None
    assert np.abs(got - ref).max() <= max(10 * entry["max_abs_diff_vs_pytorch"], 1e-5)


def test_an_opset_the_exporter_cannot_honour_is_refused_not_misreported(checkpoint, tmp_path):
    from pwave.errors import UserError

    out = tmp_path / "e17"
    try:
        code = _cli("--checkpoint", str(checkpoint), "--output", str(out), "--onnx",
                    "--opset", "17")  # fmt: skip
    except UserError as err:
        assert "18" in str(err)  # names what works
        assert not (out / ONNX_FILE).exists()
        return
    assert code == 0
    entry = json.loads((out / CONFIG_FILE).read_text())["onnx"]
    assert entry["opset"] == _graph_opset(out / ONNX_FILE)
