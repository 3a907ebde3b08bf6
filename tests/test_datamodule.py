"""VocoderDataModule: shapes, exact audio/mel alignment, determinism, eval loaders."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pwave.audio.config import FeatureMismatchError
from pwave.audio.mel import pad_context
from pwave.train.datamodule import VocoderDataModule


def _normalized(dm, mel):
    cfg = dm.feature_config
    return (mel - np.asarray(cfg.mel_mean, np.float32)[:, None]) / np.asarray(
        cfg.mel_std, np.float32
    )[:, None]


def _batches(dm, n=2):
    it = iter(dm.train_dataloader())
    return [next(it) for _ in range(n)]


def test_train_batches_are_aligned_segments(prepared_demo):
    seg, ctx = 12, 2
    dm = VocoderDataModule(prepared_demo, segment_frames=seg, mel_context_frames=ctx, batch_size=4)
    hop, n_mels = dm.hop_length, dm.feature_config.n_mels
    by_id = {u.id: u for u in dm.dataset.utterances}
    for batch in _batches(dm):
        assert batch["audio"].shape == (4, seg * hop) and batch["audio"].dtype == torch.float32
        assert batch["mel"].shape == (4, n_mels, seg + 2 * ctx)
        for i, utt_id in enumerate(batch["id"]):
            utt = by_id[utt_id]
            assert utt.split == "train"
            s = int(batch["start_frame"][i])
            full_audio = dm.dataset.load_audio(utt)
            full_mel = _normalized(dm, dm.dataset.load_mel(utt))
            np.testing.assert_array_equal(
                batch["audio"][i].numpy(), full_audio[s * hop : (s + seg) * hop]
            )
            # The centre frames are exactly the segment's frames ...
            np.testing.assert_allclose(
                batch["mel"][i, :, ctx : ctx + seg].numpy(), full_mel[:, s : s + seg], atol=1e-6
            )
            # ... and the context frames are the neighbours, edge-replicated at the ends.
            padded = pad_context(full_mel, ctx)
            np.testing.assert_allclose(
                batch["mel"][i].numpy(), padded[:, s : s + seg + 2 * ctx], atol=1e-6
            )


def test_determinism_seed_epochs_and_workers(prepared_demo):
    def first(seed, workers=0):
        dm = VocoderDataModule(
            prepared_demo, segment_frames=8, batch_size=3, seed=seed, num_workers=workers
        )
        return _batches(dm, 2)

    a, b, c = first(0), first(0), first(1)
    for x, y in zip(a, b):
        assert (
            x["id"] == y["id"]
            and torch.equal(x["audio"], y["audio"])
            and torch.equal(x["mel"], y["mel"])
        )
    assert not all(torch.equal(x["audio"], y["audio"]) for x, y in zip(a, c))
    w = first(0, workers=2)  # crops do not depend on the number of workers
    for x, y in zip(a, w):
        assert x["id"] == y["id"] and torch.equal(x["audio"], y["audio"])
    dm = VocoderDataModule(prepared_demo, segment_frames=8, batch_size=3, seed=0)
    loader = dm.train_dataloader()
    e0, e1 = next(iter(loader)), next(iter(loader))  # a new epoch draws new crops
    assert e0["id"] != e1["id"] or not torch.equal(e0["audio"], e1["audio"])


def test_short_utterances_are_padded_with_silence(prepared_demo):
    dm = VocoderDataModule(prepared_demo, segment_frames=400, mel_context_frames=1, batch_size=2)
    batch = next(iter(dm.train_dataloader()))
    utt = next(u for u in dm.dataset.utterances if u.id == batch["id"][0])
    assert utt.frames < 400 and int(batch["start_frame"][0]) == 0
    hop = dm.hop_length
    audio = batch["audio"][0].numpy()
    np.testing.assert_array_equal(audio[: utt.num_samples], dm.dataset.load_audio(utt))
    assert not audio[utt.num_samples :].any()
    silence = _normalized(
        dm, np.full((dm.feature_config.n_mels, 1), np.log(dm.feature_config.log_floor), np.float32)
    )
    tail = batch["mel"][0, :, 1 + utt.frames :].numpy()
    np.testing.assert_allclose(tail, np.broadcast_to(silence, tail.shape), atol=1e-5)
    assert batch["audio"].shape[1] == 400 * hop


def test_eval_loaders(prepared_demo):
    dm = VocoderDataModule(prepared_demo, segment_frames=8, mel_context_frames=3)
    dev = list(dm.val_dataloader())
    assert len(dev) == len(dm.dataset.split("dev")) > 0
    for batch in dev:
        utt = next(u for u in dm.dataset.utterances if u.id == batch["id"][0])
        assert batch["audio"].shape == (1, utt.frames * dm.hop_length)
        assert batch["mel"].shape == (1, dm.feature_config.n_mels, utt.frames + 6)
    assert len(list(dm.test_dataloader())) == len(dm.dataset.split("eval"))
    fixed = VocoderDataModule(
        prepared_demo, segment_frames=8, eval_segment_frames=10, eval_batch_size=2
    )
    a = [b["audio"] for b in fixed.val_dataloader()]
    b = [b["audio"] for b in fixed.val_dataloader()]
    assert all(torch.equal(x, y) for x, y in zip(a, b)) and a[0].shape[-1] == 10 * fixed.hop_length


def test_feature_config_checks_and_unnormalized(prepared_demo):
    dm = VocoderDataModule(prepared_demo, normalize_mel=False, segment_frames=8)
    dm.check_feature_config(dm.feature_config)
    with pytest.raises(FeatureMismatchError, match="hop_length"):
        dm.check_feature_config(dm.feature_config.replace(hop_length=128))
    batch = next(iter(dm.train_dataloader()))
    utt = next(u for u in dm.dataset.utterances if u.id == batch["id"][0])
    s = int(batch["start_frame"][0])
    np.testing.assert_array_equal(
        batch["mel"][0, :, 2:10].numpy(), dm.dataset.load_mel(utt)[:, s : s + 8]
    )
    with pytest.raises(ValueError, match="segment_frames"):
        VocoderDataModule(prepared_demo, segment_frames=0)


def test_runs_under_a_lightning_trainer(prepared_demo, tmp_path):
    import lightning as L

    class Tiny(L.LightningModule):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(1, 1)
            self.seen = []

        def training_step(self, batch, _):
            self.seen.append(tuple(batch["id"]))
            return (self.lin(batch["audio"][:, :1]) ** 2).mean() + 0 * batch["mel"].sum()

        def validation_step(self, batch, _):
            assert batch["audio"].shape[0] == 1

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.01)

    dm = VocoderDataModule(prepared_demo, segment_frames=8, batch_size=2, samples_per_epoch=4)
    model = Tiny()
    trainer = L.Trainer(
        max_epochs=2,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
    )
    trainer.fit(model, datamodule=dm)
    assert len(model.seen) == 4 and model.seen[:2] != model.seen[2:]  # epochs differ
