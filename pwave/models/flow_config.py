"""What :class:`~pwave.models.teacher.TeacherConfig` and
:class:`~pwave.models.student.StudentConfig` share, as plain functions.

The two dataclasses deliberately have no common base class: LightningCLI (jsonargparse)
would then read them as ``class_path`` subclasses and the YAML configs would no longer
parse. Each config calls these helpers from its own methods instead:

* :func:`front_end`: the features and upsampler factors, coerced and checked;
* :func:`check_log_scales`: the soft bounds of the log-scale and the initial log-scale;
* :func:`config_to_dict` / :func:`config_from_dict`: the plain-dict form saved in
  checkpoints and exports;
* :func:`preset_section`: the ``model.<stage>`` section of a shipped YAML config, which
  the ``demo()`` and ``paper()`` presets are built from (the YAML is their one source).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, TypeVar

from pwave.audio.config import FeatureConfig
from pwave.configs import load_config
from pwave.nn.upsampler import check_upsample_factors

ConfigT = TypeVar("ConfigT")

def preset_section(stage: str, name: str) -> dict[str, Any]:
    """The ``model.<stage>`` section of the shipped config ``name`` (``pwave/configs/<stage>/
    <name>.yaml``, its ``# base:`` chain merged): what ``TeacherConfig.demo()`` and the other
    presets are built from, so a preset and the YAML it names cannot drift apart.

    Raises ``ValueError`` when that config has no such section.
    """
    section = load_config(stage, name).get("model", {}).get(stage)
    if not isinstance(section, dict):
        raise ValueError(f"the shipped {stage} config {name!r} has no model.{stage} section")
    return section


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
