"""Layout readers on miniature corpus trees: ids, speakers, splits, detection, errors."""

from __future__ import annotations

from collections import Counter

import pytest

from pwave.data.layouts import (
    LayoutError,
    detect_layout,
    holdout_count,
    ljspeech_holdout,
    scan_layout,
)


def _splits(scan):
    return {e.id: e.split for e in scan.entries}


def _check_common(scan):
    ids = [e.id for e in scan.entries]
    assert len(ids) == len(set(ids)), "ids must be unique"
    assert all(e.path.exists() for e in scan.entries)
    assert {e.split for e in scan.entries} <= {"train", "dev", "eval"}


def test_folder_with_speaker_level(corpus_tree):
    root = corpus_tree("folder", speakers=2, per_speaker=5)
    (root / "notes.txt").write_text("not audio")
    (root / ".hidden.wav").write_bytes(b"junk")
    scan = scan_layout("folder", root, speaker_level=True)
    _check_common(scan)
    assert len(scan.entries) == 10
    assert {e.speaker for e in scan.entries} == {"spk0", "spk1"}
    assert Counter(e.split for e in scan.entries) == {"train": 8, "dev": 1, "eval": 1}
    assert any("without an audio extension" in n for n in scan.notes)
    assert any("hidden" in n for n in scan.notes)
    flat = scan_layout("folder", root)
    assert {e.speaker for e in flat.entries} == {"default"}


def test_folder_named_like_audio_is_an_entry_so_that_it_gets_reported(corpus_tree):
    root = corpus_tree("folder", speakers=1, per_speaker=3, seconds=0.05, speaker_level=False)
    (root / "empty_dir.wav").mkdir()
    (root / "album.flac").mkdir()
    (root / "album.flac" / "track.wav").write_bytes((root / "utt_0000.wav").read_bytes())
    scan = scan_layout("folder", root)
    _check_common(scan)
    paths = {e.path for e in scan.entries}
    assert {root / "empty_dir.wav", root / "album.flac"} <= paths  # the loader says why not
    assert root / "album.flac" / "track.wav" in paths  # and what is inside is still found
    assert len(scan.entries) == 6


def test_folder_split_is_deterministic_and_seeded(corpus_tree):
    root = corpus_tree("folder", speakers=1, per_speaker=40, seconds=0.05, speaker_level=False)
    a = _splits(scan_layout("folder", root, seed=0))
    assert a == _splits(scan_layout("folder", root, seed=0))
    b = _splits(scan_layout("folder", root, seed=1))
    assert a != b and Counter(a.values()) == Counter(b.values()) == {
        "train": 36,
        "dev": 2,
        "eval": 2,
    }


def test_folder_ids_are_unique_across_extensions(corpus_tree):
    root = corpus_tree("folder", speakers=1, per_speaker=2, seconds=0.05, speaker_level=False)
    corpus_tree("folder", speakers=1, per_speaker=1, seconds=0.05, speaker_level=False)
    (root / "utt_0000.flac").write_bytes((root / "utt_0000.wav").read_bytes())
    scan = scan_layout("folder", root)
    _check_common(scan)
    assert sorted(e.id for e in scan.entries) == ["utt_0000", "utt_0000_2", "utt_0001"]


def test_ljspeech_tail_split_and_missing_files(corpus_tree):
    root = corpus_tree("ljspeech", n=10, seconds=0.05)
    (root / "wavs" / "LJ001-0002.wav").unlink()  # listed in metadata.csv, now missing
    (root / "wavs" / "LJ099-0001.wav").write_bytes((root / "wavs" / "LJ001-0001.wav").read_bytes())
    scan = scan_layout("ljspeech", root)
    _check_common(scan)
    assert len(scan.entries) == 9 and {e.speaker for e in scan.entries} == {"LJ"}
    assert scan.missing == [
        (str(root / "wavs" / "LJ001-0002.wav"), "listed in metadata.csv but missing")
    ]
    assert any("not in metadata.csv" in n for n in scan.notes)
    ordered = sorted(scan.entries, key=lambda e: e.id)
    assert [e.split for e in ordered[-2:]] == ["dev", "eval"]
    assert all(e.split == "train" for e in ordered[:-2])
    # The full corpus (13,100 files) gets the usual 250 + 250.
    assert ljspeech_holdout(13100) == 250 and ljspeech_holdout(2) == 0


@pytest.mark.parametrize("version", ["0.92", "0.80"])
def test_vctk_per_speaker_split(corpus_tree, version):
    root = corpus_tree("vctk", per_speaker=6, version=version, seconds=0.05)
    scan = scan_layout("vctk", root)
    _check_common(scan)
    assert len(scan.entries) == 12  # one mic only for 0.92
    assert {e.speaker for e in scan.entries} == {"p225", "p226"}
    assert all("mic" not in e.id for e in scan.entries)
    if version == "0.92":
        assert all(e.path.stem.endswith("_mic1") for e in scan.entries)
        assert any("mic2" in n or "other mics" in n for n in scan.notes)
    for spk in ("p225", "p226"):
        mine = sorted((e for e in scan.entries if e.speaker == spk), key=lambda e: e.id)
        assert [e.split for e in mine] == ["train"] * 4 + ["dev", "eval"]


def test_libritts_official_subsets(corpus_tree):
    root = corpus_tree("libritts", seconds=0.05)
    scan = scan_layout("libritts", root)
    _check_common(scan)
    for e in scan.entries:
        subset = e.path.relative_to(root).parts[0]
        assert e.split == {"train": "train", "dev": "dev", "test": "eval"}[subset.split("-")[0]]
        assert e.speaker == e.path.parent.parent.name
    assert Counter(e.split for e in scan.entries) == {"train": 6, "dev": 6, "eval": 6}


def test_libritts_train_only_is_carved_per_speaker(corpus_tree):
    root = corpus_tree("libritts", subsets=("train-clean-100",), per_speaker=5, seconds=0.05)
    for where in (root, root / "train-clean-100"):  # corpus folder or the subset itself
        scan = scan_layout("libritts", where)
        _check_common(scan)
        assert Counter(e.split for e in scan.entries) == {"train": 6, "dev": 2, "eval": 2}
        assert any("no dev-*/test-* subset" in n for n in scan.notes)


def test_arctic_voices(corpus_tree):
    root = corpus_tree("arctic", per_speaker=5, seconds=0.05)
    scan = scan_layout("arctic", root)
    _check_common(scan)
    assert {e.speaker for e in scan.entries} == {"bdl", "slt"}
    assert "bdl_arctic_a0001" in {e.id for e in scan.entries}
    assert Counter(e.split for e in scan.entries) == {"train": 6, "dev": 2, "eval": 2}
    one = scan_layout("arctic", root / "cmu_us_slt_arctic")
    assert len(one.entries) == 5 and {e.speaker for e in one.entries} == {"slt"}


def test_detect_layout(corpus_tree):
    assert detect_layout(corpus_tree("ljspeech", n=3, seconds=0.05)) == "ljspeech"
    assert detect_layout(corpus_tree("vctk", per_speaker=1, seconds=0.05)) == "vctk"
    assert detect_layout(corpus_tree("libritts", per_speaker=1, seconds=0.05)) == "libritts"
    assert detect_layout(corpus_tree("arctic", per_speaker=1, seconds=0.05)) == "arctic"
    assert detect_layout(corpus_tree("folder", per_speaker=1, seconds=0.05)) == "folder"
    root = corpus_tree("vctk", per_speaker=1, seconds=0.05)
    assert len(scan_layout("auto", root).entries) == 2


def test_wrong_or_missing_folder_says_what_was_expected(tmp_path, corpus_tree):
    with pytest.raises(LayoutError, match="does not exist"):
        scan_layout("folder", tmp_path / "nope")
    plain = corpus_tree("folder", per_speaker=1, seconds=0.05)
    with pytest.raises(LayoutError, match="expected .*wavs"):
        scan_layout("ljspeech", plain)
    with pytest.raises(LayoutError, match="not a VCTK folder"):
        scan_layout("vctk", tmp_path)
    with pytest.raises(LayoutError, match="not a LibriTTS folder"):
        scan_layout("libritts", plain)
    with pytest.raises(LayoutError, match="not a CMU Arctic folder"):
        scan_layout("arctic", plain)
    with pytest.raises(LayoutError, match="unknown layout"):
        scan_layout("timit", plain)


def test_holdout_count_bounds():
    assert holdout_count(2, 0.05) == 0
    assert holdout_count(3, 0.05) == 1
    assert holdout_count(100, 0.05) == 5
    assert holdout_count(100, 0.5) == 49  # always leaves train utterances
    assert holdout_count(100, 0.0) == 0
