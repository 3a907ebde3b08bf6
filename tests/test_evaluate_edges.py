"""``pwave evaluate`` end to end on crafted folders: each number in ``metrics.csv`` is the
metric of the right pair in the right order (trimmed, resampled), a file with NaN samples
and a file without a counterpart are skipped with their reason, a NaN metric is left out
of the summary (not averaged in), and the teacher's bits count the real samples only.

:mod:`tests.test_evaluate` covers the columns, the unmatched listing and the no-pair error;
this file checks the values against direct computations.
"""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest
import soundfile as sf
import torch
from helpers.direct import bits_of_real_samples
from helpers.models import tiny_teacher_config
from helpers.synthetic import tone_burst

from pwave.audio.config import FeatureConfig
from pwave.audio.io import load_audio, save_wav
from pwave.audio.mel import MelSpectrogram
from pwave.cli import main
from pwave.evaluation.metrics import (
    log_mel_distance_db,
    mel_cepstral_distortion_db,
    natural_log_mel,
    pesq_score,
    stoi_score,
)
from pwave.models.likelihood import DRAWS, SEED
from pwave.models.teacher import Teacher

RATE = 16000


def _lowpass(x: np.ndarray, hz: float) -> np.ndarray:
    from scipy.signal import butter, lfilter

    b, a = butter(4, hz / (RATE / 2))
    return lfilter(b, a, x).astype(np.float32)


@pytest.fixture
def folders(tmp_path):
    """``reference/``: a, b, c, n, s; ``generated/``: a low-passed (an asymmetric change),
    b noisy and 200 samples longer, c at 8 kHz (resampled) and shorter (both trimmed), n with
    NaN samples (unreadable), s against a silent reference (PESQ undefined), e alone."""
    gen, ref = tmp_path / "generated", tmp_path / "reference"
    rng = np.random.default_rng(0)
    refs = {k: tone_burst(1.0, RATE, seed=i) for i, k in enumerate("abcn")}
    for stem, audio in refs.items():
        save_wav(ref / f"{stem}.wav", audio, RATE, subtype="FLOAT")
    save_wav(ref / "s.wav", np.zeros(RATE, np.float32), RATE, subtype="FLOAT")
    save_wav(gen / "a.wav", _lowpass(refs["a"], 1500.0), RATE, subtype="FLOAT")
    b = np.concatenate([refs["b"], np.zeros(200, np.float32)])
    save_wav(gen / "b.wav", b + 0.03 * rng.standard_normal(b.shape), RATE, subtype="FLOAT")
    save_wav(gen / "c.flac", tone_burst(0.8, 8000, seed=2), 8000)
    bad = refs["n"].copy()
    bad[100:110] = np.nan
    sf.write(gen / "n.wav", bad, RATE, subtype="FLOAT")
    save_wav(gen / "s.wav", tone_burst(1.0, RATE, seed=5), RATE, subtype="FLOAT")
    save_wav(gen / "e.wav", tone_burst(1.0, RATE, seed=6), RATE, subtype="FLOAT")
    return gen, ref


def _direct_metrics(gen_path, ref_path) -> dict[str, float]:
    """The five metrics of one pair, computed here: both read at the reference's rate,
    trimmed to the shorter, the generated file first."""
    from pwave.evaluation.evaluate import mr_stft_distance

    r = load_audio(ref_path).audio
    g = load_audio(gen_path, RATE).audio
    n = min(len(g), len(r))
    g, r = g[:n], r[:n]
    log_mel = natural_log_mel(MelSpectrogram(FeatureConfig(sample_rate=RATE)))
    return {
        "log_mel_db": log_mel_distance_db(g, r, log_mel),
        "mcd_db": mel_cepstral_distortion_db(g, r, log_mel),
        "mr_stft": mr_stft_distance(g, r),
        "pesq": pesq_score(g, r, RATE),
        "stoi": stoi_score(g, r, RATE),
    }


def _read_rows(path) -> dict[str, dict[str, float]]:
    with open(path, newline="") as f:
        return {
            row["utterance"]: {k: float(v) for k, v in row.items() if k != "utterance"}
            for row in csv.DictReader(f)
        }


def test_each_row_is_its_pair_scored_in_order_and_nan_is_left_out(folders, tmp_path, capsys):
    gen, ref = folders
    out = tmp_path / "out"
    argv = ["evaluate", "--generated", str(gen), "--reference", str(ref), "--output", str(out)]
    assert main(argv) == 0
    rows = _read_rows(out / "metrics.csv")
    assert set(rows) == {"a", "b", "c", "s"}

    paths = {"a": "a.wav", "b": "b.wav", "c": "c.flac", "s": "s.wav"}
    for stem, name in paths.items():
        expected = _direct_metrics(gen / name, ref / f"{stem}.wav")
        for key, value in expected.items():
            if math.isnan(value):
                assert math.isnan(rows[stem][key]), (stem, key)
            else:
                assert rows[stem][key] == pytest.approx(value, rel=1e-5, abs=1e-6), (stem, key)
        assert rows[stem]["seconds"] == pytest.approx(1.0)  # the reference's length
    # the order is generated-then-reference: the low-passed copy scores well only this way
    a_gen, a_ref = load_audio(gen / "a.wav").audio, load_audio(ref / "a.wav").audio
    assert abs(rows["a"]["pesq"] - pesq_score(a_ref, a_gen, RATE)) > 0.5
    assert math.isnan(rows["s"]["pesq"])  # no utterance in a silent reference

    summary = json.loads((out / "summary.json").read_text())
    for key in ("log_mel_db", "mcd_db", "mr_stft", "pesq", "stoi", "seconds"):
        values = np.array([row[key] for row in rows.values()])
        finite = values[np.isfinite(values)]
        s = summary["summary"][key]
        assert s["count"] == finite.size, key
        assert s["mean"] == pytest.approx(finite.mean(), rel=1e-9), key
        assert s["std"] == pytest.approx(finite.std(), rel=1e-9, abs=1e-12), key
    assert summary["summary"]["pesq"]["count"] == 3

    skipped = {p["file"].rsplit("/", 1)[-1]: p["reason"] for p in summary["skipped"]}
    assert set(skipped) == {"e", "n.wav"}
    assert "no counterpart" in skipped["e"] and "NaN" in skipped["n.wav"]
    printed = capsys.readouterr().out
    assert "evaluation over 4 utterance(s)" in printed and "NaN" in printed


def test_teacher_bits_are_those_of_each_file_over_its_real_samples(tmp_path):
    """Lengths that are not a multiple of the hop (16): the bits of the generated file and of
    the reference equal the teacher's code length of each file over its own samples (the one
    definition, ``docs/likelihood.md``: dequantised, averaged over the fixed draws)."""
    torch.manual_seed(0)
    teacher = Teacher(tiny_teacher_config()).eval()
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():  # move the heads off their near-zero start: distinct numbers
        for net in teacher.wavenets:
            net.head_out.weight.normal_(0.0, 0.3, generator=g)
    teacher.save(tmp_path / "teacher.pt")
    gen, ref = tmp_path / "g", tmp_path / "r"
    n = 4000 + 7
    rng = np.random.default_rng(0)
    for i, stem in enumerate("xy"):
        r = tone_burst(n / RATE, RATE, seed=i)[:n]
        save_wav(ref / f"{stem}.wav", r, RATE, subtype="FLOAT")
        save_wav(gen / f"{stem}.wav", r + 0.05 * rng.standard_normal(n), RATE, subtype="FLOAT")
    out = tmp_path / "out"
    argv = ["evaluate", "--generated", str(gen), "--reference", str(ref), "--output", str(out)]
    assert main([*argv, "--teacher", str(tmp_path / "teacher.pt")]) == 0
    rows = _read_rows(out / "metrics.csv")
    assert set(rows) == {"x", "y"}
    for stem, row in rows.items():
        g_audio = load_audio(gen / f"{stem}.wav").audio
        r_audio = load_audio(ref / f"{stem}.wav").audio
        assert len(g_audio) == n and n % 16
        expected = bits_of_real_samples(teacher, g_audio, DRAWS, SEED)
        assert row["teacher_bits"] == pytest.approx(expected, rel=1e-5)
        expected = bits_of_real_samples(teacher, r_audio, DRAWS, SEED)
        assert row["teacher_bits_reference"] == pytest.approx(expected, rel=1e-5)
        assert abs(row["teacher_bits"] - row["teacher_bits_reference"]) > 1e-3
    summary = json.loads((out / "summary.json").read_text())["summary"]
    assert summary["teacher_bits"]["mean"] == pytest.approx(
        np.mean([row["teacher_bits"] for row in rows.values()]), rel=1e-9
    )
    # compared at another rate than the teacher's: no teacher bits (they would be wrong)
    other = tmp_path / "out8k"
    argv8 = ["evaluate", "--generated", str(gen), "--reference", str(ref), "--output", str(other)]
    assert main([*argv8, "--teacher", str(tmp_path / "teacher.pt"), "--sample-rate", "8000"]) == 0
    assert all("teacher_bits" not in row for row in _read_rows(other / "metrics.csv").values())
