"""Student training: distillation runs end to end against a frozen tiny teacher."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from pwave.audio.config import FeatureMismatchError
from pwave.data.dataset import PreparedDataset
from pwave.models.student import Student
from pwave.models.teacher import Teacher, TeacherConfig
from pwave.train.cli import make_cli, run_stage

ROOT = Path(__file__).resolve().parents[1]
DEBUG = str(ROOT / "pwave" / "configs" / "student" / "debug.yaml")


def _teacher(features, **changes) -> Teacher:
    torch.manual_seed(0)
    cfg = TeacherConfig(
        features=features,
        upsample_factors=(8, 8),
        cond_channels=4,
        residual_channels=4,
        gate_channels=8,
        skip_channels=4,
        layers=3,
        kernel_size=2,
        mel_context_frames=1,
    )
    return Teacher(cfg.replace(**changes)).eval()


@pytest.fixture(scope="module")
def teacher_file(prepared_demo, tmp_path_factory) -> Path:
    """An (untrained) tiny teacher saved with the prepared data's feature config."""
    path = tmp_path_factory.mktemp("teacher") / "teacher.pt"
    _teacher(PreparedDataset(prepared_demo).feature_config).save(path)
    return path


def _args(run_dir, data_dir, teacher, *extra) -> list[str]:
    return [
        "--config",
        DEBUG,
        "--trainer.default_root_dir",
        str(run_dir),
        "--data.data_dir",
        str(data_dir),
        "--teacher",
        str(teacher),
        *extra,
    ]


@pytest.fixture(scope="module")
def student_run(prepared_demo, teacher_file, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("student_run")
    cli = run_stage("student", _args(run_dir, prepared_demo, teacher_file))
    return cli, run_dir


def _debug_student_config():
    import yaml

    from pwave.audio.config import FeatureConfig
    from pwave.models.student import StudentConfig

    d = yaml.safe_load(Path(DEBUG).read_text())["model"]["student"]
    d["features"] = FeatureConfig.from_dict(d["features"])
    return StudentConfig(**d)


def test_run_trains_student_and_keeps_teacher_frozen(student_run, teacher_file):
    cli, run_dir = student_run
    module = cli.model
    assert cli.trainer.global_step == 3
    assert str(teacher_file) in (run_dir / "config.yaml").read_text()
    # The teacher is untouched, frozen and in eval mode; the student moved.
    saved = Teacher.load(teacher_file)
    for (name, p), q in zip(module.teacher.state_dict().items(), saved.state_dict().values()):
        assert torch.equal(p, q), name
    assert not any(p.requires_grad for p in module.teacher.parameters())
    assert not module.teacher.training
    # Adam holds exactly the student's parameters and stepped each of them every step.
    opt = cli.trainer.optimizers[0]
    held = {id(p) for group in opt.param_groups for p in group["params"]}
    assert held == {id(p) for p in module.model.parameters()}
    assert all(int(opt.state[p]["step"]) == 3 for p in module.model.parameters())
    # The student took the teacher's feature config (statistics included) and mel context.
    assert module.student_config.features == saved.features
    assert module.student_config.mel_context_frames == saved.config.mel_context_frames

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run_dir))
    events.Reload()
    scalars = set(events.Tags()["scalars"])
    for tag in (
        "kl",
        "entropy",
        "cross_entropy",
        "power",
        "flow0/log_scale_mean",
        "flow1/log_scale_std",
        "dev_kl",
        "grad_norm",
        "nonfinite_steps",
    ):
        assert f"student/{tag}" in scalars, tag
    assert "student/sample/generated" in events.Tags()["audio"]
    assert "student/sample/mel" in events.Tags()["images"]


def test_exported_student_is_the_ema_model(student_run):
    cli, run_dir = student_run
    loaded = Student.load(run_dir / "student.pt").double()
    ema = cli.model.ema.module.double()
    assert loaded.features == cli.datamodule.feature_config
    mel = next(iter(cli.datamodule.val_dataloader()))["mel"].double()
    z = ema.noise(mel, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(loaded.sample(mel, z), ema.sample(mel, z))
    live = cli.model.model.double().eval().sample(mel, z)
    assert not torch.allclose(live, ema.sample(mel, z))


@pytest.mark.parametrize("variant", ["mc_kl", "mc_kl_analytic_entropy", "gaussian_kl"])
def test_gradients_reach_the_student_through_the_teacher(variant, teacher_file, prepared_demo):
    from pwave.train.datamodule import VocoderDataModule
    from pwave.train.student import StudentModule

    module = StudentModule(
        student=_debug_student_config(),
        teacher_path=str(teacher_file),
        variant=variant,
        power_weight=0.1,
        num_cross_entropy_samples=2,
        sample_seconds=0.0,
    )
    dm = VocoderDataModule(prepared_demo, segment_frames=4, mel_context_frames=1, batch_size=2)
    batch = next(iter(dm.train_dataloader()))
    loss, logs = module.training_loss(batch)
    assert torch.isfinite(loss)
    assert {"kl", "entropy", "cross_entropy", "power", "flow0/log_scale_mean"} <= set(logs)
    loss.backward()
    assert all(p.grad is not None for p in module.model.parameters())
    assert all(p.grad is None for p in module.teacher.parameters())


def test_teacher_data_feature_mismatch_is_refused(prepared_demo, tmp_path):
    data_features = PreparedDataset(prepared_demo).feature_config
    other = tmp_path / "other_teacher.pt"
    _teacher(data_features.replace(fmax=7000.0)).save(other)
    with pytest.raises(FeatureMismatchError, match="fmax"):
        make_cli("student", _args(tmp_path / "a", prepared_demo, other))
    # Same settings but other normalisation statistics: refused too.
    stats = tmp_path / "stats_teacher.pt"
    shifted = tuple(m + 1.0 for m in data_features.mel_mean)
    _teacher(data_features.replace(mel_mean=shifted)).save(stats)
    with pytest.raises(FeatureMismatchError, match="mel_mean"):
        make_cli("student", _args(tmp_path / "b", prepared_demo, stats))


def test_missing_teacher_is_a_clear_error(prepared_demo, tmp_path):
    from pwave.errors import UserError

    with pytest.raises(UserError, match="--teacher"):
        make_cli(
            "student",
            [
                "--config",
                DEBUG,
                "--data.data_dir",
                str(prepared_demo),
                "--trainer.default_root_dir",
                str(tmp_path),
            ],
        )
    with pytest.raises(FileNotFoundError, match="pwave train teacher"):
        make_cli("student", _args(tmp_path, prepared_demo, tmp_path / "nope.pt"))


@pytest.mark.parametrize("every", [2, 200])
def test_one_last_checkpoint_when_the_config_has_a_model_checkpoint_saving_last(
    every, prepared_demo, teacher_file, tmp_path
):
    """The shipped configs add a ``ModelCheckpoint(save_last=True)``; pwave also keeps
    ``last.ckpt`` for resuming. One name, one file: no ``last-v1.ckpt`` next to it."""
    import yaml

    from pwave.serialization import safe_load

    callbacks = yaml.safe_dump(
        {
            "trainer": {
                "callbacks": [
                    {
                        "class_path": "lightning.pytorch.callbacks.ModelCheckpoint",
                        "init_args": {
                            "every_n_train_steps": every,
                            "save_last": True,
                            "save_top_k": -1,
                        },
                    }
                ]
            }
        }
    )
    extra = tmp_path / "checkpoints.yaml"
    extra.write_text(callbacks)
    run_dir = tmp_path / "run"
    args = _args(run_dir, prepared_demo, teacher_file, "--config", str(extra))
    assert run_stage("student", args).trainer.global_step == 3
    folder = run_dir / "checkpoints"
    assert sorted(p.name for p in folder.glob("last*.ckpt")) == ["last.ckpt"]
    assert safe_load(folder / "last.ckpt")["global_step"] == 3
    numbered = sorted(p.name for p in folder.glob("epoch=*.ckpt"))
    assert numbered == (["epoch=0-step=2.ckpt"] if every == 2 else [])  # the config's
