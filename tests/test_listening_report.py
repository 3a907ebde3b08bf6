"""The listening report (``pwave evaluate --html``, the demo's last stage): a self-contained
folder whose page plays every version of each utterance next to its spectrogram.

Built from synthetic tones (0.5 s at 16 kHz, no training). The fast tests parse the page;
the browser test drives headless Chromium through Selenium and skips, saying what is
missing, where Chromium, its driver or Selenium are not installed (``.ci/run`` installs
them)."""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pytest
import soundfile as sf
import torch
from helpers.models import tiny_teacher_config
from helpers.synthetic import tone_burst

from pwave.apps import demo
from pwave.audio.config import FeatureConfig
from pwave.audio.io import save_wav
from pwave.audio.mel import MelSpectrogram
from pwave.evaluation.evaluate import evaluate_folders, metric_keys, summarize
from pwave.evaluation.report_build import (
    ReportSources,
    build_listening_report,
    read_rows_csv,
    run_info,
)
from pwave.evaluation.report_media import colour_range, griffin_lim, pick_utterances
from pwave.models.teacher import Teacher
from pwave.serialization import atomic_save

RATE = 16000
SECONDS = 0.5
#: An awkward name: spaces and characters HTML and URLs must escape.
ODD = "spk 1 <&> 'x'"
NAMES = ["utt_a", "utt_b", ODD]
FEATURES = FeatureConfig(
    sample_rate=RATE, n_fft=256, hop_length=64, win_length=256, n_mels=20, fmax=8000.0
)


def _write_sources(root: Path) -> ReportSources:
    """Recordings of three tones; the student's noisy copies of all, the teacher's of the
    first; their metric rows and summaries; a student run folder with a config and a
    checkpoint at step 42; a synthesis report with the student's speed."""
    rng = np.random.default_rng(0)
    for i, name in enumerate(NAMES):
        ref = tone_burst(SECONDS, RATE, seed=i)
        save_wav(root / "reference" / f"{name}.wav", ref, RATE)
        save_wav(
            root / "student" / f"{name}.wav", ref + 0.02 * rng.standard_normal(ref.shape), RATE
        )
        if i == 0:
            noisier = ref + 0.05 * rng.standard_normal(ref.shape)
            save_wav(root / "teacher" / f"{name}.wav", noisier, RATE)
    rows, summaries = {}, {}
    for kind in ("student", "teacher"):
        rows[kind], _ = evaluate_folders(root / kind, root / "reference", feature_config=FEATURES)
        summaries[kind] = summarize(rows[kind], metric_keys(rows[kind]))
    run = root / "run"
    run.mkdir()
    (run / "config.yaml").write_text("trainer:\n  max_steps: 42  # <not html>\n")
    atomic_save({"global_step": 42, "epoch": 1}, run / "checkpoints" / "last.ckpt")
    total = {"audio_seconds": 1.5, "rtf": 0.05, "x_real_time": 20.0}
    report = {"kind": "student", "checkpoint": str(run / "student.pt"), "device": "cpu"}
    report.update(dtype="float32", total=total)
    (root / "student" / "report.json").write_text(json.dumps(report))
    return ReportSources(
        reference=root / "reference",
        generated={"teacher": root / "teacher", "student": root / "student"},
        rows=rows,
        summaries=summaries,
        feature_config=FEATURES,
        checkpoints={"student": run / "student.pt"},
        teacher_bits=lambda audio: 8.0 + float(np.abs(audio).mean()),
        utterances=len(NAMES),
        title="test <report>",
    )


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """``(folder, sources)`` of a report of the three tones."""
    root = tmp_path_factory.mktemp("listening")
    sources = _write_sources(root)
    index = build_listening_report(root / "report", sources)
    assert index == root / "report" / "index.html"
    return index.parent, sources


class _Page(HTMLParser):
    """Every tag with its attributes, and the text of the page."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, {k: v or "" for k, v in attrs}))

    def handle_data(self, data):
        self.text.append(data)


def _parse(folder: Path) -> tuple[_Page, str]:
    source = (folder / "index.html").read_text(encoding="utf-8")
    page = _Page()
    page.feed(source)
    page.close()
    return page, source


def test_page_is_self_contained(report):
    folder, _ = report
    page, source = _parse(folder)
    links = [a.get("src") or a.get("href") for t, a in page.tags if t in ("audio", "img", "a")]
    assert links and all(links)
    for link in links:
        assert "://" not in link and not link.startswith("/"), link
        assert (folder / unquote(link)).is_file(), link
    assert "http://" not in source and "https://" not in source
    assert not any(t in ("script", "link", "iframe", "object") for t, _ in page.tags)
    assert (folder / "summary.json").is_file()
    assert "<report>" not in source and "test &lt;report&gt;" in source  # escaped


def test_every_utterance_shows_each_version_it_has(report):
    folder, _ = report
    page, _ = _parse(folder)
    audio = [unquote(a["src"]) for t, a in page.tags if t == "audio"]
    expected = {
        f"audio/{k}/{n}.wav" for n in NAMES for k in ("reference", "student", "griffin_lim")
    }
    expected.add(f"audio/teacher/{NAMES[0]}.wav")
    assert set(audio) == expected
    images = [unquote(a["src"]) for t, a in page.tags if t == "img"]
    assert set(images) == {p.replace("audio/", "img/").replace(".wav", ".png") for p in expected}
    for path in images:
        assert (folder / path).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the recording first, the models, then the non-neural reference
    kinds = [a["data-kind"] for t, a in page.tags if t == "div" and "data-kind" in a]
    rows = " ".join(kinds).replace(" reference", "\nreference").splitlines()
    assert sorted(rows) == [
        "reference student griffin_lim",
        "reference student griffin_lim",
        "reference teacher student griffin_lim",
    ]
    text = "".join(page.text)
    for label in ("STOI", "PESQ", "MCD", "log-mel distance", "teacher bits/sample"):
        assert label in text
    assert "42 optimizer steps" in text and "max_steps: 42  # <not html>" in text
    assert "x real time" in text and "20.00" in text  # the student's speed from report.json


def test_summary_table_matches_summary_json(report):
    folder, sources = report
    page, _ = _parse(folder)
    on_disk = json.loads((folder / "summary.json").read_text())
    assert on_disk == json.loads(json.dumps(sources.summaries))
    cells = [a for t, a in page.tags if t == "td" and "data-evaluation" in a]
    assert len(cells) == sum(len(s) for s in on_disk.values())
    for cell in cells:
        s = on_disk[cell["data-evaluation"]][cell["data-metric"]]
        assert float(cell["data-mean"]) == s["mean"] or math.isnan(s["mean"])
        assert float(cell["data-std"]) == s["std"] or math.isnan(s["std"])
        assert int(cell["data-count"]) == s["count"]


def test_griffin_lim_reference_rows_are_scored(report):
    folder, _ = report
    page, _ = _parse(folder)
    gl_cells = [t for t, a in page.tags if t == "td" and a.get("data-metric") == "stoi"]
    assert len(gl_cells) >= 2 * len(NAMES)  # student and Griffin-Lim of each utterance
    for name in NAMES:
        info = sf.info(str(folder / "audio" / "griffin_lim" / f"{name}.wav"))
        assert info.samplerate == RATE
        assert info.frames == (int(SECONDS * RATE) // FEATURES.hop_length) * FEATURES.hop_length


def test_griffin_lim_is_aligned_reproducible_and_close():
    x = tone_burst(1.0, RATE, seed=3).astype(np.float64)
    mel = MelSpectrogram(FEATURES)
    target = mel(torch.from_numpy(x))
    y = griffin_lim(target.numpy(), FEATURES)
    assert y.shape == (target.shape[-1] * FEATURES.hop_length,) and y.dtype == np.float32
    assert np.array_equal(y, griffin_lim(target.numpy(), FEATURES))  # seeded phase
    assert np.abs(y).max() <= 1.0

    def mel_error(shift: int) -> float:
        got = mel(torch.from_numpy(np.roll(y.astype(np.float64), shift)))
        return float((got - target)[:, 4:-4].abs().mean())

    # frame k covers samples [k*hop, (k+1)*hop): no shift matches better than none
    hop = FEATURES.hop_length
    assert mel_error(0) < min(mel_error(-hop // 2), mel_error(hop // 2))
    noise = np.random.default_rng(0).standard_normal(len(y)) * 0.1
    assert mel_error(0) < float((mel(torch.from_numpy(noise)) - target).abs().mean())


def test_pick_utterances_is_deterministic_and_prefers_complete_utterances():
    versions = {f"u{i:02d}": 2 for i in range(10)} | {"u03": 3, "u07": 3}
    assert pick_utterances(versions, 4) == ["u00", "u03", "u05", "u07"]
    assert pick_utterances(versions, 4) == pick_utterances(dict(reversed(versions.items())), 4)
    assert pick_utterances(versions, 100) == sorted(versions)
    assert pick_utterances(versions, 0) == []


def test_colour_range_is_shared_and_bounded():
    images = [np.array([[-100.0, -10.0]]), np.array([[-30.0, 5.0]])]
    assert colour_range(images) == (-75.0, 5.0)
    assert colour_range([np.array([[-20.0, 0.0]])]) == (-20.0, 0.0)


def test_run_info_and_rows_csv(tmp_path):
    assert run_info(tmp_path / "missing" / "teacher.pt") == {
        "checkpoint": str(tmp_path / "missing" / "teacher.pt"),
        "steps": None,
        "config": None,
    }
    (tmp_path / "rows.csv").write_text("utterance,pesq,stoi\na,1.5,0.9\nb,2.0,\n")
    assert read_rows_csv(tmp_path / "rows.csv") == [
        {"utterance": "a", "pesq": 1.5, "stoi": 0.9},
        {"utterance": "b", "pesq": 2.0},
    ]


def test_pwave_evaluate_html_writes_a_sampled_report(report, tmp_path):
    """``pwave evaluate --html DIR --html-utterances 2``: two utterances, the student
    named by the report.json of its folder, its steps from its run folder."""
    from pwave import cli

    root = report[0].parent
    argv = ["evaluate", "--generated", str(root / "student"), "--reference"]
    argv += [str(root / "reference"), "--output", str(tmp_path / "eval")]
    argv += ["--html", str(tmp_path / "html"), "--html-utterances", "2"]
    assert cli.main(argv) == 0
    page, _ = _parse(tmp_path / "html")
    sections = [a["id"] for t, a in page.tags if t == "section"]
    assert len(sections) == 2
    summary = json.loads((tmp_path / "html" / "summary.json").read_text())
    assert list(summary) == ["student"]  # the kind in student/report.json
    on_disk = json.loads((tmp_path / "eval" / "summary.json").read_text())["summary"]
    assert summary["student"] == on_disk
    assert "42 optimizer steps" in "".join(page.text)


def test_demo_report_stage_writes_the_page(tmp_path):
    """Stages 5 and 7 of the demo on tiny synthesised folders: the report shows the
    recording, both models where they exist and Griffin-Lim, with the eval summary."""
    paths = demo.DemoPaths(tmp_path / "demo")
    rng = np.random.default_rng(1)
    for i, stem in enumerate(["eval_000", "eval_001"]):
        ref = tone_burst(SECONDS, RATE, seed=i)
        save_wav(paths.reference / f"{stem}.wav", ref, RATE)
        save_wav(
            paths.synthesized("student") / f"{stem}.wav",
            ref + 0.02 * rng.standard_normal(ref.shape),
            RATE,
        )
        if i == 0:
            save_wav(paths.teacher_reference / f"{stem}.wav", ref, RATE)
            save_wav(paths.synthesized("teacher") / f"{stem}.wav", ref, RATE)
    torch.manual_seed(0)
    teacher = Teacher(tiny_teacher_config()).eval()
    demo.evaluate_stage(paths, teacher)
    index = demo.report_stage(paths, teacher)
    assert index == paths.report / "index.html"
    assert json.loads((paths.report / "summary.json").read_text()) == json.loads(
        (paths.eval / "summary.json").read_text()
    )
    wavs = sorted(p.relative_to(paths.report).as_posix() for p in paths.report.rglob("*.wav"))
    assert wavs == [
        "audio/griffin_lim/eval_000.wav",
        "audio/griffin_lim/eval_001.wav",
        "audio/reference/eval_000.wav",
        "audio/reference/eval_001.wav",
        "audio/student/eval_000.wav",
        "audio/student/eval_001.wav",
        "audio/teacher/eval_000.wav",
    ]
    page, _ = _parse(paths.report)
    text = "".join(page.text)
    assert "teacher bits/sample" in text and "Griffin-Lim" in text


# --- the page in a real browser ------------------------------------------------------------

CHROMIUM_HELP = "install Debian's chromium and chromium-driver (as .ci/run does) and selenium"


def _chromium():
    """A headless Chromium driven by Selenium, or a skip saying what is missing."""
    try:
        from selenium import webdriver
        from selenium.common.exceptions import WebDriverException
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.skip(f"selenium is not installed: {CHROMIUM_HELP}")
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if browser is None or driver is None:
        pytest.skip(f"no chromium or chromedriver on PATH: {CHROMIUM_HELP}")
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1400,1800",
        "--mute-audio",
    ):
        options.add_argument(flag)
    try:
        return webdriver.Chrome(service=Service(executable_path=driver), options=options)
    except WebDriverException as err:
        pytest.skip(
            f"headless chromium did not start ({str(err).splitlines()[0]}): {CHROMIUM_HELP}"
        )


def _wait_for(driver, script: str, polls: int = 600) -> None:
    """Poll ``script`` (a JS expression) until it is true; fail after ``polls`` polls."""
    for _ in range(polls):
        if driver.execute_script(f"return {script};"):
            return
        time.sleep(0.05)
    raise AssertionError(f"the page never satisfied: {script}")


@pytest.mark.timeout(300)
def test_page_in_headless_chromium(report):
    folder, _ = report
    driver = _chromium()
    try:
        driver.get((folder / "index.html").resolve().as_uri())
        _wait_for(driver, "Array.from(document.images).every(i => i.complete)")
        _wait_for(
            driver,
            "Array.from(document.querySelectorAll('audio'))"
            ".every(a => a.readyState >= 1 || a.error !== null)",
        )
        audio = driver.execute_script(
            "return Array.from(document.querySelectorAll('audio')).map(a => "
            "[a.getAttribute('src'), a.duration, a.error ? a.error.code : null]);"
        )
        assert len(audio) == 3 * len(NAMES) + 1
        for src, duration, error in audio:
            assert error is None, (src, error)
            info = sf.info(str(folder / unquote(src)))
            assert duration == pytest.approx(info.frames / info.samplerate, abs=1e-3), src
        images = driver.execute_script(
            "return Array.from(document.images).map(i => [i.getAttribute('src'), i.naturalWidth]);"
        )
        assert len(images) == len(audio) and all(width > 0 for _, width in images), images
        cells = driver.execute_script(
            "return Array.from(document.querySelectorAll('#summary td[data-metric]')).map(c => "
            "[c.dataset.evaluation, c.dataset.metric, c.innerText]);"
        )
        summary = json.loads((folder / "summary.json").read_text())
        assert len(cells) == sum(len(s) for s in summary.values())
        for evaluation, metric, text in cells:
            s = summary[evaluation][metric]
            mean, rest = text.split(" ± ")
            if math.isfinite(s["mean"]):
                assert float(mean) == pytest.approx(s["mean"], abs=6e-4), (evaluation, metric)
            assert rest.endswith(f"({s['count']})")
        height = driver.execute_script("return document.documentElement.scrollHeight;")
        driver.set_window_size(1400, min(int(height) + 100, 8000))  # the whole page
        shot = Path(os.environ.get("PWAVE_SCREENSHOT_DIR", folder)) / "listening_report.png"
        driver.save_screenshot(str(shot))
        assert shot.read_bytes()[:4] == b"\x89PNG"
    finally:
        driver.quit()
