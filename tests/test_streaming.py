"""Streaming synthesis equals the offline pass for the same noise, for every chunking.

The core (:func:`pwave.inference.streaming.stream_student`) is run in float64 on a perturbed
tiny student; ``Vocoder.stream`` is checked against ``synthesize_batch`` in float32 too.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers.models import tiny_student_config
from helpers.perturbed_models import perturb, perturbed_student

from pwave.audio.mel import pad_context
from pwave.inference.streaming import FrameNoise, frame_noise, lookahead_frames, stream_student
from pwave.inference.vocoder import Vocoder
from pwave.models.student import Student
from pwave.sampling.chunking import context_frames_needed

FRAMES = 41


@pytest.fixture(scope="module", params=[0, 2], ids=["ctx0", "ctx2"])
def student(request):
    """The tiny student (hop 16, upsampling 4 x 4), without and with 2 mel context frames."""
    if request.param == 0:
        return perturbed_student(seed=3)
    torch.manual_seed(3)
    config = tiny_student_config().replace(mel_context_frames=2, upsample_factors=(2, 8))
    model = Student(config).double().eval()
    perturb(model, 3, 0.1)
    return model


def run_reference(model):
    def run(model_input: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return model.sample(model_input[None], z=z[None])[0]

    return run


def data(model, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    mel = torch.randn(model.features.n_mels, FRAMES, generator=g, dtype=torch.float64)
    z = torch.randn(FRAMES * model.features.hop_length, generator=g, dtype=torch.float64)
    return mel, z


def offline(model, mel, z):
    return run_reference(model)(pad_context(mel, model.config.mel_context_frames), z)


def split(mel: torch.Tensor, sizes) -> list[torch.Tensor]:
    bounds = np.cumsum([0, *sizes])
    bounds = bounds[bounds < mel.shape[1]].tolist() + [mel.shape[1]]
    return [mel[:, a:b] for a, b in zip(bounds[:-1], bounds[1:])]


def random_sizes(seed: int) -> list[int]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 9, size=FRAMES).tolist()  # zero-frame chunks included


CHUNKINGS = {"1": [1] * FRAMES, "3": [3] * FRAMES, "17": [17] * 3}
CHUNKINGS.update({f"random{s}": random_sizes(s) for s in range(3)})


@pytest.mark.parametrize("name", list(CHUNKINGS))
def test_stream_equals_offline_in_float64(student, name):
    mel, z = data(student)
    whole = offline(student, mel, z)
    parts = list(stream_student(student, run_reference(student), split(mel, CHUNKINGS[name]), z))
    streamed = torch.cat(parts)
    assert streamed.shape == whole.shape
    assert (streamed - whole).abs().max().item() <= 1e-6


def test_audio_comes_after_the_smallest_lookahead(student):
    """Frame f is emitted once f + 1 + L frames are in, and L - 1 would not be exact."""
    mel, z = data(student, seed=1)
    L = lookahead_frames(student)
    hop = student.features.hop_length
    stream = stream_student(student, run_reference(student), split(mel, [1] * FRAMES), z)
    first = next(stream)
    assert first.shape[0] == hop  # one frame, after L + 1 frames
    whole = offline(student, mel, z)
    short = torch.cat(list(stream_student(
        student, run_reference(student), split(mel, [1] * FRAMES), z, lookahead=L - 1
    )))  # fmt: skip
    assert (short - whole).abs().max().item() > 1e-6  # one frame less is not exact
    assert L < sum(context_frames_needed(student)) + student.config.mel_context_frames


def test_frame_noise_does_not_depend_on_chunking(student):
    base, hop = student.base, student.features.hop_length
    a = FrameNoise(base, hop, seed=5)
    pieces = torch.cat([a.take(n) for n in (0, 3, 1, 7)])
    assert torch.equal(pieces, frame_noise(base, hop, 11, seed=5))


@pytest.mark.parametrize("sampler", ["reference", "fast"])
def test_vocoder_stream_matches_offline(student, sampler):
    vocoder = Vocoder(student.float(), device="cpu", dtype="float32", sampler=sampler)
    try:
        mel = data(student, seed=2)[0].float().numpy()
        noise = frame_noise(vocoder._base, vocoder.hop_length, FRAMES, seed=7)
        whole = vocoder.synthesize_batch([vocoder.model_input(mel, normalized=True)], [noise])[0]
        chunks = [c.numpy() for c in split(torch.from_numpy(mel), random_sizes(9))]
        streamed = np.concatenate(list(vocoder.stream(chunks, seed=7, normalized=True)))
        assert np.abs(streamed - whole.numpy()).max() <= 1e-5
    finally:
        student.double()


def test_teacher_is_refused():
    from helpers.perturbed_models import perturbed_teacher

    teacher = perturbed_teacher()
    with pytest.raises(ValueError, match="needs a student"):
        list(stream_student(teacher, lambda m, z: z, [], torch.zeros(0)))
