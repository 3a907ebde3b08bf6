"""What :class:`~pwave.models.teacher.TeacherConfig` and
:class:`~pwave.models.student.StudentConfig` share, as plain functions.

The two dataclasses deliberately have no common base class: LightningCLI (jsonargparse)
would then read them as ``class_path`` subclasses and the YAML configs would no longer
parse. Each config calls these helpers from its own methods instead:

* :func:`front_end`: the features and upsampler factors, coerced and checked;
* :func:`check_log_scales`: the soft bounds of the log-scale and the initial log-scale;
* :func:`config_to_dict` / :func:`config_from_dict`: the plain-dict form saved in
  checkpoints and exports;
* :data:`DEMO_FEATURES` / :data:`PAPER_FEATURES`: the front ends of the ``demo()`` and
  ``paper()`` presets (the student's must equal its teacher's).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, TypeVar

from pwave.audio.config import FeatureConfig
from pwave.nn.upsampler import check_upsample_factors

ConfigT = TypeVar("ConfigT")

#: Front end of the demo presets: 16 kHz, hop 256, 80 mel bins up to 8 kHz.
DEMO_FEATURES = FeatureConfig(
    sample_rate=16000,
    n_fft=1024,
    hop_length=256,
    win_length=1024,
    n_mels=80,
    fmin=0.0,
    fmax=8000.0,
)

#: Front end of the paper presets: 24 kHz, hop 300, 80 mel bins up to 12 kHz.
PAPER_FEATURES = FeatureConfig(
    sample_rate=24000,
    n_fft=2048,
    hop_length=300,
    win_length=1200,
    n_mels=80,
    fmin=0.0,
    fmax=12000.0,
)


def front_end(
    features: FeatureConfig | dict[str, Any], upsample_factors: Sequence[int]
) -> tuple[FeatureConfig, tuple[int, ...]]:
    """``(features, upsample_factors)`` as a :class:`FeatureConfig` and a tuple of ints.

    Raises ``ValueError`` unless the factors multiply to ``features.hop_length``.
    """
    if isinstance(features, dict):
        features = FeatureConfig.from_dict(features)
    factors = tuple(int(f) for f in upsample_factors)
    check_upsample_factors(features.hop_length, factors)
    return features, factors


def check_log_scales(
    log_scale_min: float, log_scale_max: float, init_log_scale: float, num_flows: int
) -> None:
    """Raise ``ValueError`` unless ``log_scale_min < log_scale_max`` and each flow's share
    of the initial log-scale, ``init_log_scale / num_flows``, lies strictly between them."""
    if not log_scale_min < log_scale_max:
        raise ValueError(f"log_scale_min={log_scale_min} must be < log_scale_max={log_scale_max}")
    per_flow = init_log_scale / num_flows
    if not log_scale_min < per_flow < log_scale_max:
        raise ValueError(
            f"init_log_scale / num_flows = {per_flow} must lie inside "
            f"({log_scale_min}, {log_scale_max})"
        )


def config_to_dict(config: Any) -> dict[str, Any]:
    """Plain dict of a config dataclass (lists, str, numbers) -- safe for
    ``torch.load(weights_only=True)`` and YAML.

    Fields in declaration order; the :class:`FeatureConfig` becomes its own dict and every
    tuple (upsampler factors, per-flow layers and cycles) a list.
    """
    d = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
    for key, value in d.items():
        if isinstance(value, FeatureConfig):
            d[key] = value.to_dict()
        elif isinstance(value, tuple):
            d[key] = list(value)
    return d


def config_from_dict(cls: type[ConfigT], d: dict[str, Any], what: str) -> ConfigT:
    """``cls(**d)`` after a check that ``d`` names only fields of ``cls``.

    ``what`` names the config in the error (``"unknown teacher config fields: [...]"``); a
    ``features`` dict is turned into a :class:`FeatureConfig` by the config itself.
    """
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = set(d) - known
    if unknown:
        raise ValueError(f"unknown {what} config fields: {sorted(unknown)}")
    return cls(**d)
