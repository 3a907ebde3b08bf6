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
    ``mel_context_frames`` frames per side (what :meth:`pwave.synthesize.Vocoder.model_input`
    returns);
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

import argparse
import copy
import dataclasses
import json
import logging
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from pwave.audio.config import FeatureConfig
from pwave.models.student import Student, StudentConfig
from pwave.models.teacher import Teacher, TeacherConfig
from pwave.synthesize import load_checkpoint, model_kind

EXPORT_FORMAT = "pwave.export"
EXPORT_VERSION = 1
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
ONNX_FILE = "student.onnx"
ONNX_OPSET = 18

_CONFIGS = {"student": (Student, StudentConfig), "teacher": (Teacher, TeacherConfig)}
_FEATURE_FIELDS = tuple(f.name for f in dataclasses.fields(FeatureConfig))


class ExportError(ValueError):
    """An export folder that cannot be written or loaded; the message says why."""


# --------------------------------------------------------------------------------------------
# safetensors + config.json
# --------------------------------------------------------------------------------------------


def export_safetensors(model: Student | Teacher, out_dir: str | os.PathLike) -> Path:
    """Write ``model.safetensors`` and ``config.json`` into ``out_dir`` (created).

    Returns the folder. Any ``student.onnx`` already there is removed with its config entry,
    since it may describe other weights.
    """
    from safetensors.torch import save_file

    from pwave import __version__

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


def _feature_config(d: Any, where: str) -> FeatureConfig:
    if not isinstance(d, dict):
        raise ExportError(f"{where} is missing or not an object; re-export with `pwave export`")
    missing = [f for f in _FEATURE_FIELDS if f not in d]
    if missing:
        raise ExportError(
            f"{where} lacks the feature field(s) {missing}; every field of FeatureConfig must "
            "be given (re-export with `pwave export`)"
        )
    try:
        return FeatureConfig.from_dict(d)
    except (TypeError, ValueError) as err:
        raise ExportError(f"{where} is not a valid feature config: {err}") from None


def read_export_config(folder: str | os.PathLike) -> dict[str, Any]:
    """Read and check ``config.json`` of an export folder.

    Raises:
        ExportError: missing/invalid file, unknown format or kind, missing feature fields.
        pwave.audio.config.FeatureMismatchError: ``config.features`` and ``feature_config``
            differ (the message names the fields).
    """
    path = Path(folder) / CONFIG_FILE
    if not path.is_file():
        raise ExportError(f"no {CONFIG_FILE} in {folder}; is it a folder of `pwave export`?")
    try:
        cfg = json.loads(path.read_text())
    except (ValueError, OSError) as err:
        raise ExportError(f"{path} is not valid JSON: {err}") from None
    if not isinstance(cfg, dict) or cfg.get("format") != EXPORT_FORMAT:
        raise ExportError(f"{path} is not a pwave export config (format {EXPORT_FORMAT!r})")
    version = cfg.get("version")
    if not isinstance(version, int) or version < 1:
        raise ExportError(f"{path} has no valid export 'version' (an integer >= 1)")
    if version > EXPORT_VERSION:
        raise ExportError(
            f"{path} has export version {cfg.get('version')}; this pwave reads up to "
            f"{EXPORT_VERSION} (upgrade pwave)"
        )
    if cfg.get("kind") not in _CONFIGS:
        raise ExportError(f"{path}: kind must be 'student' or 'teacher', got {cfg.get('kind')!r}")
    model_cfg = cfg.get("config")
    if not isinstance(model_cfg, dict):
        raise ExportError(f"{path} has no model 'config' object")
    declared = _feature_config(cfg.get("feature_config"), f"{path}: 'feature_config'")
    inside = _feature_config(model_cfg.get("features"), f"{path}: 'config.features'")
    inside.check_matches(declared, what="model config ('config.features')", against=path.name)
    return cfg


def load_pretrained(folder: str | os.PathLike, map_location: str | torch.device = "cpu"):
    """Rebuild the :class:`Student` or :class:`Teacher` of an export folder (eval mode).

    Reads ``config.json`` (checked by :func:`read_export_config`) and ``model.safetensors``;
    never unpickles anything. The saved floating-point dtype is kept.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    folder = Path(folder)
    cfg = read_export_config(folder)
    model_cls, config_cls = _CONFIGS[cfg["kind"]]
    try:
        model = model_cls(config_cls.from_dict(cfg["config"]))
    except (TypeError, ValueError) as err:
        raise ExportError(f"{folder / CONFIG_FILE}: invalid {cfg['kind']} config: {err}") from None
    weights = folder / WEIGHTS_FILE
    if not weights.is_file():
        raise ExportError(f"no {WEIGHTS_FILE} in {folder}")
    try:
        state = load_file(str(weights), device=str(torch.device(map_location)))
    except (SafetensorError, OSError, ValueError) as err:
        raise ExportError(f"{weights} cannot be read: {err}") from None
    expected = set(model.state_dict())
    missing, unexpected = sorted(expected - set(state)), sorted(set(state) - expected)
    if missing or unexpected:
        raise ExportError(
            f"{weights} does not fit the {cfg['kind']} described by {CONFIG_FILE}: "
            f"missing {missing[:5]}{'...' if len(missing) > 5 else ''}, "
            f"unexpected {unexpected[:5]}{'...' if len(unexpected) > 5 else ''}"
        )
    floats = [v.dtype for v in state.values() if v.is_floating_point()]
    model = model.to(device=map_location, dtype=floats[0] if floats else None)
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        raise ExportError(f"{weights} does not fit {CONFIG_FILE}: {err}") from None
    return model.eval()


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
    return path


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


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``pwave export``."""
    parser.add_argument(
        "--checkpoint", required=True, help="student.pt / teacher.pt or a pwave .ckpt"
    )
    parser.add_argument("--output", required=True, help="export folder (created)")
    parser.add_argument(
        "--onnx", action="store_true", help="also write student.onnx (students only)"
    )
    parser.add_argument("--opset", type=int, default=ONNX_OPSET, help="ONNX opset (default 18)")


def run(args: argparse.Namespace) -> int:
    """``pwave export``."""
    from pwave.cli import UserError

    try:
        model = load_checkpoint(args.checkpoint)
    except (FileNotFoundError, ValueError, RuntimeError) as err:
        raise UserError(str(err)) from None
    if args.onnx and not isinstance(model, Student):
        raise UserError(
            "--onnx exports the student's parallel sampling pass; this checkpoint is a "
            "teacher (sequential sampling): export it without --onnx"
        )
    out = export_safetensors(model, args.output)
    print(f"wrote {out / WEIGHTS_FILE} and {out / CONFIG_FILE} ({model_kind(model)})")
    if args.onnx:
        onnx_path = export_onnx(model, out / ONNX_FILE, opset=args.opset)
        try:
            diff: float | None = check_onnx(onnx_path, model)
        except ImportError:
            diff = None
        cfg = json.loads((out / CONFIG_FILE).read_text())
        cfg["onnx"] = _onnx_entry(model, diff, args.opset)
        (out / CONFIG_FILE).write_text(json.dumps(cfg, indent=2) + "\n")
        check = "not checked (onnxruntime missing)" if diff is None else f"max |diff| {diff:.2e}"
        print(f"wrote {onnx_path}: onnxruntime vs PyTorch on random inputs: {check}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m pwave.export ...``."""
    from pwave.cli import run_standalone

    return run_standalone("pwave export", __doc__, add_arguments, run, argv)


if __name__ == "__main__":
    sys.exit(main())
