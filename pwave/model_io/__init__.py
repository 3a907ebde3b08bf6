"""Model I/O: :func:`load_model` for every saved form, and export (safetensors, ONNX)."""

from pwave.model_io.loading import load_model, model_kind

__all__ = ["load_model", "model_kind"]
