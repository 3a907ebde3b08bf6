"""``pwave train teacher|student``: the short help, ``--help-all`` and ``--config NAME``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pwave.cli import main

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("stage", ["teacher", "student"])
@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help_is_short_and_leads_with_pwave_options(stage, flag, capsys):
    assert main(["train", stage, flag]) == 0
    out = capsys.readouterr().out
    assert len(out.splitlines()) < 70
    assert out.startswith(f"usage: pwave train {stage}")
    for option in (
        "--config NAME|FILE",
        "--trainer.max_steps",
        "--trainer.default_root_dir",
        "--data.data_dir",
        "--ckpt_path",
        "--resume",
        "--checkpoint_every",
        "--print_config",
        "--help-all",
    ):
        assert option in out, option
    assert ("--teacher PATH" in out) == (stage == "student")
    # The example uses the paths `pwave demo` writes (runs/demo/<stage>/<stage>.pt).
    assert "--teacher runs/demo/teacher/teacher.pt" in out
    assert "--trainer.default_root_dir runs/demo/teacher" in out
    # Plain text for a terminal: no Sphinx markup.
    assert "``" not in out and ":mod:" not in out and ":class:" not in out


def test_help_loads_neither_lightning_nor_torch():
    code = (
        "import sys\n"
        "from pwave.cli import main\n"
        "assert main(['train', 'teacher', '--config', 'demo', '--help']) == 0\n"
        "assert 'lightning' not in sys.modules, 'lightning was imported'\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "--help-all" in done.stdout


def test_help_all_prints_every_lightning_option(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "teacher", "--help-all"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert len(out.splitlines()) > 200
    assert "--trainer.max_epochs" in out and "--model.lr" in out
