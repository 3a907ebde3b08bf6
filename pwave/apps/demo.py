"""pwave demo: the whole pipeline on the built-in demo corpus, on a CPU, in one command.

Stages (all outputs under --output, default ``runs/demo``; see :class:`DemoPaths`):

1. prepare the procedural demo corpus (``data/``),
2. train the demo teacher by maximum likelihood (``teacher/``, the config's ``max_steps`` or
   --teacher-steps),
3. distil the demo student from it (``student/``, ``max_steps`` or --student-steps),
4. copy-synthesise the eval split with the student (all of it) and with the teacher
   (sequential, so only --teacher-utterances of it) (``synth/``),
5. evaluate both against the references (``eval/``),
6. time the samplers side by side (``bench/``): naive and cached teacher vs parallel student,
7. write the listening report (``report/index.html``): per utterance the recording, the
   teacher's and the student's copies and a Griffin-Lim reference, with players,
   spectrograms and metrics (:mod:`pwave.evaluation.report_build`).

Budgets are optimizer steps, so the same command gives the same models on any machine (a
busy one only takes longer); --teacher-minutes / --student-minutes add an optional
wall-clock cap, and a stage stopped before its steps says so loudly. It ends with the
evaluation summary and the speed table (``demo_summary.json``, with the steps reached).
``--config-name debug`` runs the same pipeline with the tiny debug configs in about a minute.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pwave.configs import config_path
from pwave.models.teacher import Teacher

T = TypeVar("T")


@dataclass(frozen=True)
class DemoPaths:
    """Where each stage reads and writes, under the output folder ``out``."""

    out: Path

    @property
    def data(self) -> Path:
        return self.out / "data"

    @property
    def teacher_pt(self) -> Path:
        return self.out / "teacher" / "teacher.pt"

    @property
    def student_pt(self) -> Path:
        return self.out / "student" / "student.pt"

    @property
    def reference(self) -> Path:
        """The whole eval split as wavs (what the student copy-synthesises)."""
        return self.out / "synth" / "reference"

    @property
    def teacher_reference(self) -> Path:
        """The first --teacher-utterances of the eval split (what the teacher synthesises)."""
        return self.out / "synth" / "reference_teacher"

    def synthesized(self, kind: str) -> Path:
        """The copy-synthesised wavs of ``kind`` (``student`` or ``teacher``)."""
        return self.out / "synth" / kind

    @property
    def eval(self) -> Path:
        return self.out / "eval"

    @property
    def bench(self) -> Path:
        return self.out / "bench"

    @property
    def report(self) -> Path:
        """The listening report: ``index.html`` with its audio and images."""
        return self.out / "report"


@dataclass
class StageTimer:
    """Wall-clock seconds of each timed step, by name, in the order they ran."""

    seconds: dict[str, float] = field(default_factory=dict)

    def __call__(self, name: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)``, timed as ``name``."""
        start = time.perf_counter()
        result = fn(*args, **kwargs)
        self.seconds[name] = time.perf_counter() - start
        return result


def _max_time(minutes: float) -> str:
    """A Lightning ``max_time`` ``DD:HH:MM:SS`` of ``minutes`` (at least one second)."""
    total = max(1, round(minutes * 60))
    return f"00:{total // 3600:02d}:{total % 3600 // 60:02d}:{total % 60:02d}"


def _banner(text: str) -> None:
    print(f"\n=== pwave demo: {text}", flush=True)


def prepare_stage(paths: DemoPaths, args: argparse.Namespace, timer: StageTimer) -> None:
    """Stage 1: the procedural demo corpus, prepared with the teacher config's features."""
    from pwave.audio.features import load_feature_config
    from pwave.data.prepare import prepare_corpus

    _banner("1/7 prepare the demo corpus")
    dataset = timer(
        "prepare",
        prepare_corpus,
        None,
        paths.data,
        layout="demo",
        feature_config=load_feature_config(config_path("teacher", args.config_name)),
        seed=args.seed,
        demo_utterances=args.utterances,
        demo_seconds=args.seconds,
    )
    print(dataset.summary())


#: Measured wall time of ``pwave demo`` (default config) on a quiet 2-core CPU, in minutes.
EXPECTED_MINUTES = {"demo": 17}


def planned_steps(stage: str, args: argparse.Namespace) -> int | None:
    """The stage's step budget: --teacher-steps / --student-steps, else the config's."""
    from pwave.configs import load_config

    override = getattr(args, f"{stage}_steps", None)
    if override is not None:
        return int(override)
    steps = load_config(stage, args.config_name).get("trainer", {}).get("max_steps")
    return None if steps in (None, -1) else int(steps)


def train_stage(
    stage: str, paths: DemoPaths, args: argparse.Namespace, timer: StageTimer
) -> dict[str, Any]:
    """Stage 2 (``teacher``) or 3 (``student``, distilled from the stage-2 teacher): train
    with the stage's config for its step budget; returns the steps planned and reached."""
    from pwave.train.cli import run_stage

    steps = planned_steps(stage, args)
    minutes = getattr(args, f"{stage}_minutes", None)
    title = "2/7 train the teacher" if stage == "teacher" else "3/7 distil the student"
    cap = f", wall-clock cap {minutes:g} min" if minutes else ""
    _banner(f"{title} ({steps} optimizer steps{cap})")
    argv = ["--config", str(config_path(stage, args.config_name))]
    if stage == "student":
        argv += ["--teacher", str(paths.teacher_pt)]
    argv += ["--data.data_dir", str(paths.data), "--seed_everything", str(args.seed)]
    argv += ["--trainer.default_root_dir", str(paths.out / stage)]
    if steps is not None:
        argv += ["--trainer.max_steps", str(steps)]
    if minutes:
        argv += ["--trainer.max_time", _max_time(minutes)]
    cli = timer(f"train {stage}", run_stage, stage, argv)
    reached = int(cli.trainer.global_step)
    if steps is not None and reached < steps:
        print(
            f"\n!!! pwave demo: the {stage} STOPPED EARLY at step {reached} of {steps} "
            f"({'wall-clock cap' if minutes else 'interrupted'}); its numbers are not those "
            "of the full run and will differ from machine to machine !!!\n",
            flush=True,
        )
    return {"planned": steps, "reached": reached, "complete": steps is None or reached >= steps}


def synthesize_stage(
    paths: DemoPaths, args: argparse.Namespace, timer: StageTimer
) -> dict[str, dict[str, Any]]:
    """Stage 4: export the references, copy-synthesise them with the student (all) and the
    teacher (the first --teacher-utterances); returns each synthesis report."""
    from pwave.data.dataset import PreparedDataset
    from pwave.inference import Vocoder, synthesize_paths

    _banner("4/7 copy-synthesise the eval split")
    data = PreparedDataset(paths.data)
    data.export_wavs("eval", paths.reference)
    data.export_wavs("eval", paths.teacher_reference, limit=args.teacher_utterances)
    reports = {}
    for kind, ckpt, src in (
        ("student", paths.student_pt, paths.reference),
        ("teacher", paths.teacher_pt, paths.teacher_reference),
    ):
        vocoder = Vocoder.from_checkpoint(ckpt, device="auto", dtype="auto")
        reports[kind] = timer(
            f"synthesize ({kind})",
            synthesize_paths,
            vocoder,
            src,
            paths.synthesized(kind),
            seed=args.seed,
            checkpoint=str(ckpt),
        )
    return reports


def _teacher_bits(teacher: Teacher) -> Callable[[Any], float]:
    """``audio [T] -> the teacher's NLL in bits per 16-bit sample`` (on the CPU)."""
    from pwave.inference.scoring import score_audio
    from pwave.inference.vocoder import Vocoder

    vocoder = Vocoder(teacher, device="cpu", dtype="float32")

    def teacher_bits(audio: Any) -> float:
        return score_audio(vocoder, audio)[1]

    return teacher_bits


def evaluate_stage(paths: DemoPaths, teacher: Teacher) -> dict[str, dict[str, Any]]:
    """Stage 5: score the student and the teacher on the teacher's utterances (like with
    like), and the student on the whole eval split, with the teacher's NLL in bits per
    sample. Writes ``eval/<name>.csv`` (one line per utterance), ``eval/summary.json`` and
    ``eval/summary.csv`` (mean, std, count of each metric); prints each summary and returns
    them by name (``student``, ``teacher``, ``student_all_eval``)."""
    from pwave.evaluation.evaluate import (
        evaluate_folders,
        format_summary,
        metric_keys,
        summarize,
        write_rows_csv,
        write_summary_csv,
    )

    _banner("5/7 evaluate against the references")
    teacher_bits = _teacher_bits(teacher)
    runs = {  # name: (generated, reference, title)
        "student": (paths.synthesized("student"), paths.teacher_reference, "student"),
        "teacher": (paths.synthesized("teacher"), paths.teacher_reference, "teacher"),
        "student_all_eval": (
            paths.synthesized("student"),
            paths.reference,
            "student, whole eval split",
        ),
    }
    summaries = {}
    for name, (generated, reference, title) in runs.items():
        rows, _ = evaluate_folders(
            generated, reference, feature_config=teacher.features, teacher_bits=teacher_bits
        )
        summaries[name] = summarize(rows, metric_keys(rows))
        write_rows_csv(rows, paths.eval / f"{name}.csv")
        print(f"\n{title}:\n" + format_summary(summaries[name], len(rows)))
    (paths.eval / "summary.json").write_text(json.dumps(summaries, indent=2))
    write_summary_csv(summaries, paths.eval / "summary.csv")
    return summaries


def bench_stage(paths: DemoPaths, timer: StageTimer) -> dict[str, Any]:
    """Stage 6: the trained models' samplers timed side by side on the CPU (``bench/``)."""
    from pwave.apps.bench import BenchSettings, format_table, run_benchmark, write_outputs

    _banner("6/7 speed: sequential teacher vs parallel student")
    settings = BenchSettings(
        teacher=str(paths.teacher_pt),
        student=str(paths.student_pt),
        seconds=1.0,
        teacher_seconds=0.25,
        naive_seconds=0.01,
        repeats=3,
        device="cpu",
    )
    report = timer("bench", run_benchmark, settings, command="pwave demo")
    print(format_table(report))
    write_outputs(report, paths.bench)
    return report


def report_stage(paths: DemoPaths, teacher: Teacher, utterances: int = 8) -> Path:
    """Stage 7: the listening report ``report/index.html`` from what stages 4 and 5 wrote:
    for at most ``utterances`` utterances of the eval split (those the teacher synthesised
    first), the recording, the teacher's and the student's copies and a Griffin-Lim copy
    made from the recording's mel, each with a player, a spectrogram and its metrics;
    the summary of ``eval/summary.json``, the synthesis speeds, the runs' steps and configs.
    Returns the page's path."""
    from pwave.evaluation.report_build import (
        ReportSources,
        build_listening_report,
        read_rows_csv,
    )

    _banner("7/7 listening report")
    rows = {}  # the student's rows cover the whole eval split, the teacher's its part
    for kind, name in (("student", "student_all_eval"), ("teacher", "teacher")):
        if (paths.eval / f"{name}.csv").is_file():
            rows[kind] = read_rows_csv(paths.eval / f"{name}.csv")
    sources = ReportSources(
        reference=paths.reference,
        generated={
            k: paths.synthesized(k) for k in ("teacher", "student") if paths.synthesized(k).is_dir()
        },
        rows=rows,
        summaries=json.loads((paths.eval / "summary.json").read_text()),
        feature_config=teacher.features,
        checkpoints={
            k: p
            for k, p in (("teacher", paths.teacher_pt), ("student", paths.student_pt))
            if p.is_file()
        },
        teacher_bits=_teacher_bits(teacher),
        utterances=utterances,
        title="pwave demo: listening report",
    )
    index = build_listening_report(paths.report, sources)
    print(f"open {index} in a browser (it plays from the file system, nothing is fetched)")
    return index


def write_summary(
    paths: DemoPaths,
    summaries: dict[str, Any],
    reports: dict[str, dict[str, Any]],
    timings: dict[str, float],
    steps: dict[str, dict[str, Any]] | None = None,
) -> Path:
    """``demo_summary.json``: the steps trained, the evaluation summaries, the synthesis
    reports (without their file lists) and the timings; returns its path."""
    result = {
        "steps": steps or {},
        "evaluation": summaries,
        "synthesis": {
            k: {kk: v for kk, v in r.items() if kk != "files"} for k, r in reports.items()
        },
        "timings_seconds": timings,
    }
    path = paths.out / "demo_summary.json"
    path.write_text(json.dumps(result, indent=2, default=str))
    return path


def run_demo(args: argparse.Namespace) -> int:
    """Run the whole demo pipeline with the options of ``pwave demo`` (see the module doc)."""
    paths = DemoPaths(Path(args.output))
    paths.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    timer = StageTimer()
    expected = EXPECTED_MINUTES.get(args.config_name)
    if expected:
        print(f"pwave demo: about {expected} minutes on a quiet 2-core CPU (longer on a busy "
              "one; the step budgets, and so the results, stay the same)", flush=True)
    prepare_stage(paths, args, timer)
    steps = {stage: train_stage(stage, paths, args, timer) for stage in ("teacher", "student")}
    reports = synthesize_stage(paths, args, timer)
    teacher = Teacher.load(paths.teacher_pt).eval()
    summaries = evaluate_stage(paths, teacher)
    if not args.skip_bench:
        bench_stage(paths, timer)
    timer("report", report_stage, paths, teacher)
    timer.seconds["total"] = time.perf_counter() - started
    write_summary(paths, summaries, reports, timer.seconds, steps)
    _banner(f"done in {timer.seconds['total'] / 60:.1f} min; everything is in {paths.out}")
    for stage, info in steps.items():
        mark = "" if info["complete"] else "   <-- STOPPED EARLY"
        print(f"  {stage} steps: {info['reached']} of {info['planned']}{mark}")
    for name, seconds in timer.seconds.items():
        print(f"  {name:<22}{seconds:8.1f} s")
    return 0
