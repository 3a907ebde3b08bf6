"""Temperature: the scale of the base noise, for the teacher, the student, the Vocoder API,
``pwave synthesize --temperature`` and the teacher's validation clip.

The law under test: with temperature ``T``, sampling equals sampling with the noise
``T * z`` for the same base draw ``z`` (``T = 0`` gives the mean path; other values are
what a wrong law -- ``T**2``, ``sqrt(T)``, ignoring ``T`` -- would get wrong).
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest
import soundfile as sf
import torch
from helpers.models import tiny_student_config
from helpers.perturbed_models import perturb, perturbed_student, perturbed_teacher

from pwave.flows.distributions import make_base
from pwave.inference.vocoder import Vocoder
from pwave.models.student import Student

TEMPERATURES = (0.3, 0.5, 1.7)
HOP = 16  # the tiny bench models' hop
N_MELS = 8


def _mel(batch: int, frames: int, ctx: int = 0, seed: int = 0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, N_MELS, frames + 2 * ctx, generator=g, dtype=dtype)


def _student(base: str, seed: int = 0) -> Student:
    if base == "gaussian":
        return perturbed_student(seed)
    torch.manual_seed(seed)
    student = Student(tiny_student_config().replace(base=base)).double().eval()
    perturb(student, seed, 0.1)
    return student


def _draw(model, batch: int, n: int, seed: int) -> torch.Tensor:
    """The model's base draw at temperature 1 from ``Generator().manual_seed(seed)``."""
    return model.base.sample(batch, (n,), generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("base", ["gaussian", "logistic"])
def test_student_temperature_scales_the_base_noise(base):
    student = _student(base)
    mel = _mel(2, 6)
    n = 6 * HOP
    z = _draw(student, 2, n, seed=4)
    ones = student.sample(mel, temperature=1.0, generator=torch.Generator().manual_seed(4))
    torch.testing.assert_close(ones, student.sample(mel, z=z))
    for t in TEMPERATURES:
        got = student.sample(mel, temperature=t, generator=torch.Generator().manual_seed(4))
        torch.testing.assert_close(got, student.sample(mel, z=t * z), rtol=1e-10, atol=1e-12)
        assert not torch.allclose(got, ones, atol=1e-4), t
        noise = student.noise(mel, temperature=t, generator=torch.Generator().manual_seed(4))
        torch.testing.assert_close(noise, t * z, rtol=1e-12, atol=0)


@pytest.mark.parametrize("base", ["gaussian", "logistic"])
def test_teacher_temperature_scales_the_base_noise(base):
    teacher = perturbed_teacher(num_flows=2)
    if base == "logistic":
        torch.manual_seed(0)
        from helpers.models import tiny_teacher_config

        from pwave.models.teacher import Teacher

        cfg = tiny_teacher_config().replace(num_flows=2, init_log_scale=-1.0, base="logistic")
        teacher = Teacher(cfg).double().eval()
        perturb(teacher, 0, 0.1)
    mel = _mel(2, 4)
    z = _draw(teacher, 2, 4 * HOP, seed=9)
    ones = teacher.sample(mel, generator=torch.Generator().manual_seed(9))
    torch.testing.assert_close(ones, teacher.sample(mel, z=z))
    for t in (0.5, 1.7):
        got = teacher.sample(mel, temperature=t, generator=torch.Generator().manual_seed(9))
        torch.testing.assert_close(got, teacher.sample(mel, z=t * z), rtol=1e-10, atol=1e-12)
        assert not torch.allclose(got, ones, atol=1e-4), t


def _api_reference(student: Student, vocoder: Vocoder, mel: np.ndarray, seed: int, t: float):
    """What the Vocoder must return for ``mel`` at temperature ``t``: the student run on the
    model input with ``t`` times the base noise of ``Generator().manual_seed(seed)`` (CPU
    float32, as the API documents)."""
    x = vocoder.model_input(mel)[None]
    n = mel.shape[-1] * HOP
    z = make_base(student.config.base).sample(
        1, (n,), generator=torch.Generator().manual_seed(seed)
    )
    with torch.no_grad():
        out = student.sample(x.to(torch.float64), z=(t * z).to(torch.float64))
    return out[0].float().numpy()


def test_vocoder_temperature_scales_the_noise_for_both_samplers():
    student = perturbed_student(seed=1)
    rng = np.random.default_rng(0)
    audio = (0.3 * rng.standard_normal(20 * HOP)).astype(np.float32)
    for sampler in ("fast", "reference"):
        vocoder = Vocoder(student, "cpu", "float32", sampler)
        mel = vocoder.audio_to_mel(audio)
        one = vocoder.vocode_mel(mel, temperature=1.0, seed=3)
        for t in (0.0, 0.5, 1.7):
            got = vocoder.vocode_mel(mel, temperature=t, seed=3)
            ref = _api_reference(student, vocoder, mel, 3, t)
            np.testing.assert_allclose(got, ref, rtol=0, atol=1e-6, err_msg=f"{sampler} {t}")
            if t != 1.0:
                assert not np.allclose(got, one, atol=1e-3), (sampler, t)
        np.testing.assert_allclose(
            vocoder.vocode_audio(audio, temperature=0.5, seed=3),
            vocoder.vocode_mel(mel, temperature=0.5, seed=3),
        )


def test_cli_temperature_reaches_the_output(tmp_path):
    """``pwave synthesize --temperature 0.5`` and ``1.0`` write different audio, the 0.5 one
    equal (up to 16-bit rounding) to the API's with ``0.5 * z``; the report records it."""
    from pwave.cli.synthesize import add_arguments, run

    student = perturbed_student(seed=2).float()
    ckpt = tmp_path / "student.pt"
    student.save(ckpt)
    rng = np.random.default_rng(1)
    src = tmp_path / "in.wav"
    sf.write(src, (0.3 * rng.standard_normal(30 * HOP)).astype(np.float32), 16000)

    def synth(t: float) -> np.ndarray:
        out = tmp_path / f"out_{t}"
        parser = argparse.ArgumentParser()
        add_arguments(parser)
        args = ["--checkpoint", str(ckpt), "--input", str(src), "--output", str(out)]
        args += ["--temperature", str(t), "--seed", "5", "--device", "cpu", "--no-progress"]
        assert run(parser.parse_args(args)) == 0
        assert json.loads((out / "report.json").read_text())["temperature"] == t
        audio, sr = sf.read(out / "in.wav", dtype="float32")
        assert sr == 16000
        return audio

    half, one = synth(0.5), synth(1.0)
    vocoder = Vocoder(student.double(), "cpu", "float32")
    from pwave.audio.io import load_audio

    mel = vocoder.audio_to_mel(load_audio(src).audio)
    for t, got in ((0.5, half), (1.0, one)):
        ref = np.clip(_api_reference(student, vocoder, mel, 5, t), -1, 1)
        np.testing.assert_allclose(got, ref, rtol=0, atol=2.0 / 32768, err_msg=str(t))
    assert np.abs(half - one).max() > 0.01


def test_teacher_validation_clip_uses_the_sample_temperature():
    """``--model.sample_temperature`` scales the noise of the clip logged at validation."""
    from helpers.models import tiny_teacher_config

    from pwave.train.teacher import TeacherModule

    cfg = tiny_teacher_config().replace(init_log_scale=-1.0)
    module = TeacherModule(teacher=cfg, sample_temperature=0.5, lpc_order=0, sample_seconds=0.01)
    perturb(module.ema.module, 0, 0.1)
    ema = module.ema.module.eval()
    mel = _mel(1, 3, cfg.mel_context_frames, dtype=torch.float32)
    clip = module._generate_clip(mel, torch.Generator().manual_seed(0))
    z = _draw(ema, 1, 3 * HOP, seed=0)
    torch.testing.assert_close(clip, ema.sample(mel, z=0.5 * z))
    assert not torch.allclose(clip, ema.sample(mel, z=z), atol=1e-4)
