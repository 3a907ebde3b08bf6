"""Teacher training: the command runs end to end on a tiny prepared corpus and its outputs agree."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import torch

from pwave.audio.config import FeatureConfig, FeatureMismatchError
from pwave.cli.train import add_arguments
from pwave.models.teacher import Teacher
from pwave.train.cli import make_cli, run_stage
from pwave.train.teacher import TeacherModule, load_teacher

ROOT = Path(__file__).resolve().parents[1]
DEBUG = str(ROOT / "pwave" / "configs" / "teacher" / "debug.yaml")


@pytest.fixture(scope="module")
def teacher_run(prepared_demo, tmp_path_factory):
    """A 4-step debug teacher run (with a short generated clip at validation)."""
    run_dir = tmp_path_factory.mktemp("teacher_run")
    cli = run_stage(
        "teacher",
        [
            "--config",
            DEBUG,
            "--trainer.default_root_dir",
            str(run_dir),
            "--data.data_dir",
            str(prepared_demo),
            "--model.sample_seconds",
            "0.01",
        ],
    )
    return cli, run_dir


def _dev_batch(cli):
    batch = next(iter(cli.datamodule.val_dataloader()))
    return batch["audio"].double(), batch["mel"].double()


def test_run_writes_config_checkpoint_export_and_logs(teacher_run, prepared_demo):
    cli, run_dir = teacher_run
    assert cli.trainer.global_step == 4
    config = (run_dir / "config.yaml").read_text()
    assert str(prepared_demo) in config  # the merged config names the data it used
    assert list((run_dir / "checkpoints").glob("*.ckpt"))
    assert (run_dir / "teacher.pt").is_file()

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run_dir))
    events.Reload()
    scalars = set(events.Tags()["scalars"])
    for tag in (
        "train_nll",
        "dev_bits_per_sample",
        "lpc_dev_bits_per_sample",
        "grad_norm",
        "lr",
        "nonfinite_steps",
    ):
        assert f"teacher/{tag}" in scalars
    assert "teacher/sample/generated" in events.Tags()["audio"]
    assert "teacher/sample/mel" in events.Tags()["images"]


def test_exported_teacher_is_the_ema_model(teacher_run, prepared_demo):
    cli, run_dir = teacher_run
    module = cli.model
    loaded = Teacher.load(run_dir / "teacher.pt").double()
    ema = module.ema.module.double()
    # The export carries the data's feature config, statistics included.
    assert loaded.features == cli.datamodule.feature_config
    assert loaded.config.mel_context_frames == cli.datamodule.mel_context_frames
    audio, mel = _dev_batch(cli)
    with torch.no_grad():
        expected = ema.log_prob(audio, mel, dequantize=False)
        torch.testing.assert_close(loaded.log_prob(audio, mel, dequantize=False), expected)
        # The EMA weights differ from the live ones (it is an average, not a copy).
        live = module.model.double().eval().log_prob(audio, mel, dequantize=False)
        assert not torch.allclose(live, expected)
        # The Lightning checkpoint alone gives the same teacher.
        ckpt = sorted((run_dir / "checkpoints").glob("*.ckpt"))[-1]
        from_ckpt = load_teacher(ckpt).double()
        torch.testing.assert_close(from_ckpt.log_prob(audio, mel, dequantize=False), expected)
        restored = TeacherModule.load_from_checkpoint(ckpt, map_location="cpu")
        ema2 = restored.ema.module.double()
        torch.testing.assert_close(ema2.log_prob(audio, mel, dequantize=False), expected)


def test_feature_mismatch_is_refused_naming_the_field(prepared_demo, tmp_path):
    with pytest.raises(FeatureMismatchError, match="n_mels"):
        make_cli(
            "teacher",
            [
                "--config",
                DEBUG,
                "--trainer.default_root_dir",
                str(tmp_path),
                "--data.data_dir",
                str(prepared_demo),
                "--model.teacher.features.n_mels",
                "16",
            ],
        )


def test_module_checks_the_data_it_meets(prepared_demo, tmp_path):
    """Used without the command line, a model built for other features meets the data in
    ``setup`` and is refused there."""
    import lightning.pytorch as pl

    from pwave.models.teacher import TeacherConfig
    from pwave.train.datamodule import VocoderDataModule

    cfg = TeacherConfig(
        features=FeatureConfig(16000, 256, 64, 256, 20, fmax=8000.0),
        upsample_factors=(8, 8),
        cond_channels=4,
        residual_channels=4,
        gate_channels=8,
        skip_channels=4,
        layers=2,
        kernel_size=2,
        mel_context_frames=1,
    )
    dm = VocoderDataModule(prepared_demo, segment_frames=4, mel_context_frames=1, batch_size=2)
    module = TeacherModule(teacher=cfg, sample_seconds=0.0, lpc_order=0)  # no statistics
    trainer = pl.Trainer(
        max_steps=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        default_root_dir=tmp_path,
    )
    with pytest.raises(FeatureMismatchError, match="mel_mean"):
        trainer.fit(module, datamodule=dm)


def test_argparse_wiring_passes_everything_on():
    parser = argparse.ArgumentParser(prog="pwave train teacher")
    add_arguments(parser)
    words = ["--config", "x.yaml", "--model.lr", "1e-3", "--trainer.max_steps=5", "--help"]
    assert parser.parse_args(words).cli_args == words
    assert parser.parse_args([]).cli_args == []


def test_help_and_print_config(capsys):
    with pytest.raises(SystemExit) as exit_info:
        make_cli("teacher", ["--config", DEBUG, "--print_config"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "residual_channels: 8" in out and "data_dir: demo" in out
    # Without --config the checkout's demo config is used.
    with pytest.raises(SystemExit):
        make_cli("teacher", ["--print_config"])
    out = capsys.readouterr().out
    assert "max_steps: 2000" in out and "max_time: null" in out  # the demo config's budget


def test_lightning_banners_are_dropped_other_notices_stay(caplog):
    import logging

    from lightning.pytorch.utilities.rank_zero import rank_zero_info

    from pwave.train.console import DropNotices, quiet_lightning

    quiet_lightning()
    quiet_lightning()  # idempotent: one filter, not two
    name = "lightning.pytorch.utilities.rank_zero"
    with caplog.at_level(logging.INFO, logger=name):
        rank_zero_info("Tip: try installing [litlogger](https://pypi.org/project/litlogger/)")
        rank_zero_info("GPU available: False, used: False")
        rank_zero_info("TPU available: False, using: 0 TPU cores")
        rank_zero_info("`Trainer.fit` stopped: `max_steps=4` reached.")
    assert [r.getMessage() for r in caplog.records] == [
        "`Trainer.fit` stopped: `max_steps=4` reached."
    ]
    assert sum(isinstance(f, DropNotices) for f in logging.getLogger(name).filters) == 1


def test_config_by_name_and_by_file(capsys):
    """``--config NAME`` is a shipped config, ``--config FILE`` a YAML file; a shipped config
    that extends a base brings its base along (base first)."""
    with pytest.raises(SystemExit) as exit_info:
        make_cli("teacher", ["--config", "debug", "--print_config"])
    assert exit_info.value.code == 0
    by_name = capsys.readouterr().out
    with pytest.raises(SystemExit):
        make_cli("teacher", ["--config", DEBUG, "--print_config"])
    assert by_name == capsys.readouterr().out
    assert "residual_channels: 8" in by_name
    with pytest.raises(SystemExit) as exit_info:
        make_cli("teacher", ["--config=ljspeech", "--print_config"])
    assert exit_info.value.code == 0
    merged = capsys.readouterr().out
    assert "sample_rate: 22050" in merged  # ljspeech's own front end
    assert "layers: 30" in merged  # from its base, paper


def test_unknown_config_name_lists_the_shipped_ones():
    from pwave.errors import UserError

    with pytest.raises(UserError, match="debug.*demo"):
        make_cli("teacher", ["--config", "no-such-config", "--print_config"])


def test_a_run_prints_where_what_and_how_long_not_lightning_banners(prepared_demo, tmp_path):
    """No accelerator inventory, no FLOPs table: pwave's own lines name the device, the
    precision, the steps, the parameter count and the run folder."""
    import subprocess
    import sys

    import yaml

    config = yaml.safe_load(Path(DEBUG).read_text())
    del config["trainer"]["enable_model_summary"]  # Lightning's default: a summary table
    del config["trainer"]["enable_progress_bar"]
    path = tmp_path / "teacher.yaml"
    path.write_text(yaml.safe_dump(config))
    run_dir = tmp_path / "run"
    words = ["--config", str(path), "--trainer.default_root_dir", str(run_dir)]
    words += ["--data.data_dir", str(prepared_demo), "--trainer.max_steps", "2"]
    done = subprocess.run(
        [sys.executable, "-m", "pwave", "train", "teacher", *words],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-3000:]
    for noise in ("TPU available", "GPU available", "Total FLOPs", "Total params", "litlogger"):
        assert noise.lower() not in out.lower(), noise
    assert f"run folder {run_dir}" in out
    assert "2 optimizer steps" in out and "precision 32-true" in out and "cpu" in out
    assert "parameters" in out
