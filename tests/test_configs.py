"""Every shipped config parses with the training CLI, and each teacher/student pair agrees.

A config that extends another (``# base: paper``) is given as its chain of files, base first
(:func:`pwave.configs.config_files`), one ``--config`` each.
"""

from pathlib import Path

import pytest
import yaml

from pwave.audio.features import load_feature_config
from pwave.configs import config_files, load_config
from pwave.train.cli import main

CONFIGS = Path(__file__).resolve().parents[1] / "pwave" / "configs"
NAMES = sorted(p.stem for p in (CONFIGS / "teacher").glob("*.yaml"))


def test_every_teacher_config_has_a_student_twin():
    students = sorted(p.stem for p in (CONFIGS / "student").glob("*.yaml"))
    assert NAMES == students
    assert {"debug", "demo", "paper", "ljspeech", "vctk", "libritts", "arctic"} <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_teacher_and_student_features_match(name):
    teacher = load_feature_config(CONFIGS / "teacher" / f"{name}.yaml")
    student = load_feature_config(CONFIGS / "student" / f"{name}.yaml")
    teacher.check_matches(student, what=f"teacher/{name}", against=f"student/{name}")


def _print_config(stage: str, files: list[Path], capsys) -> dict:
    """The training CLI's ``--print_config`` for ``--config`` ``files`` (in order), as a dict."""
    args = [arg for path in files for arg in ("--config", str(path))]
    with pytest.raises(SystemExit) as exit_info:
        main(stage, [*args, "--print_config"])
    assert exit_info.value.code in (0, None)
    return yaml.safe_load(capsys.readouterr().out)


@pytest.mark.parametrize("stage", ["teacher", "student"])
@pytest.mark.parametrize("name", NAMES)
def test_config_parses_with_the_training_cli(stage, name, capsys):
    merged = _print_config(stage, config_files(stage, name), capsys)
    assert merged["model"][stage]["features"]["sample_rate"] > 0


@pytest.mark.parametrize("stage", ["teacher", "student"])
@pytest.mark.parametrize("name", [n for n in NAMES if len(config_files("teacher", n)) > 1])
def test_a_chain_parses_as_its_merged_file(stage, name, capsys, tmp_path):
    """LightningCLI merges a chain of ``--config`` files as :func:`load_config` does: the
    chain and the one merged file give the same parsed config."""
    merged_file = tmp_path / f"{name}.yaml"
    merged_file.write_text(yaml.safe_dump(load_config(stage, name)))
    from_chain = _print_config(stage, config_files(stage, name), capsys)
    assert from_chain == _print_config(stage, [merged_file], capsys)
