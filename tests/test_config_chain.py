"""The shipped YAML configs are the one source of the presets, and corpus configs extend paper.

* ``TeacherConfig.demo()`` and the other presets equal the ``model.<stage>`` section of their
  YAML, read here with plain ``yaml.safe_load`` (an independent path to the same values).
* Each corpus config states only what differs from ``paper`` (written out below) and
  merges to exactly the full file it replaced.
* The ``# base:`` resolver: names, relative files, cycles, missing bases, merging.
"""

import copy
from pathlib import Path

import pytest
import yaml

from pwave.audio.config import FeatureConfig
from pwave.audio.features import load_feature_config
from pwave.configs import (
    CONFIG_ROOT,
    config_base,
    config_files,
    config_names,
    config_path,
    load_config,
    merge_configs,
    read_yaml,
)
from pwave.errors import UserError
from pwave.models.student import StudentConfig
from pwave.models.teacher import TeacherConfig

CONFIG_CLASSES = {"teacher": TeacherConfig, "student": StudentConfig}

# --- presets ----------------------------------------------------------------------------


@pytest.mark.parametrize("stage", ["teacher", "student"])
@pytest.mark.parametrize("name", ["demo", "paper"])
def test_python_preset_is_the_yaml_section(stage, name):
    cls = CONFIG_CLASSES[stage]
    raw = yaml.safe_load((CONFIG_ROOT / stage / f"{name}.yaml").read_text())
    preset = getattr(cls, name)()
    assert preset == cls.from_dict(raw["model"][stage])
    assert preset.to_dict() == cls.from_dict(raw["model"][stage]).to_dict()


def test_presets_take_the_values_the_demo_trains_with():
    """Where the Python presets and the YAMLs had drifted, the YAML (what ``pwave demo`` and
    the recipes train with) won: two mel context frames, the datamodule's default, for the
    teachers; a total initial log-scale of -3.0 for the students."""
    assert TeacherConfig.demo().mel_context_frames == 2
    assert TeacherConfig.paper().mel_context_frames == 2
    assert StudentConfig.demo().init_log_scale == -3.0
    assert StudentConfig.paper().init_log_scale == -3.0
    # The student's context frames are the teacher's, set when it is distilled.
    assert StudentConfig.demo().mel_context_frames == 0


def test_each_call_gives_a_fresh_preset():
    first = TeacherConfig.demo()
    first.cond_channels = 1
    assert TeacherConfig.demo().cond_channels == 32


# --- corpus configs extend paper ---------------------------------------------------------

_16K = {"sample_rate": 16000, "n_fft": 1024, "hop_length": 256, "win_length": 1024}
_22K = {"sample_rate": 22050, "n_fft": 1024, "hop_length": 256, "win_length": 1024}
#: What each corpus config changes in ``paper`` (besides ``trainer.default_root_dir``, which
#: is ``runs/<corpus>/<stage>``): its front end, where it differs.
CORPUS_FRONT_ENDS = {
    "arctic": ({**_16K, "fmax": 8000.0}, [16, 16]),
    "ljspeech": ({**_22K, "fmax": 8000.0}, [16, 16]),
    "libritts": ({}, None),
    "vctk": ({}, None),
}


@pytest.mark.parametrize("stage", ["teacher", "student"])
@pytest.mark.parametrize("name", sorted(CORPUS_FRONT_ENDS))
def test_corpus_config_is_paper_with_its_differences(stage, name):
    paper = yaml.safe_load((CONFIG_ROOT / stage / "paper.yaml").read_text())
    expected = copy.deepcopy(paper)
    expected["trainer"]["default_root_dir"] = f"runs/{name}/{stage}"
    features, factors = CORPUS_FRONT_ENDS[name]
    expected["model"][stage]["features"].update(features)
    if factors is not None:
        expected["model"][stage]["upsample_factors"] = factors
    assert config_base(config_path(stage, name)) == "paper"
    assert config_files(stage, name) == [
        (CONFIG_ROOT / stage / "paper.yaml").resolve(),
        (CONFIG_ROOT / stage / f"{name}.yaml").resolve(),
    ]
    assert load_config(stage, name) == expected


@pytest.mark.parametrize("stage", ["teacher", "student"])
@pytest.mark.parametrize("name", sorted(CORPUS_FRONT_ENDS))
def test_corpus_config_states_only_its_run_folder_and_front_end(stage, name):
    """The file itself is short: its run folder and its front end in full (so that
    ``pwave prepare --feature-config`` reads the features from this one file)."""
    own = read_yaml(config_path(stage, name))
    assert set(own) == {"trainer", "model"}
    assert set(own["trainer"]) == {"default_root_dir"}
    assert set(own["model"]) == {stage}
    assert set(own["model"][stage]) == {"features", "upsample_factors"}
    merged = load_config(stage, name)["model"][stage]["features"]
    assert load_feature_config(config_path(stage, name)) == FeatureConfig.from_dict(merged)


def test_only_the_corpus_configs_have_a_base():
    for stage in ("teacher", "student"):
        with_base = {n for n in config_names(stage) if config_base(config_path(stage, n))}
        assert with_base == set(CORPUS_FRONT_ENDS)


# --- the resolver ------------------------------------------------------------------------


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_a_users_config_extends_a_shipped_one(tmp_path):
    mine = _write(tmp_path / "mine.yaml", "# my run\n\n# base: demo\nmodel:\n  lr: 0.5\n")
    assert config_files("teacher", mine) == [
        (CONFIG_ROOT / "teacher" / "demo.yaml").resolve(),
        mine.resolve(),
    ]
    merged = load_config("teacher", mine)
    assert merged["model"]["lr"] == 0.5
    assert merged["model"]["teacher"] == load_config("teacher", "demo")["model"]["teacher"]


def test_a_base_file_is_relative_to_the_config(tmp_path):
    (tmp_path / "sub").mkdir()
    _write(tmp_path / "root.yaml", "a: {x: 1, y: [1, 2]}\nb: 1\n")
    _write(tmp_path / "sub" / "mid.yaml", "# base: ../root.yaml\na: {y: [3]}\n")
    top = _write(tmp_path / "top.yaml", "# base: sub/mid.yaml\nb: 2\n")
    assert [p.name for p in config_files("student", top)] == ["root.yaml", "mid.yaml", "top.yaml"]
    assert load_config("student", top) == {"a": {"x": 1, "y": [3]}, "b": 2}


def test_a_base_line_after_the_yaml_starts_is_an_ordinary_comment(tmp_path):
    path = _write(tmp_path / "c.yaml", "a: 1\n# base: paper\n")
    assert config_base(path) is None
    assert config_files("teacher", path) == [path.resolve()]


def test_bad_bases_are_user_errors(tmp_path):
    _write(tmp_path / "a.yaml", "# base: b.yaml\nx: 1\n")
    _write(tmp_path / "b.yaml", "# base: a.yaml\nx: 2\n")
    with pytest.raises(UserError, match="cycle"):
        config_files("teacher", tmp_path / "a.yaml")
    _write(tmp_path / "c.yaml", "# base: nosuch\n")
    with pytest.raises(UserError, match="'nosuch' is not a shipped teacher config.*paper"):
        config_files("teacher", tmp_path / "c.yaml")
    _write(tmp_path / "d.yaml", "# base: gone.yaml\n")
    with pytest.raises(UserError, match="'gone.yaml' is not a file"):
        config_files("teacher", tmp_path / "d.yaml")
    with pytest.raises(UserError, match="no student config 'nosuch'.*debug"):
        config_files("student", "nosuch")
    _write(tmp_path / "list.yaml", "- 1\n")
    with pytest.raises(UserError, match="YAML mapping"):
        load_config("teacher", tmp_path / "list.yaml")


def test_merge_configs_merges_mappings_and_replaces_the_rest():
    base = {"a": {"b": 1, "c": [1, 2]}, "d": "x"}
    override = {"a": {"c": [3], "e": None}, "d": {"f": 1}}
    merged = merge_configs(base, override)
    assert merged == {"a": {"b": 1, "c": [3], "e": None}, "d": {"f": 1}}
    merged["a"]["c"].append(4)
    assert base == {"a": {"b": 1, "c": [1, 2]}, "d": "x"}
    assert override == {"a": {"c": [3], "e": None}, "d": {"f": 1}}
