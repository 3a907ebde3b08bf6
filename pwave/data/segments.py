"""Training data: random aligned (audio, mel) segments from a prepared dataset.

Alignment (the contract the models rely on), for ``S = segment_frames``,
``c = mel_context_frames`` and hop ``h``:

* ``audio``: ``[B, S * h]``, samples ``[s * h, (s + S) * h)`` of an utterance;
* ``mel``: ``[B, n_mels, S + 2c]``, frames ``[s - c, s + S + c)`` of the same utterance,
  edge-replicated beyond the utterance (:func:`pwave.audio.mel.pad_context`).

So ``mel[:, :, c : c + S]`` is exactly aligned with ``audio`` (frame ``c + k`` covers samples
``[k*h, (k+1)*h)`` of the segment) and the ``c`` frames on each side are context for a small
non-causal convolution in the upsampler. Mels are normalised with the dataset's statistics
unless ``normalize_mel=False``.

Batches are dicts: ``{"audio": Tensor, "mel": Tensor, "id": list[str], "start_frame": Tensor}``.

Determinism: the train sampler draws (utterance, crop seed) pairs in the main process from a
``torch.Generator`` seeded with ``seed + epoch``; each crop is a pure function of its crop
seed, so batches do not depend on ``num_workers``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from pwave.audio.mel import pad_context, silence_log_mel
from pwave.data.dataset import PreparedDataset, Utterance


@dataclass(frozen=True)
class SegmentSpec:
    """How to cut segments: ``segment_frames`` aligned frames plus ``context`` on each side."""

    segment_frames: int
    context: int
    hop: int
    normalize: bool


class _Mels:
    """Loads and optionally normalises cached mels of a prepared dataset."""

    def __init__(self, dataset: PreparedDataset, normalize: bool):
        cfg = dataset.feature_config
        self.dataset = dataset
        self.normalize = normalize
        if normalize and not (cfg.mel_mean and cfg.mel_std):
            raise ValueError(f"{dataset.root} has no mel statistics; prepare it again")
        self.mean = np.asarray(cfg.mel_mean, dtype=np.float32)[:, None] if normalize else None
        self.std = np.asarray(cfg.mel_std, dtype=np.float32)[:, None] if normalize else None
        n_mels = cfg.n_mels
        self.silence = self(np.full((n_mels, 1), silence_log_mel(cfg), dtype=np.float32))

    def __call__(self, mel: np.ndarray) -> np.ndarray:
        mel = np.asarray(mel, dtype=np.float32)
        return (mel - self.mean) / self.std if self.normalize else mel


def crop(
    audio: np.ndarray,
    mel: np.ndarray,
    start: int,
    spec: SegmentSpec,
    silence: float | np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Cut frames ``[start, start + S)`` (audio) and ``[start - c, start + S + c)`` (mel).

    Utterances shorter than the segment are padded at the end: audio with zeros, mel with
    ``silence`` (a scalar or ``[n_mels, 1]``: the log-mel of silence, normalised like ``mel``)
    before the context padding. ``audio`` is ``[T]``, ``mel`` ``[n_mels, F]``.
    """
    s, h = spec.segment_frames, spec.hop
    frames = mel.shape[1]
    if frames < s:
        audio = np.pad(audio, (0, s * h - audio.shape[0]))
        fill = np.broadcast_to(np.asarray(silence, dtype=np.float32), (mel.shape[0], s - frames))
        mel = np.concatenate([mel, fill], axis=1)
    a = np.array(audio[start * h : (start + s) * h], dtype=np.float32)  # a writable copy
    m = pad_context(np.asarray(mel, dtype=np.float32), spec.context)
    return a, np.ascontiguousarray(m[:, start : start + s + 2 * spec.context])


class SegmentDataset(Dataset):
    """Indexed by ``(utterance index, crop seed)``; the crop start is drawn from the seed."""

    def __init__(self, dataset: PreparedDataset, utts: list[Utterance], spec: SegmentSpec):
        self.dataset = dataset
        self.utts = utts
        self.spec = spec
        self.mels = _Mels(dataset, spec.normalize)

    def __len__(self) -> int:
        return len(self.utts)

    def __getitem__(self, key: tuple[int, int]) -> dict:
        index, crop_seed = key
        utt = self.utts[index]
        high = max(utt.frames - self.spec.segment_frames, 0)
        start = int(np.random.default_rng(crop_seed).integers(0, high + 1))
        audio = self.dataset.load_audio(utt, mmap=True)
        mel = self.mels(self.dataset.load_mel(utt, mmap=True))
        a, m = crop(audio, mel, start, self.spec, self.mels.silence)
        return {
            "audio": torch.from_numpy(np.array(a, dtype=np.float32)),
            "mel": torch.from_numpy(np.array(m, dtype=np.float32)),
            "id": utt.id,
            "start_frame": start,
        }


class UtteranceDataset(Dataset):
    """Whole utterances (``mel`` with ``context`` edge frames on each side), or fixed crops."""

    def __init__(
        self,
        dataset: PreparedDataset,
        utts: list[Utterance],
        context: int,
        normalize: bool,
        segment_frames: int | None = None,
        seed: int = 0,
    ):
        self.dataset = dataset
        self.utts = utts
        self.context = context
        self.mels = _Mels(dataset, normalize)
        self.segment_frames = segment_frames
        self.seed = seed
        self.hop = dataset.feature_config.hop_length

    def __len__(self) -> int:
        return len(self.utts)

    def __getitem__(self, index: int) -> dict:
        utt = self.utts[index]
        audio = self.dataset.load_audio(utt)
        mel = self.mels(self.dataset.load_mel(utt))
        start = 0
        if self.segment_frames is None:
            a, m = audio.astype(np.float32), pad_context(mel, self.context)
        else:
            high = max(utt.frames - self.segment_frames, 0)
            start = int(np.random.default_rng([self.seed, index]).integers(0, high + 1))
            spec = SegmentSpec(self.segment_frames, self.context, self.hop, False)
            a, m = crop(audio, mel, start, spec, self.mels.silence)
        return {
            "audio": torch.from_numpy(np.ascontiguousarray(a)),
            "mel": torch.from_numpy(np.ascontiguousarray(m)),
            "id": utt.id,
            "start_frame": start,
        }


class CropSampler(Sampler):
    """Yields ``(utterance index, crop seed)``; a fresh permutation per epoch.

    ``samples_per_epoch`` (default: one pass over the utterances) repeats permutations as
    needed. Epoch ``e`` uses ``torch.Generator().manual_seed(seed + e)``.
    """

    def __init__(self, num_utts: int, seed: int, samples_per_epoch: int | None = None):
        self.num_utts = num_utts
        self.seed = seed
        self.samples = samples_per_epoch or num_utts
        self.epoch = 0

    def __len__(self) -> int:
        return self.samples

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[tuple[int, int]]:
        gen = torch.Generator().manual_seed(self.seed + self.epoch)
        self.epoch += 1
        reps = -(-self.samples // self.num_utts)
        order = torch.cat([torch.randperm(self.num_utts, generator=gen) for _ in range(reps)])
        seeds = torch.randint(0, 2**62, (self.samples,), generator=gen)
        for i in range(self.samples):
            yield int(order[i]), int(seeds[i])
