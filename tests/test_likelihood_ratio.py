"""``pwave score``'s likelihood ratio: teacher bits minus a background model's bits.

Teacher-independent checks: the ratio is raw minus background for each file, the written
order is the ranking by the ratio (``rank_raw`` the ranking by the raw bits), the per-file
background is the order-p LPC of :mod:`pwave.models.lpc` fitted on the file and scored by
the one definition, a corpus background saved and loaded gives the same numbers, and the
per-second curve adds up to the file's score.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from pwave.audio.config import FeatureConfig
from pwave.audio.io import load_audio, save_wav
from pwave.cli.score import add_arguments, run
from pwave.models.likelihood import DRAWS, dequantization_noise
from pwave.models.lpc import LPCBaseline, fit_lpc
from pwave.models.teacher import Teacher, TeacherConfig
from pwave.units import BIN_WIDTH_16BIT

SR, HOP, N_MELS, CTX = 8000, 16, 8, 1
FEATURES = FeatureConfig(
    sample_rate=SR, n_fft=64, hop_length=HOP, win_length=64, n_mels=N_MELS, fmax=4000.0,
    mel_mean=tuple(float(v) for v in np.linspace(-6.0, -3.0, N_MELS)),
    mel_std=tuple(float(v) for v in np.linspace(1.0, 2.0, N_MELS)),
)  # fmt: skip


def lpc_bits(model: LPCBaseline, audio: np.ndarray, draws: int = DRAWS) -> float:
    """The definition written out for the LPC: mean over draws of its log-density of the
    dequantised file (padded to whole frames before the noise, as the teacher's input)."""
    n = len(audio)
    padded = -(-n // HOP) * HOP
    lps = []
    for k in range(draws):
        x = audio.astype(np.float64) + dequantization_noise(padded, k).numpy()[:n]
        lps.append(model.log_prob(x))
    return -(np.mean(lps) / n + math.log(BIN_WIDTH_16BIT)) / math.log(2)


def signal(kind: str, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n) / SR
    if kind == "tone":
        x = 0.3 * np.sin(2 * np.pi * rng.uniform(200, 500) * t) + 0.003 * rng.standard_normal(n)
    elif kind == "ar":  # a resonant AR(2) process
        e = rng.standard_normal(n) * 0.02
        x = np.zeros(n)
        for i in range(2, n):
            x[i] = 1.6 * x[i - 1] - 0.8 * x[i - 2] + e[i]
    else:
        x = 0.3 * rng.uniform(-1, 1, n)
    x[-1] = 0.05
    return x.astype(np.float32)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("ratio")
    torch.manual_seed(0)
    cfg = TeacherConfig(
        features=FEATURES, mel_context_frames=CTX, upsample_factors=(4, 4), cond_channels=6,
        residual_channels=8, gate_channels=8, skip_channels=8, layers=3,
    )  # fmt: skip
    Teacher(cfg).save(root / "teacher.pt")
    src = root / "in"
    for i, kind in enumerate(("tone", "ar", "noise", "tone", "ar")):
        save_wav(src / f"{kind}_{i}.wav", signal(kind, 700 + 37 * i, i), SR, subtype="PCM_16")
    return root / "teacher.pt", src


def cli(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return run(parser.parse_args([*argv, "--device", "cpu", "--no-progress", "--float64"]))


def test_ratio_is_raw_minus_a_per_file_lpc_and_the_order_is_the_ratio_ranking(files, tmp_path):
    teacher, src = files
    out = tmp_path / "s.json"
    assert cli("--teacher", str(teacher), "--input", str(src), "--output", str(out),
               "--lpc-order", "4") == 0  # fmt: skip
    doc = json.loads(out.read_text())
    assert doc["ranked_by"] == "ratio" and doc["definition"]["dequantization_draws"] == DRAWS
    recs = doc["files"]
    assert len(recs) == 5
    for r in recs:
        assert r["ratio_bits"] == pytest.approx(r["bits_per_sample"] - r["background_bits"])
        audio = load_audio(r["path"]).audio
        padded = -(-len(audio) // HOP) * HOP
        fit_on = audio.astype(np.float64) + dequantization_noise(padded, 0).numpy()[: len(audio)]
        model = fit_lpc([fit_on], order=4)
        assert r["background_bits"] == pytest.approx(lpc_bits(model, audio), abs=1e-9)
    ratios = [r["ratio_bits"] for r in recs]
    assert ratios == sorted(ratios)
    assert [r["rank"] for r in recs] == [r["rank_ratio"] for r in recs] == [1, 2, 3, 4, 5]
    by_raw = sorted(recs, key=lambda r: r["bits_per_sample"])
    assert [r["rank_raw"] for r in by_raw] == [1, 2, 3, 4, 5]
    # the background tells the kinds apart the way a generic predictor should
    kind_bits = {Path(r["path"]).stem.split("_")[0]: r["background_bits"] for r in recs}
    assert kind_bits["tone"] < kind_bits["ar"] < kind_bits["noise"]

    # the CSV holds the same numbers, in the same order
    out_csv = tmp_path / "s.csv"
    assert cli("--teacher", str(teacher), "--input", str(src), "--output", str(out_csv),
               "--lpc-order", "4") == 0  # fmt: skip
    rows = list(csv.DictReader(out_csv.open()))
    assert [r["path"] for r in rows] == [r["path"] for r in recs]
    for row, rec in zip(rows, recs):
        for key in ("bits_per_sample", "background_bits", "ratio_bits"):
            assert float(row[key]) == pytest.approx(rec[key], abs=1e-6)
        assert int(row["rank_raw"]) == rec["rank_raw"]


def test_a_corpus_background_saved_and_loaded_scores_the_same(files, tmp_path):
    teacher, src = files
    saved = tmp_path / "lpc.json"
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    assert cli("--teacher", str(teacher), "--input", str(src), "--output", str(a),
               "--background", str(src), "--save-background", str(saved),
               "--lpc-order", "6") == 0  # fmt: skip
    model = LPCBaseline.from_dict(json.loads(saved.read_text()))
    assert model.order == 6
    assert cli("--teacher", str(teacher), "--input", str(src), "--output", str(b),
               "--background", str(saved)) == 0  # fmt: skip
    ra, rb = json.loads(a.read_text())["files"], json.loads(b.read_text())["files"]
    assert [r["path"] for r in ra] == [r["path"] for r in rb]
    for x, y in zip(ra, rb):
        assert x["ratio_bits"] == pytest.approx(y["ratio_bits"], abs=1e-9)
        assert x["background_bits"] == pytest.approx(
            lpc_bits(model, load_audio(x["path"]).audio), abs=1e-9
        )


def test_without_background_the_ranking_is_raw(files, tmp_path):
    teacher, src = files
    out = tmp_path / "s.json"
    assert cli("--teacher", str(teacher), "--input", str(src), "--output", str(out),
               "--background", "none") == 0  # fmt: skip
    doc = json.loads(out.read_text())
    assert doc["ranked_by"] == "raw"
    recs = doc["files"]
    assert all(r["background_bits"] is None and r["ratio_bits"] is None for r in recs)
    assert [r["rank_raw"] for r in recs] == [1, 2, 3, 4, 5]


def test_per_second_curves_add_up_to_the_file_score(files, tmp_path):
    teacher, src = files
    out, curve = tmp_path / "s.json", tmp_path / "curve.csv"
    window = 0.02  # 160 samples
    assert cli("--teacher", str(teacher), "--input", str(src), "--output", str(out),
               "--curve", str(curve), "--curve-seconds", str(window), "--lpc-order", "4",
               ) == 0  # fmt: skip
    recs = {r["path"]: r for r in json.loads(out.read_text())["files"]}
    rows = list(csv.DictReader(curve.open()))
    for path, rec in recs.items():
        mine = [r for r in rows if r["path"] == path]
        n = rec["samples"]
        assert len(mine) == math.ceil(n / (window * SR))
        sizes = [round((float(r["end_s"]) - float(r["start_s"])) * SR) for r in mine]
        assert sum(sizes) == n
        for key in ("bits_per_sample", "background_bits"):
            weighted = sum(float(r[key]) * k for r, k in zip(mine, sizes)) / n
            assert weighted == pytest.approx(rec[key], abs=1e-5), key
        for r in mine:
            ratio = float(r["bits_per_sample"]) - float(r["background_bits"])
            assert float(r["ratio_bits"]) == pytest.approx(ratio, abs=2e-6)
        assert [c["start_s"] for c in rec["curve"]] == pytest.approx(
            [float(r["start_s"]) for r in mine], abs=1e-3
        )


def test_lpc_save_load_and_per_sample_log_prob():
    rng = np.random.default_rng(0)
    x = rng.standard_normal(3000)
    model = fit_lpc([x], order=3)
    again = LPCBaseline.from_dict(json.loads(json.dumps(model.to_dict())))
    np.testing.assert_array_equal(again.coeffs, model.coeffs)
    assert again.sigma == model.sigma
    assert model.per_sample_log_prob(x).sum() == pytest.approx(model.log_prob(x), rel=1e-12)
    with pytest.raises(ValueError, match="not a saved LPC"):
        LPCBaseline.from_dict({"kind": "other"})


def test_score_auc_script_reads_the_json(files, tmp_path, capsys):
    """scripts/score_auc.py: AUC 1 when every anomaly scores above every typical file,
    0.5 for ties, from pwave score's own JSON."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "score_auc", Path(__file__).parents[1] / "scripts" / "score_auc.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.auc([3.0, 4.0], [1.0, 2.0]) == 1.0
    assert mod.auc([1.0], [1.0]) == 0.5
    assert mod.auc([1.0, 3.0], [2.0]) == 0.5
    teacher, src = files
    out = tmp_path / "s.json"
    assert cli("--teacher", str(teacher), "--input", str(src), "--output", str(out),
               "--lpc-order", "4") == 0  # fmt: skip
    recs = json.loads(out.read_text())["files"]
    noise = [r["ratio_bits"] for r in recs if "noise_" in r["path"]]
    rest = [r["ratio_bits"] for r in recs if "noise_" not in r["path"]]
    assert mod.main([str(out), "--anomalous", "noise_", "--json", str(tmp_path / "a.json")]) == 0
    got = json.loads((tmp_path / "a.json").read_text())
    assert got["ratio_bits"]["auc"] == pytest.approx(mod.auc(noise, rest))
    assert (got["ratio_bits"]["anomalous"], got["ratio_bits"]["typical"]) == (1, 4)
    assert "likelihood ratio" in capsys.readouterr().out
