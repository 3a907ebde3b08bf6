r"""``pwave export``: a checkpoint as a pickle-free folder, and the student as ONNX.

::

    pwave export --checkpoint runs/student-demo/student.pt --output exported/ --onnx

The folder holds

* ``model.safetensors`` -- the state dict (:mod:`safetensors`: plain tensors, no pickle);
* ``config.json`` -- ``{"format": "pwave.export", "version", "kind": "student" | "teacher",
  "config": <model config, its feature config inside>, "feature_config": <the same feature
  config>, "dtype", "pwave_version"}`` plus, with ``--onnx``, an ``"onnx"`` entry describing
  the graph's inputs and outputs;
* ``student.onnx`` (``--onnx``, students only) -- the student's parallel sampling pass
  ``(mel, z) -> audio``:

  - ``mel`` ``[batch, n_mels, frames + 2 * mel_context_frames]`` float32: the log-mel
    **normalised** with the statistics of ``feature_config`` and edge-padded by
    ``mel_context_frames`` frames per side (what
    :meth:`pwave.inference.vocoder.Vocoder.model_input` returns);
  - ``z`` ``[batch, frames * hop_length]`` float32: base noise (``config.base``, Gaussian or
    logistic) times the temperature;
  - ``audio`` ``[batch, frames * hop_length]`` float32, not clipped.

  Batch and frame axes are dynamic. The graph is made by the ``torch.export``-based exporter
  (``torch.onnx.export(dynamo=True)``) with the frame axis declared once and the mel and noise
  lengths derived from it; the TorchScript exporter (``dynamo=False``) mis-traces a slice of the
  time axis in this model and is not used.

:func:`load_pretrained` rebuilds the model from the folder without ``torch.load``; it refuses a
``config.json`` whose feature fields are missing, or whose ``config.features`` and
``feature_config`` disagree, naming the fields.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from pwave.errors import ExportError  # noqa: F401
from pwave.model_io.loading import load_model, load_pretrained, model_kind  # noqa: F401
from pwave.models.savable import (  # noqa: F401
    CONFIG_FILE,
    EXPORT_FORMAT,
    EXPORT_VERSION,
    WEIGHTS_FILE,
    read_export_config,
)
from pwave.models.student import Student
from pwave.models.teacher import Teacher

ONNX_FILE = "student.onnx"
ONNX_OPSET = 18
#: The oldest opset the torch.export-based exporter writes for this model.
ONNX_MIN_OPSET = 18



# --------------------------------------------------------------------------------------------
# safetensors + config.json
# --------------------------------------------------------------------------------------------


def export_safetensors(model: Student | Teacher, out_dir: str | os.PathLike) -> Path:
    """Write ``model.safetensors`` and ``config.json`` into ``out_dir`` (created).

    Returns the folder. Any ``student.onnx`` already there is removed with its config entry,
    since it may describe other weights.
    """
    from safetensors.torch import save_file

    from pwave.version import __version__

    kind = model_kind(model)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}
    floats = [v.dtype for v in state.values() if v.is_floating_point()]
    save_file(state, str(out / WEIGHTS_FILE), metadata={"format": EXPORT_FORMAT, "kind": kind})
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(out / WEIGHTS_FILE, 0o666 & ~umask)  # safetensors writes owner-only files
    config = {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "kind": kind,
        "config": model.config.to_dict(),
        "feature_config": model.features.to_dict(),
        "dtype": str(floats[0]).removeprefix("torch.") if floats else "float32",
        "pwave_version": __version__,
    }
    (out / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n")
    (out / ONNX_FILE).unlink(missing_ok=True)
    return out


# --------------------------------------------------------------------------------------------
# ONNX
# --------------------------------------------------------------------------------------------


class StudentSamplingPass(nn.Module):
    """``(mel [B, n_mels, F + 2 ctx], z [B, F * hop]) -> audio [B, F * hop]``: one parallel
    student pass (the module exported to ONNX)."""

    def __init__(self, student: Student):
        super().__init__()
        self.student = student

    def forward(self, mel: Tensor, z: Tensor) -> Tensor:
        return self.student(mel, z).audio


def fold_weight_norm(model: Student) -> Student:
    """An equal model built with ``use_weight_norm=False`` holding ``model``'s effective
    weights, so that an exported graph stores them instead of recomputing the norm.

    (Removing the parametrisations from a ``deepcopy`` instead would also break ``model``:
    the copy shares its dynamically created parametrised classes.)
    """
    plain = type(model)(model.config.replace(use_weight_norm=False))
    state = {}
    with torch.no_grad():
        for key in plain.state_dict():
            owner, _, attr = key.rpartition(".")
            state[key] = getattr(model.get_submodule(owner), attr).detach().clone()
    plain.load_state_dict(state)
    return plain.to(next(model.parameters()).dtype).eval()


def example_inputs(student: Student, batch: int = 2, frames: int = 7, seed: int = 0):
    """Random ``(mel, z)`` float32 inputs of the exported graph's shapes."""
    g = torch.Generator().manual_seed(seed)
    ctx, hop = student.config.mel_context_frames, student.features.hop_length
    mel = torch.randn(batch, student.features.n_mels, frames + 2 * ctx, generator=g)
    z = torch.randn(batch, frames * hop, generator=g)
    return mel, z


def export_onnx(
    student: Student, path: str | os.PathLike, opset: int = ONNX_OPSET, optimize: bool = True
) -> Path:
    """Write the student's sampling pass (float32, CPU) as ONNX with dynamic batch/frames.

    The exported graph takes ``mel`` and ``z`` as described in the module docstring; weight
    norm is folded into the weights first (:func:`fold_weight_norm`).
    """
    if not isinstance(student, Student):
        raise ExportError(
            "ONNX export covers the student's parallel sampling pass; a teacher samples "
            "sequentially (export it without --onnx)"
        )
    wrapper = StudentSamplingPass(fold_weight_norm(student).float().cpu().eval())
    ctx, hop = student.config.mel_context_frames, student.features.hop_length
    batch = torch.export.Dim("batch", min=1, max=4096)
    frames = torch.export.Dim("frames", min=1, max=2**24)
    dynamic = {
        "mel": {0: batch, 2: frames + 2 * ctx if ctx else frames},
        "z": {0: batch, 1: hop * frames},
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    noisy = logging.getLogger("torch.onnx._internal.exporter._registration")
    level = noisy.level
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        noisy.setLevel(logging.ERROR)  # "torchvision is not installed" lines
        try:
            _onnx_export(wrapper, example_inputs(student), path, dynamic, opset, optimize)
        finally:
            noisy.setLevel(level)
    written = graph_opset(path)
    if written != opset:  # the exporter may not honour the request: never report a false one
        path.unlink(missing_ok=True)
        raise ExportError(
            f"the ONNX exporter wrote opset {written}, not the requested {opset}; "
            f"use --opset {ONNX_MIN_OPSET} or newer"
        )
    return path


def graph_opset(path: str | os.PathLike) -> int:
    """The default-domain opset recorded in an ONNX file (read back with ``onnx``)."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    return next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))


def _onnx_export(wrapper, inputs, path, dynamic, opset, optimize) -> None:
    torch.onnx.export(
        wrapper,
        inputs,
        str(path),
        dynamo=True,
        dynamic_shapes=dynamic,
        input_names=["mel", "z"],
        output_names=["audio"],
        opset_version=opset,
        optimize=optimize,
        external_data=False,
        verbose=False,
    )


def check_onnx(
    path: str | os.PathLike, student: Student, batch: int = 2, frames: int = 11, seed: int = 1
) -> float:
    """Largest ``|onnxruntime - PyTorch|`` on random inputs of a shape unlike the export's."""
    import numpy as np
    import onnxruntime as ort

    mel, z = example_inputs(student, batch, frames, seed)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(["audio"], {"mel": mel.numpy(), "z": z.numpy()})[0]
    with torch.no_grad():
        ref = StudentSamplingPass(copy.deepcopy(student).float().cpu().eval())(mel, z).numpy()
    return float(np.abs(got - ref).max())


def _onnx_entry(student: Student, max_diff: float | None, opset: int) -> dict[str, Any]:
    ctx, hop = student.config.mel_context_frames, student.features.hop_length
    return {
        "file": ONNX_FILE,
        "opset": opset,
        "inputs": {
            "mel": f"float32 [batch, {student.features.n_mels}, frames + {2 * ctx}]: log-mel "
            "normalised with feature_config.mel_mean/mel_std, edge-padded by "
            f"{ctx} frame(s) per side",
            "z": f"float32 [batch, frames * {hop}]: {student.config.base} base noise times the "
            "temperature",
        },
        "outputs": {"audio": f"float32 [batch, frames * {hop}], not clipped"},
        "max_abs_diff_vs_pytorch": max_diff,
    }


# --------------------------------------------------------------------------------------------
# The command
# --------------------------------------------------------------------------------------------
