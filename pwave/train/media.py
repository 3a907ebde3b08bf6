"""Audio clips and mel images for TensorBoard (validation samples of both stages)."""

from __future__ import annotations

import torch
from torch import Tensor

from pwave.audio.config import FeatureConfig


def tensorboard_writer(module):
    """The ``SummaryWriter`` of the module's TensorBoard logger, or ``None`` if there is none."""
    from lightning.pytorch.loggers import TensorBoardLogger

    for logger in getattr(module, "loggers", None) or []:
        if isinstance(logger, TensorBoardLogger):
            return logger.experiment
    return None


def mel_figure(clips: dict[str, Tensor], features: FeatureConfig):
    """A matplotlib figure with one mel spectrogram per clip (``[T]`` each), stacked.

    Each image is ``[n_mels, T // hop]``: 20 log10 of the mel-filtered STFT magnitude
    (unnormalised, floored at ``features.log_floor``), in dB, the low bins at the bottom. All
    images share one colour range and one labelled colorbar, so real and generated audio
    compare at a glance; the constrained layout keeps each title clear of the tick labels
    above it.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from pwave.audio.mel import MelSpectrogram

    front = MelSpectrogram(features.replace(mel_mean=(), mel_std=()))
    mels = {name: _decibels(front, x, features.log_floor) for name, x in clips.items()}
    lo = min(float(m.min()) for m in mels.values())
    hi = max(float(m.max()) for m in mels.values())
    fig, axes = plt.subplots(
        len(mels), 1, figsize=(8, 2.4 * len(mels)), squeeze=False, layout="constrained"
    )
    for ax, (name, m) in zip(axes[:, 0], mels.items()):
        im = ax.imshow(m, origin="lower", aspect="auto", vmin=lo, vmax=hi, interpolation="none")
        ax.set_title(name)
        ax.set_ylabel("mel bin")
    axes[-1, 0].set_xlabel(f"frame (hop {features.hop_length} samples)")
    fig.colorbar(im, ax=axes[:, 0].tolist(), shrink=0.8, label="mel magnitude (dB)")
    return fig


def _decibels(front, audio: Tensor, floor: float):
    """``20 log10`` of the mel magnitude of ``audio [T]``: a ``[n_mels, T // hop]`` array."""
    magnitude = front.magnitude(audio.detach().float().cpu().reshape(1, -1))[0]
    return (20.0 * torch.log10(magnitude.clamp_min(floor))).numpy()


def log_audio_and_mels(
    module, prefix: str, clips: dict[str, Tensor], features: FeatureConfig
) -> bool:
    """Log each clip (``[T]`` in [-1, 1]) as TensorBoard audio plus one figure of their mels.

    Tags are ``<prefix>/<name>`` for the audio and ``<prefix>/mel`` for the figure. Returns
    whether anything was logged (nothing without a TensorBoard logger).
    """
    writer = tensorboard_writer(module)
    if writer is None:
        return False
    step = int(module.global_step)
    for name, x in clips.items():
        clip = x.detach().float().cpu().reshape(1, -1).clamp(-1.0, 1.0)
        writer.add_audio(f"{prefix}/{name}", clip, step, sample_rate=features.sample_rate)
    with torch.no_grad():
        fig = mel_figure(clips, features)
    writer.add_figure(f"{prefix}/mel", fig, step, close=True)
    return True
