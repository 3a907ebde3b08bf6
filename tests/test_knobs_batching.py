"""``pwave synthesize --batch-seconds``: the batch size changes how the work is grouped, not
the audio. One batch of everything and one input per batch (the longer inputs then run in
overlapping chunks) write the same files: exactly for the longest input, and up to the last
two frames for the shorter ones, padded in a shared batch (as documented)."""

from __future__ import annotations

import argparse
import json

import numpy as np
import soundfile as sf
from helpers.perturbed_models import perturbed_student

HOP, SR = 16, 16000
LENGTHS = {"a": 37 * HOP + 5, "b": 90 * HOP, "c": 61 * HOP + 9}


def _synth(ckpt, src, out, batch_seconds: float) -> dict:
    from pwave.cli.synthesize import add_arguments, run

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = ["--checkpoint", str(ckpt), "--input", str(src), "--output", str(out)]
    args += ["--batch-seconds", str(batch_seconds), "--seed", "3", "--device", "cpu"]
    assert run(parser.parse_args([*args, "--no-progress", "--quiet"])) == 0
    return json.loads((out / "report.json").read_text())


def test_batch_seconds_does_not_change_the_audio(tmp_path):
    ckpt = tmp_path / "student.pt"
    perturbed_student(seed=5).float().save(ckpt)
    src = tmp_path / "in"
    src.mkdir()
    rng = np.random.default_rng(0)
    for name, n in LENGTHS.items():
        sf.write(src / f"{name}.wav", (0.3 * rng.standard_normal(n)).astype(np.float32), SR)

    one_batch = _synth(ckpt, src, tmp_path / "big", batch_seconds=30.0)
    alone = _synth(ckpt, src, tmp_path / "small", batch_seconds=20 * HOP / SR)
    assert one_batch["synthesized_count"] == alone["synthesized_count"] == 3
    longest = max(LENGTHS, key=LENGTHS.get)
    for name, n in LENGTHS.items():
        big, sr = sf.read(tmp_path / "big" / f"{name}.wav", dtype="float32")
        small, _ = sf.read(tmp_path / "small" / f"{name}.wav", dtype="float32")
        assert sr == SR and big.shape == small.shape == (-(-n // HOP) * HOP,), name
        assert np.abs(small).max() > 0.01, name  # not silence
        keep = len(big) if name == longest else len(big) - 2 * HOP
        np.testing.assert_allclose(small[:keep], big[:keep], rtol=0, atol=2 / 32768, err_msg=name)
    # the small budget really did split the work: every input is longer than it
    assert all(n > 20 * HOP for n in LENGTHS.values())
