"""The public face: ``from pwave import ...`` and ``from pwave.flows import ...`` give the
objects the README names, from the modules that define them."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import tomllib
from pathlib import Path

import pytest

import pwave
import pwave.flows
from pwave.flows.base import Flow

# the "Flow core" bullet of the README, name by name
README_FLOWS = [
    "MADE",
    "MAF",
    "IAF",
    "MaskedAffineAutoregressive",
    "MaskedSplineAutoregressive",
    "PlanarFlow",
    "RadialFlow",
    "LULinear",
    "Permutation",
    "RandomPermutation",
    "ReversePermutation",
    "InvertibleConv1x1",
    "LeakyReLUFlow",
    "PiecewiseLinear",
    "ElementwiseRQSpline",
    "AdditiveCoupling",
    "AffineCoupling",
    "realnvp",
    "ActNorm",
    "ResidualFlow",
    "NormalizingFlow",
]


def test_top_level_names_are_the_defining_objects():
    from pwave import FeatureConfig, Student, Teacher, Vocoder, load_model
    from pwave.audio.config import FeatureConfig as feature_config
    from pwave.model_io.loading import load_model as loader
    from pwave.models.student import Student as student
    from pwave.models.teacher import Teacher as teacher

    assert (Teacher, Student, FeatureConfig, load_model) == (
        teacher,
        student,
        feature_config,
        loader,
    )
    assert Vocoder is importlib.import_module(Vocoder.__module__).Vocoder
    assert Vocoder.__module__.startswith("pwave.inference")
    assert callable(Vocoder.from_checkpoint)


def test_all_and_dir_list_every_public_name():
    for name in pwave.__all__:
        assert getattr(pwave, name) is not None, name
        assert name in dir(pwave), name
    assert {"Teacher", "Student", "Vocoder", "FeatureConfig", "load_model"} <= set(pwave.__all__)


def test_unknown_attribute_raises_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'Nonexistent'"):
        pwave.Nonexistent  # noqa: B018
    assert not hasattr(pwave, "nonexistent_either")


def test_version_agrees_with_version_module_and_pyproject():
    from pwave.version import __version__

    assert pwave.__version__ == __version__
    project = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["project"]
    if "version" in project:
        assert project["version"] == __version__


@pytest.mark.parametrize("name", README_FLOWS)
def test_readme_flows_import_from_pwave_flows(name):
    obj = getattr(pwave.flows, name)
    assert name in pwave.flows.__all__
    assert getattr(importlib.import_module(obj.__module__), name) is obj
    if name == "NormalizingFlow":  # a distribution over a flow, not a flow itself
        assert callable(obj.log_prob) and callable(obj.sample)
    elif inspect.isclass(obj) and name != "MADE":  # MADE is the conditioner network
        assert issubclass(obj, Flow), name


def test_made_maf_iaf_are_the_autoregressive_classes():
    from pwave.flows import IAF, MADE, MAF
    from pwave.flows.autoregressive import IAF as iaf
    from pwave.flows.autoregressive import MAF as maf
    from pwave.flows.made import MADE as made

    assert (MADE, MAF, IAF) == (made, maf, iaf)


def test_every_public_flow_class_is_exported():
    exported = set(pwave.flows.__all__)
    for info in pkgutil.iter_modules(pwave.flows.__path__):
        module = importlib.import_module(f"pwave.flows.{info.name}")
        for name, obj in vars(module).items():
            is_flow = inspect.isclass(obj) and issubclass(obj, Flow)
            if is_flow and obj.__module__ == module.__name__ and not name.startswith("_"):
                assert name in exported, f"pwave.flows.{info.name}.{name}"
