"""The options pwave adds to LightningCLI's, in one table (no Lightning import).

:class:`~pwave.train.lightning_cli.PwaveCLI` adds each :data:`PWAVE_OPTIONS` entry to its
parser; ``pwave train <stage> --help`` lists them (``pwave/cli/train.py``). Every other
option is LightningCLI's (``--config``, ``--print_config``, ``--trainer.*``, ``--model.*``,
``--data.*``, ``--seed_everything``).
"""

from __future__ import annotations

from dataclasses import dataclass

from pwave.configs import STAGES

#: The shipped config used without ``--config`` (``pwave/configs/<stage>/demo.yaml``).
DEFAULT_CONFIG = "demo"
#: The value of ``data.data_dir`` that asks for the built-in demo corpus.
DEMO_SENTINEL = "demo"


@dataclass(frozen=True)
class Option:
    """One option: its flag, value type, default, the word for its value and its help.

    ``type`` is ``str``, ``int`` (``positive``: at least 1), ``float`` or ``bool``;
    ``optional``: ``None`` is allowed too. ``stages``: the commands that take it.
    """

    flag: str
    type: type
    default: object
    metavar: str
    help: str
    optional: bool = False
    positive: bool = False
    stages: tuple[str, ...] = STAGES


PWAVE_OPTIONS: tuple[Option, ...] = (
    Option(
        "--teacher",
        str,
        None,
        "PATH",
        "the trained teacher: teacher.pt (or a teacher .ckpt)",
        optional=True,
        stages=("student",),
    ),
    Option(
        "--ckpt_path",
        str,
        None,
        "PATH|last",
        "resume from this checkpoint ('last': the run's latest)",
        optional=True,
    ),
    Option(
        "--resume",
        bool,
        True,
        "true|false",
        "resume from the newest checkpoint in <run folder>/checkpoints, if there is one; "
        "false: start afresh",
    ),
    Option(
        "--checkpoint_every",
        int,
        1000,
        "N",
        "save checkpoints/last.ckpt every N optimizer steps, and keep the newest numbered "
        "step checkpoint unless the config names a ModelCheckpoint",
        positive=True,
    ),
    Option(
        "--validate_at_end",
        bool,
        True,
        "true|false",
        "after training, score the final EMA model on the dev set once more",
    ),
    Option(
        "--demo.utterances",
        int,
        48,
        "N",
        "utterances of the demo corpus, when data.data_dir is 'demo'",
    ),
    Option(
        "--demo.seconds",
        float,
        4.0,
        "SECONDS",
        "seconds of each demo utterance",
    ),
)


def pwave_options(stage: str) -> tuple[Option, ...]:
    """The options of ``pwave train <stage>`` (``stage``: ``"teacher"`` or ``"student"``)."""
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; choose one of {STAGES}")
    return tuple(o for o in PWAVE_OPTIONS if stage in o.stages)


__all__ = ["DEFAULT_CONFIG", "DEMO_SENTINEL", "Option", "PWAVE_OPTIONS", "pwave_options"]
