"""TensorBoard media: the mel figure of real and generated clips is legible."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import torch  # noqa: E402

from pwave.audio.config import FeatureConfig  # noqa: E402
from pwave.train.media import mel_figure  # noqa: E402

FEATURES = FeatureConfig(16000, 1024, 256, 1024, 80, fmax=8000.0)


def _clips() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    t = torch.arange(8000) / 16000
    tone = 0.5 * torch.sin(2 * torch.pi * 440 * t) * torch.linspace(0, 1, 8000)
    return {
        "real": tone + 0.01 * torch.randn(8000, generator=g),
        "generated": 0.1 * torch.randn(8000, generator=g),
    }


def test_mel_figure_titles_clear_the_axes_above_and_the_colorbar_has_a_unit():
    import matplotlib.pyplot as plt

    fig = mel_figure(_clips(), FEATURES)
    try:
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        images = [ax for ax in fig.axes if ax.images]
        assert [ax.get_title() for ax in images] == ["real", "generated"]
        upper, lower = images
        title = lower.title.get_window_extent(renderer)
        for label in upper.get_xticklabels() + [upper.xaxis.label]:
            if label.get_visible() and label.get_text():
                assert not title.overlaps(label.get_window_extent(renderer)), label.get_text()
        assert not title.overlaps(upper.get_window_extent(renderer))
        colorbars = [ax.images[0].colorbar for ax in images if ax.images[0].colorbar]
        assert len(colorbars) == 1  # one shared colour scale
        label = colorbars[0].ax.get_ylabel()
        assert label.strip() and "dB" in label
    finally:
        plt.close(fig)


def test_mel_figure_shows_decibels_of_the_mel_magnitude():
    """The image values are 20 log10 of the mel magnitude (the colorbar's unit)."""
    import matplotlib.pyplot as plt

    from pwave.audio.mel import MelSpectrogram

    clips = _clips()
    fig = mel_figure(clips, FEATURES)
    try:
        shown = torch.as_tensor(fig.axes[0].images[0].get_array().data)
        front = MelSpectrogram(FEATURES)
        magnitude = front.magnitude(clips["real"].reshape(1, -1))[0]
        expected = 20 * torch.log10(magnitude.clamp_min(FEATURES.log_floor))
        torch.testing.assert_close(shown.float(), expected.float(), rtol=1e-4, atol=1e-3)
    finally:
        plt.close(fig)
