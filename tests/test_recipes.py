"""The recipes run end to end on CPU with the tiny debug configs (what CI promises users).

* ``recipes/demo/run.sh``: demo corpus -> prepare -> teacher -> student -> synthesize -> evaluate.
* ``recipes/folder/run.sh``: the same on a folder of recordings written here at mixed rates,
  channel counts and formats (the recipe a user copies for their own data).
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="recipes need bash")


def _run_recipe(name: str, exp: Path, *extra: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    # The recipes call `pwave`; make sure it is the one of this interpreter.
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    cmd = ["bash", str(ROOT / "recipes" / name / "run.sh"), "--conf", "debug", "--exp", str(exp)]
    proc = subprocess.run(
        [*cmd, "--stage", "1", *extra], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def _check_outputs(exp: Path) -> dict:
    assert (exp / "data" / "manifest.jsonl").exists()
    assert (exp / "teacher" / "teacher.pt").exists()
    assert (exp / "student" / "student.pt").exists()
    generated = sorted((exp / "synth" / "student").glob("*.wav"))
    references = sorted((exp / "synth" / "reference").glob("*.wav"))
    assert generated and [p.name for p in generated] == [p.name for p in references]
    for gen, ref in zip(generated, references):
        assert sf.info(gen).frames == sf.info(ref).frames
    summary = json.loads((exp / "eval" / "student" / "summary.json").read_text())["summary"]
    for key in ("log_mel_db", "mcd_db", "mr_stft", "stoi", "teacher_bits"):
        assert np.isfinite(summary[key]["mean"]), key
    return summary


def test_demo_recipe_end_to_end(tmp_path):
    exp = tmp_path / "demo"
    _run_recipe("demo", exp, "--prepare-args", "--demo-utterances 8 --demo-seconds 1")
    _check_outputs(exp)


def test_folder_recipe_on_mixed_recordings(tmp_path):
    from pwave.data.demo import make_speaker, synthesize_utterance

    data = tmp_path / "my recordings"  # a space in the path, as users have
    rng = np.random.default_rng(0)
    formats = [(22050, 1, "wav"), (44100, 2, "flac"), (16000, 1, "ogg"), (8000, 1, "wav")]
    for i in range(10):
        rate, channels, ext = formats[i % len(formats)]
        audio = synthesize_utterance(rng, 1.0, make_speaker(1, i % 3), sample_rate=rate)
        if channels == 2:
            audio = np.stack([audio, 0.5 * audio], axis=1)
        sub = data / f"session{i % 2}"
        sub.mkdir(parents=True, exist_ok=True)
        sf.write(sub / f"take{i:02d}.{ext}", audio, rate)
    exp = tmp_path / "folder"
    _run_recipe("folder", exp, "--data", str(data))
    _check_outputs(exp)
    report = (exp / "data" / "report.txt").read_text()
    assert "resampled from 44100 Hz" in report and "mixed down from 2 channels" in report


def _real_recordings() -> Path | None:
    """CPython's own test recordings (a plucked string in 15 formats and encodings), when
    this interpreter ships its test suite: real audio that nobody here generated."""
    import sysconfig

    folder = Path(sysconfig.get_paths()["stdlib"]) / "test" / "audiodata"
    return folder if len(list(folder.glob("pluck-*"))) >= 10 else None


@pytest.mark.skipif(_real_recordings() is None, reason="CPython's test audiodata not installed")
def test_folder_recipe_on_real_recordings(tmp_path):
    data = tmp_path / "real"
    shutil.copytree(_real_recordings(), data)
    exp = tmp_path / "real_exp"
    _run_recipe("folder", exp, "--data", str(data))
    _check_outputs(exp)
    report = (exp / "data" / "report.txt").read_text()
    assert "resampled from 11025 Hz" in report and "mixed down from 2 channels" in report
