"""The Lightning data module over a prepared dataset (datasets and samplers in
:mod:`pwave.data.segments`, where the alignment contract is stated)."""

from __future__ import annotations

import os

import torch
from lightning import LightningDataModule
from torch.utils.data import DataLoader

from pwave.audio.config import FeatureConfig
from pwave.data.dataset import PreparedDataset
from pwave.data.segments import CropSampler, SegmentDataset, SegmentSpec, UtteranceDataset


class VocoderDataModule(LightningDataModule):
    """Lightning data module over a prepared dataset (see the module docstring for shapes).

    Args:
        data_dir: a folder written by :func:`pwave.data.prepare.prepare_corpus`.
        segment_frames: mel frames per training segment (audio: ``segment_frames * hop``).
        mel_context_frames: extra mel frames on each side of the segment.
        batch_size: training batch size.
        num_workers: DataLoader worker processes.
        seed: seeds the training crops and order.
        normalize_mel: normalise mels with the dataset statistics.
        samples_per_epoch: training segments per epoch (default: one per train utterance).
        eval_segment_frames: ``None`` makes dev/eval loaders yield whole utterances with
            batch size 1; a number makes them yield fixed, seeded crops of that many frames.
        eval_batch_size: batch size of dev/eval loaders when ``eval_segment_frames`` is set.
    """

    def __init__(
        self,
        data_dir: str | os.PathLike,
        segment_frames: int = 32,
        mel_context_frames: int = 2,
        batch_size: int = 8,
        num_workers: int = 0,
        seed: int = 0,
        normalize_mel: bool = True,
        samples_per_epoch: int | None = None,
        eval_segment_frames: int | None = None,
        eval_batch_size: int = 8,
    ):
        super().__init__()
        if segment_frames <= 0 or mel_context_frames < 0:
            raise ValueError("segment_frames must be > 0 and mel_context_frames >= 0")
        self.save_hyperparameters()
        self.data_dir = str(data_dir)
        self.segment_frames = segment_frames
        self.mel_context_frames = mel_context_frames
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.seed = seed
        self.normalize_mel = normalize_mel
        self.samples_per_epoch = samples_per_epoch
        self.eval_segment_frames = eval_segment_frames
        self.eval_batch_size = eval_batch_size
        self.dataset = PreparedDataset(data_dir)
        self._sampler: CropSampler | None = None

    @property
    def feature_config(self) -> FeatureConfig:
        """The dataset's feature config (with its normalisation statistics)."""
        return self.dataset.feature_config

    @property
    def hop_length(self) -> int:
        return self.feature_config.hop_length

    @property
    def segment_samples(self) -> int:
        return self.segment_frames * self.hop_length

    def check_feature_config(self, config: FeatureConfig, what: str = "model") -> None:
        """Raise a :class:`~pwave.audio.config.FeatureMismatchError` naming differing fields."""
        self.dataset.check_feature_config(config, what)

    def _loader_kwargs(self) -> dict:
        return dict(
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            pin_memory=torch.cuda.is_available(),
        )

    def train_dataloader(self) -> DataLoader:
        utts = self.dataset.split("train")
        if not utts:
            raise ValueError(f"{self.data_dir} has no train utterances")
        spec = SegmentSpec(
            self.segment_frames, self.mel_context_frames, self.hop_length, self.normalize_mel
        )
        self._sampler = CropSampler(len(utts), self.seed, self.samples_per_epoch)
        if self.trainer is not None:
            self._sampler.set_epoch(self.trainer.current_epoch)
        return DataLoader(
            SegmentDataset(self.dataset, utts, spec),
            batch_size=self.batch_size,
            sampler=self._sampler,
            drop_last=len(self._sampler) >= self.batch_size,
            **self._loader_kwargs(),
        )

    def _eval_loader(self, split: str) -> DataLoader:
        ds = UtteranceDataset(
            self.dataset,
            self.dataset.split(split),
            self.mel_context_frames,
            self.normalize_mel,
            self.eval_segment_frames,
            self.seed,
        )
        batch = 1 if self.eval_segment_frames is None else self.eval_batch_size
        return DataLoader(ds, batch_size=batch, shuffle=False, **self._loader_kwargs())

    def val_dataloader(self) -> DataLoader:
        """The dev split."""
        return self._eval_loader("dev")

    def test_dataloader(self) -> DataLoader:
        """The eval split."""
        return self._eval_loader("eval")
