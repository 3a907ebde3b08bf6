"""Every shipped config parses with the training CLI, and each teacher/student pair agrees."""

from pathlib import Path

import pytest
import yaml

from pwave.audio.features import load_feature_config
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


@pytest.mark.parametrize("stage", ["teacher", "student"])
@pytest.mark.parametrize("name", NAMES)
def test_config_parses_with_the_training_cli(stage, name, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(stage, ["--config", str(CONFIGS / stage / f"{name}.yaml"), "--print_config"])
    assert exit_info.value.code in (0, None)
    merged = yaml.safe_load(capsys.readouterr().out)
    assert merged["model"][stage]["features"]["sample_rate"] > 0
