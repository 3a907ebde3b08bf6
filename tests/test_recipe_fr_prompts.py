"""``recipes/fr_prompts/run.sh``: real 8 kHz speech with the telephony configs.

* The script parses, and its stage 1 prepares a generated 8 kHz folder at 8 kHz (no
  resampling) with the telephony front end: always, offline.
* Stage 0 fetches Debian's ``asterisk-core-sounds-fr-wav`` (``apt-get download``, seconds);
  stages 1-3 then run on a dozen of its prompts with a few steps each. Skipped, saying why,
  where apt cannot fetch the package (no apt, no package lists, no network).
"""

from __future__ import annotations

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
RECIPE = ROOT / "recipes" / "fr_prompts" / "run.sh"
#: One validated step per stage on short dev crops; the telephony front end as shipped, a
#: thinner student (its demo-sized four flows cost most of the time on a busy CI machine).
FEW_STEPS = (
    "--trainer.max_steps 1 --trainer.val_check_interval 1 --model.sample_seconds 0 "
    "--validate_at_end false --trainer.enable_progress_bar false --data.batch_size 2 "
    "--data.eval_segment_frames 50 --data.eval_batch_size 2"
)
THIN_STUDENT = "--model.student.flow_layers [2,2] --model.student.flow_cycles [1,1]"

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="recipes need bash")


def _run(exp: Path, *args: str, timeout: float = 300, **env_vars: str):
    env = dict(os.environ, PYTHONUNBUFFERED="1", **env_vars)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    cmd = ["bash", str(RECIPE), "--exp", str(exp), *args]
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def _check_prepared_at_8k(data: Path) -> None:
    features = json.loads((data / "feature_config.json").read_text())
    assert features["sample_rate"] == 8000 and features["hop_length"] == 80
    assert features["fmax"] == 4000.0
    assert "resampled" not in (data / "report.txt").read_text()


def test_recipe_parses():
    proc = subprocess.run(["bash", "-n", str(RECIPE)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_stage_1_prepares_an_8khz_folder_at_8khz(tmp_path):
    from pwave.data.demo import make_speaker, synthesize_utterance

    data = tmp_path / "prompts"
    data.mkdir()
    rng = np.random.default_rng(0)
    for i in range(6):
        audio = synthesize_utterance(rng, 1.0, make_speaker(1, 0), sample_rate=8000)
        sf.write(data / f"prompt{i}.wav", audio, 8000, subtype="PCM_16")
    exp = tmp_path / "exp"
    proc = _run(exp, "--data", str(data), "--stage", "1", "--stop-stage", "1")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    _check_prepared_at_8k(exp / "data")


@pytest.fixture(scope="module")
def fetched_prompts(tmp_path_factory) -> Path:
    """Stage 0 of the recipe: the package's prompts, or a skip that says why not."""
    if shutil.which("apt-get") is None or shutil.which("dpkg") is None:
        pytest.skip("fr_prompts stage 0 needs apt-get and dpkg (Debian/Ubuntu)")
    exp = tmp_path_factory.mktemp("fr_prompts")
    try:
        proc = _run(exp, "--stage", "0", "--stop-stage", "0", timeout=60)
    except subprocess.TimeoutExpired:
        pytest.skip("apt-get download asterisk-core-sounds-fr-wav took over 60 s (network?)")
    if proc.returncode != 0:
        pytest.skip(
            "could not fetch asterisk-core-sounds-fr-wav with apt-get download (no network or "
            f"no package lists: run apt-get update): {proc.stderr.strip()[-300:]}"
        )
    return exp / "corpus"


def test_stage_0_fetches_the_8khz_prompts(fetched_prompts):
    wavs = sorted(fetched_prompts.rglob("*.wav"))
    assert len(wavs) > 500
    info = sf.info(wavs[0])
    assert info.samplerate == 8000 and info.channels == 1


def test_stages_1_to_3_on_a_dozen_prompts(fetched_prompts, tmp_path):
    data = tmp_path / "dozen"
    data.mkdir()
    short = [p for p in sorted(fetched_prompts.glob("*.wav")) if 1.0 <= sf.info(p).duration <= 1.5]
    for p in short[:12]:  # short prompts: the dev set's whole utterances validate quickly
        shutil.copy(p, data / p.name)
    exp = tmp_path / "exp"
    proc = _run(
        exp, "--data", str(data), "--stage", "1", "--stop-stage", "3",
        TEACHER_ARGS=FEW_STEPS, STUDENT_ARGS=f"{FEW_STEPS} {THIN_STUDENT}",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    _check_prepared_at_8k(exp / "data")
    assert (exp / "teacher" / "teacher.pt").exists() and (exp / "student" / "student.pt").exists()
    from pwave.models.student import Student

    assert Student.load(exp / "student" / "student.pt").features.sample_rate == 8000
