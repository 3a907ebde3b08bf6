"""Audio I/O: round trips, formats, mix-down, resampling, notes, and clear errors."""

from __future__ import annotations

import os

import numpy as np
import pytest
import soundfile as sf
import torch

from pwave.audio import io
from pwave.audio.io import AudioReadError, load_audio, save_wav


def test_pcm16_round_trip_within_one_step(tmp_path, synth_audio):
    x = synth_audio(0.3)
    path = save_wav(tmp_path / "a.wav", x, 16000)
    assert sf.info(str(path)).subtype == "PCM_16"
    got = load_audio(path)
    assert got.audio.dtype == np.float32 and got.audio.shape == x.shape
    assert np.abs(got.audio - x).max() <= 1.0 / 32768 + 1e-7
    assert got.sample_rate == got.original_sample_rate == 16000
    assert got.original_channels == 1 and got.notes == []


def test_float_round_trip_is_exact_and_tensors_are_accepted(tmp_path, synth_audio):
    x = synth_audio(0.2, seed=3)
    save_wav(tmp_path / "f.wav", torch.from_numpy(x), 16000, subtype="FLOAT")
    np.testing.assert_array_equal(load_audio(tmp_path / "f.wav").audio, x)


@pytest.mark.parametrize(
    "ext,subtype",
    [(".flac", "PCM_16"), (".ogg", "VORBIS"), (".mp3", "MPEG_LAYER_III")],
)
def test_compressed_formats_load(tmp_path, synth_audio, ext, subtype):
    if ext not in io.audio_extensions():
        pytest.skip(f"this libsndfile cannot read {ext}")
    x = synth_audio(0.5, seed=1)
    save_wav(tmp_path / f"a{ext}", x, 16000, subtype=subtype)
    y = load_audio(tmp_path / f"a{ext}").audio
    assert y.dtype == np.float32 and np.abs(y).max() <= 1.0
    assert abs(len(y) - len(x)) < 3000  # codecs may add priming samples
    if ext == ".flac":  # lossless
        assert np.abs(y - x).max() <= 1.0 / 32768 + 1e-7


def test_mixdown_is_the_channel_mean_and_is_reported(tmp_path, synth_audio):
    a, b = synth_audio(0.2, seed=1), synth_audio(0.2, seed=2)
    save_wav(tmp_path / "st.wav", np.stack([a, b]), 16000, subtype="FLOAT")
    got = load_audio(tmp_path / "st.wav")
    np.testing.assert_allclose(got.audio, (a + b) / 2, atol=1e-7)
    assert got.original_channels == 2
    assert any(n.startswith("mixed down from 2 channels") for n in got.notes)
    multi = load_audio(tmp_path / "st.wav", mono=False)
    assert multi.audio.shape == (2, a.shape[0]) and multi.notes == []


def test_resampling_keeps_frequency_and_length_and_is_reported(tmp_path):
    sr_in, sr_out, f = 48000, 16000, 1000.0
    t = np.arange(sr_in) / sr_in
    save_wav(tmp_path / "s.wav", 0.5 * np.sin(2 * np.pi * f * t), sr_in, subtype="FLOAT")
    got = load_audio(tmp_path / "s.wav", sample_rate=sr_out)
    assert got.sample_rate == sr_out and got.original_sample_rate == sr_in
    assert got.audio.shape == (sr_out,)
    spectrum = np.abs(np.fft.rfft(got.audio))
    assert np.argmax(spectrum) * sr_out / len(got.audio) == pytest.approx(f, abs=1.0)
    assert got.notes == [f"resampled from {sr_in} Hz to {sr_out} Hz"]


def test_quality_notes(tmp_path, synth_audio):
    x = synth_audio(0.3)
    save_wav(tmp_path / "u8.wav", x, 16000, subtype="PCM_U8")
    assert any("8-bit" in n for n in load_audio(tmp_path / "u8.wav").notes)
    save_wav(tmp_path / "clip.wav", np.clip(5 * x, -1, 1), 16000)
    got = load_audio(tmp_path / "clip.wav")
    assert got.clipped_samples > 0 and any(n.startswith("clipping") for n in got.notes)
    save_wav(tmp_path / "loud.wav", 3.0 * x, 16000, subtype="FLOAT")
    got = load_audio(tmp_path / "loud.wav")
    assert got.peak == pytest.approx(3 * np.abs(x).max(), rel=1e-6)
    assert np.abs(got.audio).max() <= 1.0 and any(n.startswith("peak") for n in got.notes)
    np.testing.assert_allclose(got.audio, x / np.abs(x).max(), atol=1e-6)  # scaled, not clipped


def test_large_dc_offset_is_noted_and_kept(tmp_path, synth_audio):
    rng = np.random.default_rng(0)
    x = (0.8 + 0.02 * rng.standard_normal(16000)).astype(np.float32)  # mean +0.8, std 0.02
    save_wav(tmp_path / "dc.wav", x, 16000, subtype="FLOAT")
    got = load_audio(tmp_path / "dc.wav", sample_rate=16000)
    assert got.dc_offset == pytest.approx(float(x.mean()), abs=1e-6)
    dc_notes = [n for n in got.notes if n.startswith("DC offset")]
    assert len(dc_notes) == 1 and "+0.800" in dc_notes[0] and "kept as is" in dc_notes[0]
    np.testing.assert_array_equal(got.audio, x)  # kept as is, not removed
    # Negative offsets, and a channel of a multi-channel file (said before the mix-down).
    pair = np.stack([synth_audio(0.5), synth_audio(0.5, seed=1) - 0.05])
    save_wav(tmp_path / "st.wav", pair, 16000, subtype="FLOAT")
    got = load_audio(tmp_path / "st.wav")
    assert got.dc_offset == pytest.approx(float(pair[1].mean()), abs=1e-6)
    assert any(n.startswith("DC offset: channel 2 mean -0.05") for n in got.notes), got.notes
    assert len(got.notes) == 2 and got.notes[1].startswith("mixed down from 2 channels")


def test_speech_and_small_offsets_get_no_dc_note(tmp_path, synth_audio):
    speech = synth_audio(1.0)
    small = speech + np.float32(0.5 * io.DC_OFFSET_LEVEL)
    # Worst case for a real sound: a full-scale 100 Hz tone stopped half-way through a period
    # (0.245 s): mean 1 / (pi * 100 * 0.245) = 0.013, still below the threshold.
    t = np.arange(int(0.245 * 16000)) / 16000
    low = 0.99 * np.sin(2 * np.pi * 100 * t)
    for name, x in (("speech", speech), ("small", small), ("low", low)):
        got = load_audio(save_wav(tmp_path / f"{name}.wav", x, 16000, subtype="FLOAT"))
        assert abs(got.dc_offset) < io.DC_OFFSET_LEVEL, name
        assert not any(n.startswith("DC offset") for n in got.notes), (name, got.notes)
    assert abs(float(low.mean())) > 0.01  # the tone really does average away from 0


def test_save_wav_clips_instead_of_wrapping(tmp_path):
    x = np.array([0.0, 1.7, -1.7, 0.5], dtype=np.float32)
    y = load_audio(save_wav(tmp_path / "c.wav", x, 8000)).audio
    assert y[1] > 0.99 and y[2] < -0.99 and y[3] == pytest.approx(0.5, abs=1e-4)


def _expect(path, kind, match):
    with pytest.raises(AudioReadError, match=match) as err:
        load_audio(path)
    assert err.value.kind == kind and err.value.path == str(path)


def test_bad_files_raise_audio_read_error_with_reason(tmp_path, synth_audio):
    (tmp_path / "empty.wav").write_bytes(b"")
    _expect(tmp_path / "empty.wav", "empty", "empty file")
    good = save_wav(tmp_path / "good.wav", synth_audio(0.2), 16000)
    (tmp_path / "trunc.wav").write_bytes(good.read_bytes()[:20])
    _expect(tmp_path / "trunc.wav", "unreadable", "not a readable audio file")
    (tmp_path / "text.flac").write_text("not audio at all")
    _expect(tmp_path / "text.flac", "unreadable", "not a readable audio file")
    x = synth_audio(0.2)
    x[5] = np.nan
    sf.write(tmp_path / "nan.wav", x, 16000, subtype="FLOAT")
    _expect(tmp_path / "nan.wav", "nonfinite", "1 NaN/inf")
    _expect(tmp_path / "missing.wav", "missing", "not found")
    (tmp_path / "dir.wav").mkdir()
    _expect(tmp_path / "dir.wav", "unreadable", "directory")


def test_permission_error_is_reported(tmp_path, synth_audio, monkeypatch):
    path = save_wav(tmp_path / "locked.wav", synth_audio(0.2), 16000)
    os.chmod(path, 0)
    if os.access(path, os.R_OK):  # running as root: simulate the refusal

        def refuse(p):
            raise PermissionError(13, "Permission denied", p)

        monkeypatch.setattr(io, "_open_binary", refuse)
    _expect(path, "permission", "permission denied")
