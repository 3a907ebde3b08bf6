"""Shared pytest fixtures: small feature configs, synthetic audio and corpus trees.

Everything is built in ``tmp_path`` from synthetic signals (nothing is downloaded):

* ``tiny_feature_config``: a fast mel setting (16 kHz, n_fft 256, hop 64, 20 mels).
* ``synth_audio(seconds, sample_rate=16000, seed=0) -> np.ndarray [time]``.
* ``write_audio(path, audio_or_seconds, sample_rate=16000, subtype="PCM_16") -> Path``.
* ``corpus_tree(layout, **options) -> Path``: a miniature corpus in ``layout``
  (``"folder"``, ``"ljspeech"``, ``"vctk"``, ``"libritts"``, ``"arctic"``, ``"bad"``);
  options go to the matching ``helpers.synthetic.write_*`` function.
* ``prepared_demo``: the path of a small demo corpus prepared once per test session.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pwave.audio.config import FeatureConfig


@pytest.fixture
def tiny_feature_config() -> FeatureConfig:
    return FeatureConfig(
        sample_rate=16000, n_fft=256, hop_length=64, win_length=256, n_mels=20, fmax=8000.0
    )


@pytest.fixture
def synth_audio():
    from helpers.synthetic import tone_burst

    def make(seconds: float, sample_rate: int = 16000, seed: int = 0) -> np.ndarray:
        return tone_burst(seconds, sample_rate, seed)

    return make


@pytest.fixture
def write_audio():
    from helpers.synthetic import tone_burst

    from pwave.audio.io import save_wav

    def write(path, audio=1.0, sample_rate: int = 16000, subtype: str = "PCM_16") -> Path:
        if np.isscalar(audio):
            audio = tone_burst(float(audio), sample_rate)
        return save_wav(path, audio, sample_rate, subtype)

    return write


@pytest.fixture
def corpus_tree(tmp_path):
    from helpers import synthetic

    writers = {
        "folder": lambda root, **kw: (synthetic.write_folder_tree(root, **kw), root)[1],
        "ljspeech": synthetic.write_ljspeech_tree,
        "vctk": synthetic.write_vctk_tree,
        "libritts": synthetic.write_libritts_tree,
        "arctic": synthetic.write_arctic_tree,
        "bad": lambda root, **kw: (synthetic.write_bad_files(root, **kw), root)[1],
    }
    counter = iter(range(1000))

    def make(layout: str, **options) -> Path:
        root = tmp_path / f"corpus_{layout}_{next(counter)}"
        return Path(writers[layout](root, **options))

    return make


@pytest.fixture(scope="session")
def prepared_demo(tmp_path_factory) -> Path:
    """A demo corpus (12 x 1.5 s, 16 kHz, hop 64, 20 mels) prepared once per session."""
    from pwave.data.prepare import prepare_corpus

    out = tmp_path_factory.mktemp("prepared_demo")
    cfg = FeatureConfig(
        sample_rate=16000, n_fft=256, hop_length=64, win_length=256, n_mels=20, fmax=8000.0
    )
    prepare_corpus(
        None,
        out,
        layout="demo",
        feature_config=cfg,
        demo_utterances=12,
        demo_seconds=1.5,
        num_workers=0,
        progress=False,
        dev_fraction=0.1,
        eval_fraction=0.1,
        log=None,
    )
    return out


@pytest.fixture(autouse=True, scope="session")
def _one_intra_op_thread():
    """The suite's models are tiny: one intra-op thread is faster than two and immune to
    OpenMP stalls on a shared CPU (the setting is restored after the session)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
