"""The shipped training configs (YAML, package data), resolved by name or path.

``configs/<stage>/<name>.yaml`` inside the package, for ``stage`` in ``teacher``/``student``:
``pwave train teacher --config demo`` and ``--config path/to/my.yaml`` both work, from a
source checkout or an installed wheel.
"""

from __future__ import annotations

import os
from pathlib import Path

from pwave.errors import UserError

CONFIG_ROOT = Path(__file__).resolve().parent
STAGES = ("teacher", "student")


def config_names(stage: str) -> list[str]:
    """Names of the configs shipped for ``stage`` (``["arctic", "debug", "demo", ...]``)."""
    _check_stage(stage)
    return sorted(p.stem for p in (CONFIG_ROOT / stage).glob("*.yaml"))


def config_path(stage: str, name_or_path: str | os.PathLike) -> Path:
    """The YAML file of a shipped config ``name`` for ``stage``, or ``name_or_path`` itself
    when it is an existing file. Raises :class:`~pwave.errors.UserError` naming the choices."""
    _check_stage(stage)
    path = Path(name_or_path)
    if path.is_file():
        return path
    shipped = CONFIG_ROOT / stage / f"{name_or_path}.yaml"
    if shipped.is_file():
        return shipped
    raise UserError(
        f"no {stage} config {str(name_or_path)!r}: give a YAML file or one of "
        f"{', '.join(config_names(stage))}"
    )


def _check_stage(stage: str) -> None:
    if stage not in STAGES:
        raise ValueError(f"stage must be one of {STAGES}, got {stage!r}")


__all__ = ["CONFIG_ROOT", "STAGES", "config_names", "config_path"]
