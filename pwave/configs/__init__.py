"""The shipped training configs (YAML, package data), resolved by name or path.

``configs/<stage>/<name>.yaml`` inside the package, for ``stage`` in ``teacher``/``student``:
``pwave train teacher --config demo`` and ``--config path/to/my.yaml`` both work, from a
source checkout or an installed wheel. These files are the one source of the presets:
``TeacherConfig.demo()`` is the ``model.teacher`` section of ``teacher/demo.yaml``.

A config may extend another with a comment line in its opening comment block::

    # base: paper

It then states only what differs from its base (the corpus configs extend ``paper``).
``NAME`` is a shipped config of the same stage; a value ending in ``.yaml``/``.yml`` is a
file relative to the config's folder. Being a comment, the directive never reaches
LightningCLI: :func:`config_files` returns the chain base first, for LightningCLI's repeated
``--config`` (later files override earlier ones key by key, lists as a whole), and
:func:`load_config` merges the chain the same way into one dict.
"""

from __future__ import annotations

import copy
import os
import re
from pathlib import Path
from typing import Any

from pwave.errors import UserError

CONFIG_ROOT = Path(__file__).resolve().parent
STAGES = ("teacher", "student")
#: ``# base: NAME`` (a comment line of the file's opening comment block).
BASE_DIRECTIVE = re.compile(r"#\s*base:\s*(?P<base>\S+)")


def config_names(stage: str) -> list[str]:
    """Names of the configs shipped for ``stage`` (``["arctic", "debug", "demo", ...]``)."""
    _check_stage(stage)
    return sorted(p.stem for p in (CONFIG_ROOT / stage).glob("*.yaml"))


def config_path(stage: str, name_or_path: str | os.PathLike) -> Path:
    """The YAML file of a shipped config ``name`` for ``stage``, or ``name_or_path`` itself
    when it is an existing file. Raises :class:`~pwave.errors.UserError` naming the choices.

    This is the one file named, without its base: use :func:`config_files` to train with it.
    """
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


def config_base(path: str | os.PathLike) -> str | None:
    """The ``NAME`` of a ``# base: NAME`` line in the opening comment block of ``path``
    (the comment and blank lines before the first YAML line), or ``None``."""
    with open(path, encoding="utf-8") as f:
        for line in f:
            text = line.strip()
            if text and not text.startswith("#"):
                break
            match = BASE_DIRECTIVE.fullmatch(text)
            if match:
                return match["base"]
    return None


def config_files(stage: str, name_or_path: str | os.PathLike) -> list[Path]:
    """The files of config ``name_or_path`` and of its bases, base first.

    ``["<root>/teacher/paper.yaml", "<root>/teacher/ljspeech.yaml"]`` for ``ljspeech``;
    one file for a config without ``# base:``. Pass each as a ``--config`` in this order.
    Raises :class:`~pwave.errors.UserError` for a missing config or base, or a cycle.
    """
    path = config_path(stage, name_or_path).resolve()
    chain = [path]
    while (base := config_base(path)) is not None:
        path = _base_path(stage, path, base)
        if path in chain:
            cycle = " -> ".join(str(p) for p in [*chain, path])
            raise UserError(f"config bases form a cycle: {cycle}")
        chain.append(path)
    return chain[::-1]


def load_config(stage: str, name_or_path: str | os.PathLike) -> dict[str, Any]:
    """Config ``name_or_path`` as one dict: its chain (:func:`config_files`) read and merged
    base first, as LightningCLI merges repeated ``--config`` files (:func:`merge_configs`)."""
    merged: dict[str, Any] = {}
    for path in config_files(stage, name_or_path):
        merged = merge_configs(merged, read_yaml(path))
    return merged


def read_yaml(path: str | os.PathLike) -> dict[str, Any]:
    """One YAML config file as a dict (``{}`` when empty); its ``# base:`` is not followed."""
    import yaml

    with open(path, encoding="utf-8") as f:
        data = yaml.safe_load(f)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UserError(f"{path}: a config must be a YAML mapping, got {type(data).__name__}")
    return data


def merge_configs(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """A new dict: ``base`` with ``override`` on top, mappings merged key by key and any
    other value (lists included) replaced whole. Neither argument is modified."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_configs(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _base_path(stage: str, path: Path, base: str) -> Path:
    """The file a ``# base:`` value in ``path`` names (see the module docstring)."""
    if base.endswith((".yaml", ".yml")):
        target = (path.parent / base).resolve()
        if not target.is_file():
            raise UserError(f"{path}: its base {base!r} is not a file ({target})")
        return target
    shipped = CONFIG_ROOT / stage / f"{base}.yaml"
    if not shipped.is_file():
        raise UserError(
            f"{path}: its base {base!r} is not a shipped {stage} config; give a .yaml file "
            f"or one of {', '.join(config_names(stage))}"
        )
    return shipped.resolve()


def _check_stage(stage: str) -> None:
    if stage not in STAGES:
        raise ValueError(f"stage must be one of {STAGES}, got {stage!r}")


__all__ = [
    "BASE_DIRECTIVE",
    "CONFIG_ROOT",
    "STAGES",
    "config_base",
    "config_files",
    "config_names",
    "config_path",
    "load_config",
    "merge_configs",
    "read_yaml",
]
