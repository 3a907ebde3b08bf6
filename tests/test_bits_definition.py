"""One meaning for "bits per 16-bit sample" (docs/likelihood.md).

Training validation (``TeacherModule.validation_step`` on a prepared one-utterance dev set,
run by a Lightning ``Trainer.validate``), ``pwave evaluate --teacher`` and ``pwave score``
report the same number for the same 16-bit utterance, whose length is not a multiple of the
hop. The definition itself (:mod:`pwave.models.likelihood`) is checked against direct
computations: the mean over fixed dequantisation draws of the density of the real samples,
and an upper bound on the discrete code length.
"""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest
import torch

from pwave.audio.config import FeatureConfig
from pwave.audio.io import load_audio, save_wav
from pwave.cli import main as pwave_main
from pwave.models.likelihood import (
    DRAWS,
    code_length,
    dequantization_noise,
    real_lengths,
    teacher_code_length,
)
from pwave.models.teacher import Teacher, TeacherConfig
from pwave.units import BIN_WIDTH_16BIT

SR, HOP, N_MELS, CTX = 8000, 16, 8, 1
FEATURES = FeatureConfig(
    sample_rate=SR, n_fft=64, hop_length=HOP, win_length=64, n_mels=N_MELS, fmax=4000.0
)
LN2 = math.log(2.0)


def teacher_config(features: FeatureConfig = FEATURES) -> TeacherConfig:
    return TeacherConfig(
        features=features, mel_context_frames=CTX, upsample_factors=(4, 4), cond_channels=6,
        residual_channels=8, gate_channels=8, skip_channels=8, layers=3, num_flows=2,
    )  # fmt: skip


def randomize(teacher: Teacher, seed: int = 1) -> Teacher:
    """Non-trivial output heads (a fresh teacher predicts the same for every sample)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for net in teacher.wavenets:
            net.head_out.weight.normal_(0.0, 0.3, generator=g)
    return teacher


def speechy(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n) / SR
    x = np.sin(2 * np.pi * rng.uniform(150, 400) * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t))
    x = 0.3 * x + 0.02 * rng.standard_normal(n)
    x[-1] = 0.1  # the file does not end in zeros (the last frame's padding is then unambiguous)
    return x.astype(np.float32)


# --- the three commands agree ----------------------------------------------------------------


@pytest.fixture(scope="module")
def one_utterance_run(tmp_path_factory):
    """A prepared corpus of three 16-bit files (one in dev), a TeacherModule on it whose EMA
    teacher is a randomised tiny teacher, that teacher saved, and the dev file's path."""
    from pwave.data.prepare import prepare_corpus
    from pwave.train.teacher import TeacherModule

    root = tmp_path_factory.mktemp("bits")
    for i, n in enumerate((150 * HOP + 5, 170 * HOP + 9, 160 * HOP + 11)):
        save_wav(root / "corpus" / f"utt{i}.wav", speechy(n, i), SR, subtype="PCM_16")
    data = prepare_corpus(
        root / "corpus", root / "prepared", feature_config=FEATURES, segment_min_seconds=0.01,
        num_workers=0, progress=False, dev_fraction=0.34, eval_fraction=0.0, log=None,
    )  # fmt: skip
    (dev,) = data.split("dev")
    torch.manual_seed(0)
    module = TeacherModule(
        teacher=teacher_config(), feature_config=data.feature_config.to_dict(), lpc_order=0,
        sample_seconds=0.0,
    )  # fmt: skip
    randomize(module.model)
    module.ema.module.load_state_dict(module.model.state_dict())
    module.ema.module.save(root / "teacher.pt")
    return module, root / "prepared", root / "teacher.pt", dev.source


def validation_bits(module, prepared) -> float:
    import lightning.pytorch as pl

    from pwave.train.datamodule import VocoderDataModule

    dm = VocoderDataModule(prepared, segment_frames=8, mel_context_frames=CTX, batch_size=1)
    trainer = pl.Trainer(
        accelerator="cpu", logger=False, enable_progress_bar=False, enable_checkpointing=False,
        enable_model_summary=False,
    )  # fmt: skip
    (metrics,) = trainer.validate(module, datamodule=dm, verbose=False)
    return float(metrics["teacher/dev_bits_per_sample"])


def test_validation_evaluate_and_score_agree_on_one_16bit_utterance(one_utterance_run, tmp_path):
    module, prepared, teacher_pt, wav = one_utterance_run
    n = load_audio(wav).audio.shape[0]
    assert n % HOP != 0  # the padding to whole frames is not counted anywhere

    val = validation_bits(module, prepared)

    assert pwave_main(["evaluate", "--generated", wav, "--reference", wav, "--teacher",
                       str(teacher_pt), "--output", str(tmp_path / "eval")]) == 0  # fmt: skip
    (row,) = list(csv.DictReader((tmp_path / "eval" / "metrics.csv").open()))
    ev, ev_ref = float(row["teacher_bits"]), float(row["teacher_bits_reference"])

    out = str(tmp_path / "s.json")
    assert pwave_main(["score", "--teacher", str(teacher_pt), "--input", wav, "--output", out,
                       "--no-progress", "--device", "cpu"]) == 0  # fmt: skip
    (rec,) = json.loads((tmp_path / "s.json").read_text())["files"]
    sc = rec["bits_per_sample"]
    assert rec["samples"] == n

    # and the definition written out: the teacher on the prepared (padded) audio and mel
    teacher = Teacher.load(teacher_pt).eval()
    direct = by_hand_bits(teacher, prepared, n)

    print(f"validation {val:.6f}  evaluate {ev:.6f}  score {sc:.6f}  by hand {direct:.6f}")
    for name, value in (("validation", val), ("evaluate", ev), ("evaluate (reference)", ev_ref)):
        assert value == pytest.approx(sc, abs=0.01), (name, value, sc)
    # the same noise everywhere: in fact far closer than the bar, and equal to the definition
    for value in (val, ev, sc):
        assert value == pytest.approx(direct, abs=2e-4)
    # The test could fail: counting the padding (under one frame of zeros) moves the number
    # by more than that. (The noise hardly matters to this wide random teacher; the tests of
    # the definition below show where it does.)
    assert abs(by_hand_bits(teacher, prepared, None) - direct) > 5e-4


def by_hand_bits(teacher: Teacher, prepared, n: int | None, draws: int = DRAWS) -> float:
    """The definition step by step on the prepared dev utterance: mean over the draws of
    sum_{t<n} log p(x_t + u_t | ...) from Teacher.log_prob's own pieces, in bits."""
    from pwave.data.dataset import PreparedDataset
    from pwave.data.segments import UtteranceDataset

    data = PreparedDataset(prepared)
    (item,) = UtteranceDataset(data, data.split("dev"), CTX, normalize=True)
    x, mel = item["audio"][None].double(), item["mel"][None].double()
    teacher = teacher.double()
    T = x.shape[-1]
    n = T if n is None else n
    total = 0.0
    for k in range(max(draws, 1)):
        xk = x + (dequantization_noise(T, k) if draws else 0.0)
        with torch.no_grad():
            mu, s = teacher.conditionals(xk, mel)
            z = (xk - mu) * torch.exp(-s)
            lp = -0.5 * (z * z + math.log(2 * math.pi)) - s  # Gaussian base
        total += float(lp[0, :n].sum())
    mean = total / max(draws, 1)
    return -(mean / n + math.log(BIN_WIDTH_16BIT)) / LN2


# --- the definition ---------------------------------------------------------------------------


def test_dequantization_noise_is_one_bin_fixed_and_differs_between_draws():
    a, b = dequantization_noise(5000, 0), dequantization_noise(5000, 1)
    assert a.dtype == torch.float64 and a.shape == (5000,)
    assert float(a.abs().max()) <= BIN_WIDTH_16BIT / 2
    assert float(a.std()) == pytest.approx(BIN_WIDTH_16BIT / math.sqrt(12), rel=0.05)
    assert torch.equal(a, dequantization_noise(5000, 0))
    assert not torch.equal(a, b)
    assert not torch.equal(a, dequantization_noise(5000, 0, seed=7))


def gaussian_per_sample(sigma: float):
    def per_sample(x: torch.Tensor) -> torch.Tensor:
        return torch.distributions.Normal(0.0, sigma).log_prob(x.double())

    return per_sample


def test_code_length_is_the_mean_over_draws_of_the_real_samples_in_bits():
    sigma = 40 * BIN_WIDTH_16BIT
    g = torch.Generator().manual_seed(0)
    x = torch.round(sigma * torch.randn(3, 64, generator=g, dtype=torch.float64) / BIN_WIDTH_16BIT)
    x = x * BIN_WIDTH_16BIT
    lengths = [64, 50, 1]
    got = code_length(x, gaussian_per_sample(sigma), lengths, draws=3, seed=5)
    for b, n in enumerate(lengths):
        lps = [
            float(gaussian_per_sample(sigma)(x[b] + dequantization_noise(64, k, 5))[:n].sum())
            for k in range(3)
        ]
        want = -(np.mean(lps) / n + math.log(BIN_WIDTH_16BIT)) / LN2
        assert float(got.bits[b]) == pytest.approx(want, rel=1e-12)
        assert float(got.log_prob[b]) == pytest.approx(np.mean(lps), rel=1e-12)
    assert got.num_samples.tolist() == lengths


def test_code_length_bounds_the_discrete_code_length_of_16bit_samples():
    """For a Gaussian density, bits with dequantisation are >= -log2 P(bin) per sample (Jensen),
    and close to it when the density is much wider than a bin."""
    from scipy.stats import norm

    for bins in (0.7, 3.0, 50.0):
        sigma = bins * BIN_WIDTH_16BIT
        rng = np.random.default_rng(0)
        k = np.round(rng.normal(0, sigma, 20000) / BIN_WIDTH_16BIT)
        x = torch.from_numpy(k * BIN_WIDTH_16BIT)[None]
        est = float(code_length(x, gaussian_per_sample(sigma), draws=8).bits[0])
        p_bin = norm.cdf((k + 0.5) * BIN_WIDTH_16BIT / sigma) - norm.cdf(
            (k - 0.5) * BIN_WIDTH_16BIT / sigma
        )
        discrete = float(-np.log2(p_bin).mean())
        assert est >= discrete - 0.002, bins
        if bins >= 3.0:
            assert est == pytest.approx(discrete, abs=0.01), bins


def test_teacher_code_length_equals_log_prob_of_the_dequantised_audio():
    teacher = randomize(Teacher(teacher_config()).double().eval())
    g = torch.Generator().manual_seed(3)
    x = 0.2 * torch.randn(2, 12 * HOP, generator=g, dtype=torch.float64)
    mel = torch.randn(2, N_MELS, 12 + 2 * CTX, generator=g, dtype=torch.float64)
    got = teacher_code_length(teacher, x, mel, draws=2)
    want = (
        sum(
            teacher.log_prob(x + dequantization_noise(x.shape[-1], k), mel, dequantize=False)
            for k in range(2)
        )
        / 2
    )
    torch.testing.assert_close(got.log_prob, want.detach())


def test_real_lengths_drop_the_zero_padding_of_the_last_frame_only():
    x = torch.ones(4, 5 * HOP)
    x[1, -3:] = 0  # padded by 3
    x[2, -HOP - 4 :] = 0  # ends in zeros past the last frame: only HOP - 1 are padding
    x[3] = 0  # all zeros
    assert real_lengths(x, HOP).tolist() == [5 * HOP, 5 * HOP - 3, 4 * HOP + 1, 4 * HOP + 1]


def test_the_cli_default_draws_is_the_definitions():
    from pwave.cli import score as score_cli

    assert score_cli.DRAWS == DRAWS
