"""Loss weights change the loss by exactly ``weight * term``, through the objective and
through the training modules.

For each weight: everything else (models, batch, noise, seeds) is held fixed, the weight goes
from 0 to ``w`` (never 1, so that a dropped or a swapped weight shows), and the loss must
change by ``w`` times the term, the term computed here from the loss functions of
:mod:`pwave.distill.losses` on the student's own sample. The debug configs set most of these
weights to 0, so a run alone would not notice a weight that is ignored.
"""

from __future__ import annotations

import math

import pytest
import torch
from helpers.perturbed_models import perturbed_student, perturbed_teacher

from pwave.distill.losses import multi_resolution_stft_loss, power_loss
from pwave.distill.objective import distillation_loss, mismatched_mel
from pwave.distill.stft import DEFAULT_RESOLUTION, STFTResolution
from pwave.units import BIN_WIDTH_16BIT

HOP, N_MELS, FRAMES, B = 16, 8, 80, 2  # T > 1024: the 2048-point STFT's reflect padding
T = FRAMES * HOP


@pytest.fixture(scope="module")
def setup():
    """A perturbed float64 student and 2-flow teacher, a mel, real audio and fixed noise."""
    student, teacher = perturbed_student(seed=1), perturbed_teacher(num_flows=2, seed=2)
    g = torch.Generator().manual_seed(0)
    mel = torch.randn(B, N_MELS, FRAMES, generator=g, dtype=torch.float64)
    t = torch.arange(T, dtype=torch.float64) / 16000
    audio = 0.3 * torch.sin(2 * math.pi * 220 * t).repeat(B, 1)
    audio = audio + 0.02 * torch.randn(B, T, generator=g, dtype=torch.float64)
    z = student.noise(mel, generator=torch.Generator().manual_seed(1))
    return student, teacher, mel, audio, z


def _loss(setup, variant="mc_kl", **weights):
    student, teacher, mel, audio, z = setup
    gen = torch.Generator().manual_seed(5)  # the cross-entropy draws, when used
    loss, logs = distillation_loss(
        student, teacher, mel, audio, variant, z=z, generator=gen, **weights
    )
    return loss.item(), logs


def _sample(setup):
    student, _, mel, _, z = setup
    return student(mel, z)


@pytest.mark.parametrize("variant", ["mc_kl", "mc_kl_analytic_entropy", "gaussian_kl"])
def test_kl_weight_scales_the_kl_term(setup, variant):
    base, logs = _loss(setup, variant, kl_weight=1.0)
    assert base == pytest.approx(logs["kl"].item(), rel=1e-12)
    for w in (0.0, 0.3, 2.5):
        assert _loss(setup, variant, kl_weight=w)[0] == pytest.approx(
            w * base, rel=1e-12, abs=1e-12
        )


def test_the_mc_kl_term_is_log_q_minus_log_p_per_sample(setup):
    student, teacher, mel, _, _ = setup
    out = _sample(setup)
    log_p = teacher.log_prob(out.audio, mel, dequantize=False)
    expected = ((out.log_q - log_p).mean() / T).item()
    assert _loss(setup, "mc_kl")[0] == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("w", [0.37, 2.0])
def test_power_weight_adds_w_times_the_power_loss_at_the_feature_stft(setup, w):
    student, _, _, audio, _ = setup
    x = _sample(setup).audio
    f = student.features
    term = power_loss(x, audio, STFTResolution(f.n_fft, f.hop_length, f.win_length))[0].item()
    other = power_loss(x, audio, DEFAULT_RESOLUTION)[0].item()
    assert abs(term - other) > 1e-3 * abs(term)  # the resolution matters on this pair
    base, _ = _loss(setup)
    with_power, logs = _loss(setup, power_weight=w)
    assert with_power - base == pytest.approx(w * term, rel=1e-9)
    assert logs["power"].item() == pytest.approx(term, rel=1e-12)


@pytest.mark.parametrize("w", [0.37, 2.0])
def test_stft_weight_adds_w_times_the_multi_resolution_stft_loss(setup, w):
    _, _, _, audio, _ = setup
    x = _sample(setup).audio
    term, parts = multi_resolution_stft_loss(x, audio)
    base, _ = _loss(setup)
    with_stft, logs = _loss(setup, stft_weight=w)
    assert with_stft - base == pytest.approx(w * term.item(), rel=1e-9)
    for k in ("spectral_convergence", "log_magnitude"):
        assert logs[f"stft/{k}"].item() == pytest.approx(parts[k].item(), rel=1e-12)


@pytest.mark.parametrize("w", [0.3, 1.5])
def test_contrastive_weight_subtracts_w_times_the_mismatched_kl(setup, w):
    _, teacher, mel, _, _ = setup
    out = _sample(setup)
    wrong = torch.roll(mel, shifts=1, dims=0)  # item b paired with item b-1's mel
    torch.testing.assert_close(mismatched_mel(mel), wrong)
    log_p_wrong = teacher.log_prob(out.audio, wrong, dequantize=False)
    kl_wrong = ((out.log_q - log_p_wrong).mean() / T).item()
    base, _ = _loss(setup)
    with_con, logs = _loss(setup, contrastive_weight=w)
    assert with_con - base == pytest.approx(-w * kl_wrong, rel=1e-9)
    assert logs["kl_mismatched"].item() == pytest.approx(kl_wrong, rel=1e-10)


def test_log_scale_reg_weight_adds_the_squared_log_scale_gap(setup):
    _, teacher, mel, _, _ = setup
    out = _sample(setup)
    _, ls_p = teacher.conditionals(out.audio, mel)
    reg = (out.log_scale - ls_p).square().mean().item()
    base, _ = _loss(setup, "gaussian_kl")
    for lam in (0.5, 4.0):
        got, logs = _loss(setup, "gaussian_kl", log_scale_reg_weight=lam)
        assert got - base == pytest.approx(lam * reg, rel=1e-9)
        assert logs["log_scale_reg"].item() == pytest.approx(reg, rel=1e-10)


def test_all_weights_at_once_add_up(setup):
    """The objective is ``w_kl KL + w_pow L_pow + w_stft L_stft - gamma KL_wrong``."""
    kw = dict(kl_weight=0.7, power_weight=0.37, stft_weight=0.45, contrastive_weight=0.2)
    total, _ = _loss(setup, **kw)
    kl = _loss(setup)[0]
    power = _loss(setup, kl_weight=0.0, power_weight=1.0)[0]
    stft = _loss(setup, kl_weight=0.0, stft_weight=1.0)[0]
    con = _loss(setup, kl_weight=0.0, contrastive_weight=1.0)[0]
    expected = 0.7 * kl + 0.37 * power + 0.45 * stft + 0.2 * con
    assert total == pytest.approx(expected, rel=1e-9)


# -- through the training modules ------------------------------------------------------------


@pytest.fixture(scope="module")
def teacher_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("teacher") / "teacher.pt"
    perturbed_teacher(num_flows=1, seed=3).float().save(path)
    return path


def _batch(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(T) / 16000
    audio = 0.3 * torch.sin(2 * math.pi * 180 * t).repeat(B, 1) + 0.02 * torch.randn(
        B, T, generator=g
    )
    mel = torch.randn(B, N_MELS, FRAMES, generator=g)
    return {"audio": audio, "mel": mel}


def _student_module(teacher_file, **weights):
    from helpers.models import tiny_student_config

    from pwave.train.student import StudentModule

    torch.manual_seed(0)  # the same initial student (and noise seed) for every module
    return StudentModule(
        student=tiny_student_config(),
        teacher_path=str(teacher_file),
        sample_seconds=0.0,
        **weights,
    )


@pytest.mark.parametrize(
    ("name", "w", "parts"),
    [
        ("stft_weight", 0.7, ("stft/spectral_convergence", "stft/log_magnitude")),
        ("power_weight", 0.37, ("power",)),
        ("kl_weight", 0.4, ("kl",)),
    ],
)
def test_student_module_passes_each_weight_to_the_objective(teacher_file, name, w, parts):
    """``StudentModule(stft_weight=w)`` (what ``--model.stft_weight`` sets; the demo config
    relies on it) changes the training loss by ``w`` times the logged term, and the loss is
    the objective's with the same weights and the step's noise."""
    batch = _batch()
    off = {"kl_weight": 1.0, "power_weight": 0.0, "stft_weight": 0.0}
    base_module = _student_module(teacher_file, **{**off, name: 0.0})
    module = _student_module(teacher_file, **{**off, name: w})
    for p, q in zip(base_module.model.parameters(), module.model.parameters()):
        assert torch.equal(p, q)
    base, _ = base_module.training_loss(batch)
    loss, logs = module.training_loss(batch)
    term = sum(logs[k].item() for k in parts)
    assert term > 0
    assert loss.item() - base.item() == pytest.approx(w * term, rel=1e-5, abs=1e-7)
    direct, _ = distillation_loss(
        module.model, module.teacher, batch["mel"], batch["audio"], "mc_kl",
        generator=module.step_generator("cpu"), **{**off, name: w},
    )  # fmt: skip
    assert loss.item() == pytest.approx(direct.item(), rel=1e-6)


def test_student_module_contrastive_weight(teacher_file):
    batch = _batch(1)
    base, _ = _student_module(teacher_file).training_loss(batch)
    loss, logs = _student_module(teacher_file, contrastive_weight=0.3).training_loss(batch)
    assert loss.item() - base.item() == pytest.approx(
        -0.3 * logs["kl_mismatched"].item(), rel=1e-5, abs=1e-7
    )
    assert logs["contrastive"].item() == pytest.approx(-0.3 * logs["kl_mismatched"].item())


@pytest.mark.parametrize("dequantize", [True, False])
def test_teacher_module_dequantises_with_one_bin_of_the_step_noise(dequantize):
    """The teacher's training NLL is that of the audio plus ``U(-1/2, 1/2)`` of one 16-bit bin
    from the step's generator when ``dequantize`` is on, of the audio itself when it is off."""
    from helpers.models import tiny_teacher_config

    from pwave.train.teacher import TeacherModule

    torch.manual_seed(0)
    cfg = tiny_teacher_config().replace(init_log_scale=-8.0, dequantize=dequantize)
    module = TeacherModule(teacher=cfg, lpc_order=0, sample_seconds=0.0)
    module.train()
    batch = _batch(2)
    batch["audio"] = 0.001 * batch["audio"]  # about the model's scale: one bin matters
    audio, mel = batch["audio"], batch["mel"]
    nll, logs = module.training_loss(batch)
    model = module.model
    with torch.no_grad():
        clean = -model.log_prob(audio, mel, dequantize=False).mean() / T
        u = torch.rand(audio.shape, generator=module.step_generator("cpu"))
        noisy = -model.log_prob(audio + (u - 0.5) * BIN_WIDTH_16BIT, mel, dequantize=False)
        noisy = noisy.mean() / T
    assert abs(clean - noisy) > 3e-5 * abs(clean)  # one bin of noise shows
    expected = noisy if dequantize else clean
    assert nll.item() == pytest.approx(expected.item(), rel=1e-6, abs=0)
    bits = (expected.item() - math.log(BIN_WIDTH_16BIT)) / math.log(2)  # nll = -log p / T
    assert logs["train_bits_per_sample"].item() == pytest.approx(bits, rel=1e-6)
