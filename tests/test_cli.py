"""The ``pwave`` command line's face: dispatch, errors, imports, help text and option names.

Import checks run in a fresh interpreter (``sys.modules`` of the test process already holds
torch); help checks build every command's parser in this process (``pwave train``'s options
belong to LightningCLI and are left out).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import types

import pytest

from pwave import cli
from pwave.errors import UserError
from pwave.version import __version__

PLAIN_COMMANDS = [c for c in cli.COMMANDS if not c.name.startswith("train ")]
SPHINX = re.compile(r"``|:(mod|func|class|meth|attr|math):|\.\. (math|code-block)::")


def fresh_python(code: str) -> list[str]:
    """Run ``code`` in a new interpreter; the words of its stdout lines that start ``FLAGS``."""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=300
    )
    assert done.returncode == 0, done.stderr
    lines = [line.split()[1:] for line in done.stdout.splitlines() if line.startswith("FLAGS ")]
    return [word for line in lines for word in line]


@pytest.fixture(scope="module")
def parsers() -> dict[str, argparse.ArgumentParser]:
    return {c.name: cli.build_parser(c) for c in PLAIN_COMMANDS}


# --- what gets imported ------------------------------------------------------------------
def test_import_pwave_and_top_level_help_import_neither_torch_nor_lightning():
    code = """
import sys
import pwave
print('FLAGS', 'torch' in sys.modules, 'lightning' in sys.modules)
from pwave.cli import main
for argv in (['--help'], ['--version']):
    assert main(argv) == 0
print('FLAGS', 'torch' in sys.modules, 'lightning' in sys.modules)
"""
    assert fresh_python(code) == ["False"] * 4


def test_vocoder_api_and_synthesize_help_leave_lightning_out():
    code = """
import sys
import pwave.inference
from pwave import Vocoder
print('FLAGS', 'lightning' in sys.modules, 'pytorch_lightning' in sys.modules)
from pwave.cli import main
try:
    main(['synthesize', '--help'])
except SystemExit as exit:
    assert exit.code == 0
print('FLAGS', 'lightning' in sys.modules, 'pytorch_lightning' in sys.modules)
"""
    assert fresh_python(code) == ["False"] * 4


# --- dispatch ----------------------------------------------------------------------------
def test_version_prints_the_package_version(capsys):
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out == f"pwave {__version__}\n"


def test_python_dash_m_pwave_answers_version():
    done = subprocess.run(
        [sys.executable, "-m", "pwave", "--version"], capture_output=True, text=True, timeout=120
    )
    assert (done.returncode, done.stdout.strip()) == (0, f"pwave {__version__}")


def test_top_help_lists_every_command(capsys):
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    commands = out.split("commands:\n", 1)[1].split("\n\n", 1)[0].splitlines()
    listed = [re.split(r"\s{2,}", line.strip())[0] for line in commands]
    assert listed == [c.name for c in cli.COMMANDS]
    assert not SPHINX.search(out)


def test_no_arguments_prints_help_and_exits_2(capsys):
    assert cli.main([]) == 2
    assert "commands:" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [["frobnicate"], ["train"], ["train", "teacherz"]])
def test_unknown_command_is_one_line_and_exit_2(capsys, argv):
    assert cli.main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and captured.err.startswith("pwave: error: ")


# --- errors ------------------------------------------------------------------------------
def test_pwave_error_from_a_command_is_one_line_exit_2_no_usage(capsys, monkeypatch):
    module = types.ModuleType("pwave_fake_command")

    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--path", help="a path")

    def run(args: argparse.Namespace) -> int:
        raise UserError(f"{args.path} is not usable: do something else")

    module.add_arguments, module.run = add_arguments, run
    monkeypatch.setitem(sys.modules, module.__name__, module)
    command = cli.Command("fake", module.__name__, "a fake command")
    assert cli.run_command(command, ["--path", "x.wav"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == "pwave: error: x.wav is not usable: do something else\n"


def test_real_command_error_is_one_line(capsys, tmp_path):
    missing = tmp_path / "missing.wav"
    argv = ["synthesize", "--checkpoint", "x.pt", "--input", str(missing), "--output", "o"]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("pwave: error: ") and "usage" not in err
    assert str(missing) in err


# --- help text ---------------------------------------------------------------------------
def test_every_option_has_help(parsers):
    for name, parser in parsers.items():
        for action in parser._actions:
            assert action.help and action.help != argparse.SUPPRESS, (name, action.dest)


def test_help_is_plain_text_with_a_description_and_examples(parsers):
    for name, parser in parsers.items():
        text = parser.format_help()
        assert not SPHINX.search(text), (name, SPHINX.search(text))
        module = sys.modules[cli.find_command(name.split())[0].module]
        assert len(module.DESCRIPTION.split()) > 20, name  # more than the one-line summary
        assert module.DESCRIPTION.strip() in text.replace("\n", " ") or "\n  " in text
        assert f"pwave {name}" in module.EPILOG and module.EPILOG in text, name


def test_verbatim_help_lines_fit_80_columns(parsers):
    """Lists and examples (paragraphs with an indented line) are printed as written."""
    for name in parsers:
        module = sys.modules[cli.find_command(name.split())[0].module]
        for text in (module.DESCRIPTION, module.EPILOG):
            for paragraph in text.split("\n\n"):
                lines = paragraph.splitlines()
                if any(line[:1].isspace() for line in lines):
                    assert max(len(line) for line in lines) < 80, (name, paragraph)


def test_prose_is_refilled_and_lists_kept():
    formatter = cli.HelpFormatter("pwave", width=60)
    prose = "one two three " * 30 + "\nfour five\nsix"
    filled = formatter._fill_text(prose, 60, "  ")
    assert max(len(line) for line in filled.splitlines()) <= 60
    assert filled.split() == prose.split() and all(x.startswith("  ") for x in filled.split("\n"))
    options = "see --sample-rate and --reference-output " * 8
    assert set(formatter._fill_text(options, 30, "").split()) == set(options.split())
    listing = "intro:\n  1. first  -> A\n  2. second -> B"
    assert formatter._fill_text(listing, 20, "") == listing


# --- option names ------------------------------------------------------------------------
def test_outputs_are_called_output_everywhere(parsers):
    for name, parser in parsers.items():
        outputs = [a for a in parser._actions if a.dest in ("out", "output")]
        assert len(outputs) == 1 and outputs[0].option_strings[0] == "--output", name
        visible = parser.format_help()
        assert not re.search(r"(?<![\w-])(--out|-o)\b(?!put)", visible), name


def test_hidden_aliases_parse_to_the_same_destination(parsers):
    prepare = parsers["prepare"]
    for flag in ("--output", "--out", "-o"):
        assert prepare.parse_args([flag, "runs/x"]).out == "runs/x"
    bench = parsers["bench"]
    for flag in ("--dtype", "--dtypes"):
        assert bench.parse_args([flag, "float32,bfloat16"]).dtypes == ["float32", "bfloat16"]
    assert "--dtypes" not in bench.format_help().replace("--dtypes works too", "")


def test_required_output_error_names_the_visible_option(parsers, capsys):
    with pytest.raises(SystemExit) as exit:
        parsers["prepare"].parse_args([])
    assert exit.value.code == 2
    err = capsys.readouterr().err.splitlines()[-1]
    assert err.endswith("required: --output"), err


def test_dtype_spellings_agree_between_synthesize_and_bench(parsers):
    synthesize = parsers["synthesize"]
    assert synthesize.parse_args(["--checkpoint", "c", "--input", "i", "--output", "o"]).dtype == (
        "auto"
    )
    for spelling, value in (("bf16", "bf16"), ("bfloat16", "bf16"), ("float32", "float32")):
        args = ["--checkpoint", "c", "--input", "i", "--output", "o", "--dtype", spelling]
        assert synthesize.parse_args(args).dtype == value


def test_cli_constants_match_the_library():
    """The CLI names a few library constants without importing torch; they must agree."""
    from pwave.apps.toy import DENSITIES
    from pwave.cli import export as export_cli
    from pwave.cli import synthesize as synthesize_cli
    from pwave.cli import toy as toy_cli
    from pwave.inference.vocoder import SAMPLERS
    from pwave.model_io.export import ONNX_OPSET

    assert tuple(synthesize_cli.SAMPLERS) == tuple(SAMPLERS)
    assert export_cli.ONNX_OPSET == ONNX_OPSET
    assert sorted(toy_cli.DENSITIES) == sorted(DENSITIES)


@pytest.mark.parametrize("command", ["synthesize", "score", "export", "toy", "prepare", "bench"])
def test_command_help_imports_no_torch(command):
    """`pwave COMMAND --help` answers without importing torch (fast help)."""
    code = (
        "import sys\nfrom pwave.cli import main\n"
        f"try:\n    main([{command!r}, '--help'])\nexcept SystemExit:\n    pass\n"
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "False"
