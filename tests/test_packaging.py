"""What the wheel ships and what the README promises, checked from the files themselves.

(``scripts/check_wheel.sh``, run by ``.ci/run``, builds and installs the real wheel and runs
``pwave demo --config-name debug`` from it; these checks are the fast part.)
"""

import re
import shutil
import subprocess
import tomllib
from fnmatch import fnmatch
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "pwave"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
README = (ROOT / "README.md").read_text()


def _subpackages() -> list[str]:
    """``pwave.<name>`` for every module and package directly under ``pwave/``."""
    names = {p.stem for p in PACKAGE.glob("*.py") if not p.stem.startswith("__")}
    names |= {p.parent.name for p in PACKAGE.glob("*/__init__.py")}
    return sorted(f"pwave.{n}" for n in names)


def test_every_config_yaml_is_package_data():
    patterns = PYPROJECT["tool"]["setuptools"]["package-data"]["pwave.configs"]
    configs = PACKAGE / "configs"
    files = sorted(p.relative_to(configs).as_posix() for p in configs.rglob("*.yaml"))
    assert len(files) >= 14
    missed = [f for f in files if not any(fnmatch(f, pattern) for pattern in patterns)]
    assert not missed, f"not in [tool.setuptools.package-data]: {missed}"


def test_the_version_is_written_once():
    assert "version" in PYPROJECT["project"]["dynamic"]
    assert "version" not in PYPROJECT["project"]
    attr = PYPROJECT["tool"]["setuptools"]["dynamic"]["version"]["attr"]
    assert attr == "pwave.version.__version__"


def test_every_package_is_found_by_setuptools():
    include = PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = ["pwave", *(str(p.parent.relative_to(ROOT)).replace("/", ".")
                           for p in PACKAGE.rglob("__init__.py"))]
    assert all(any(fnmatch(name, pattern) for pattern in include) for name in packages)


def test_every_subpackage_has_a_layer_and_a_row_in_the_architecture_doc():
    layers = PYPROJECT["tool"]["importlinter"]["contracts"][0]["layers"]
    in_layers = {name for layer in layers for name in re.split(r"[|:]", layer.replace(" ", ""))}
    doc = (ROOT / "docs" / "architecture.md").read_text()
    for name in _subpackages():
        assert name in in_layers, f"{name} is in no import-linter layer (pyproject.toml)"
        assert f"`{name}`" in doc, f"{name} is missing from docs/architecture.md"


def _two_commands() -> list[str]:
    section = README.split("## The two commands", 1)[1]
    block = section.split("```bash\n", 1)[1].split("```", 1)[0]
    return [line.split("  #", 1)[0].strip() for line in block.splitlines() if line.strip()]


def test_the_readme_has_two_commands_and_ci_runs_the_second():
    first, second = _two_commands()
    assert first.startswith("bash scripts/quickstart.sh")
    assert (ROOT / "scripts" / "quickstart.sh").is_file()
    assert second == "python -m pytest -q"
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert second in [line.strip() for line in ci]


def test_the_quickstart_settings_are_documented():
    script = (ROOT / "scripts" / "quickstart.sh").read_text()
    for name in ("TORCH_SPEC", "TORCH_INDEX_URL", "PYTHON", "VENV"):
        assert re.search(rf"^{name}=\$\{{{name}", script, re.M), name
        assert f"`{name}`" in README, name


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_the_quickstart_refuses_an_old_python_before_installing_anything(tmp_path):
    old = tmp_path / "python3.10"
    old.write_text("#!/bin/sh\nexit 1\n")  # what `python3.10 -c 'version check'` returns
    old.chmod(0o755)
    venv = tmp_path / "venv"
    proc = subprocess.run(
        ["bash", str(ROOT / "scripts" / "quickstart.sh")],
        env={"PATH": "/usr/bin:/bin", "PYTHON": str(old), "VENV": str(venv)},
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert "Python 3.11 or newer" in proc.stderr
    assert not venv.exists()


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
@pytest.mark.parametrize("script", ["scripts/quickstart.sh", "scripts/check_wheel.sh", ".ci/run"])
def test_the_shell_scripts_parse(script):
    subprocess.run(["bash", "-n", str(ROOT / script)], check=True)
