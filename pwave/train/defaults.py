"""The one set of optimisation defaults of both training stages.

:class:`FlowTrainingDefaults` lists the arguments of
:class:`~pwave.train.flow_module.FlowTrainingModule` (Adam, the learning-rate schedule, the
EMA, the non-finite guard) with their defaults; :data:`DEFAULTS` is its one instance. The
base module, both stage modules, :class:`~pwave.train.ema.EMA` and
:class:`~pwave.train.nonfinite.NonFiniteGuard` take their defaults from it. Each stage
module still spells the arguments out in its own signature, because LightningCLI reads that
signature (names, types, defaults) to parse the configs; :func:`flow_training_args` passes
them on to the base class.

The shipped YAML configs set most of these explicitly; the defaults apply to what a config
leaves out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from pwave.train.schedule import DecayKind


@dataclass(frozen=True)
class FlowTrainingDefaults:
    """Defaults of the optimisation arguments (see :class:`FlowTrainingModule`'s).

    Attributes:
        lr: peak Adam learning rate.
        betas: Adam betas.
        weight_decay: Adam (L2) weight decay.
        warmup_steps: optimizer steps of linear warm-up.
        lr_decay: ``"none"``, ``"exponential"`` or ``"cosine"`` after the warm-up.
        lr_decay_steps: exponential: steps per factor ``lr_decay_rate``; cosine: length of
            the decay; ``None``: the rest of the run.
        lr_decay_rate: exponential decay factor per ``lr_decay_steps``.
        lr_min_ratio: floor of the learning rate, as a fraction of ``lr``.
        ema_decay: decay of the weight average used for validation and export.
        max_nonfinite_in_a_row: skipped (non-finite) steps tolerated in a row before
            training stops with an error.
    """

    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.0
    warmup_steps: int = 200
    lr_decay: DecayKind = "exponential"
    lr_decay_steps: int | None = 200_000
    lr_decay_rate: float = 0.5
    lr_min_ratio: float = 0.0
    ema_decay: float = 0.999
    max_nonfinite_in_a_row: int = 10


#: The defaults every signature uses.
DEFAULTS = FlowTrainingDefaults()

#: Names of the optimisation arguments, ``lr`` first.
FLOW_TRAINING_ARGS: tuple[str, ...] = tuple(f.name for f in fields(FlowTrainingDefaults))


def flow_training_args(arguments: Mapping[str, Any]) -> dict[str, Any]:
    """The optimisation arguments (:data:`FLOW_TRAINING_ARGS`) picked out of a stage
    module's constructor arguments (its ``locals()``)."""
    return {name: arguments[name] for name in FLOW_TRAINING_ARGS}


__all__ = ["DEFAULTS", "FLOW_TRAINING_ARGS", "FlowTrainingDefaults", "flow_training_args"]
