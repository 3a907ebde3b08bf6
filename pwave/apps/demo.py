"""pwave demo: the whole pipeline on the built-in demo corpus, on a CPU, in one command.

Stages (all outputs under --output, default ``runs/demo``):

1. prepare the procedural demo corpus (``data/``),
2. train the demo teacher by maximum likelihood (``teacher/``, budget --teacher-minutes),
3. distil the demo student from it (``student/``, budget --student-minutes),
4. copy-synthesise the eval split with the student (all of it) and with the teacher
   (sequential, so only --teacher-utterances of it) (``synth/``),
5. evaluate both against the references (``eval/``),
6. time the samplers side by side (``bench/``): naive and cached teacher vs parallel student.

It ends with the evaluation summary and the speed table. ``--config-name debug`` runs the
same pipeline with the tiny debug configs in about a minute (what the tests use).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from pwave.configs import config_path  # noqa: E402,F401


def _max_time(minutes: float) -> str:
    total = max(1, round(minutes * 60))
    return f"00:{total // 3600:02d}:{total % 3600 // 60:02d}:{total % 60:02d}"


def _banner(text: str) -> None:
    print(f"\n=== pwave demo: {text}", flush=True)


def run_demo(args: argparse.Namespace) -> int:
    """Run the whole demo pipeline with the options of ``pwave demo`` (see the module doc)."""
    from pwave.audio.features import load_feature_config
    from pwave.data.prepare import prepare_corpus
    from pwave.evaluation.evaluate import evaluate_folders, format_summary, summarize
    from pwave.train.cli import run_stage

    out: Path = args.output
    out.mkdir(parents=True, exist_ok=True)
    teacher_yaml = config_path("teacher", args.config_name)
    student_yaml = config_path("student", args.config_name)
    started = time.perf_counter()
    timings: dict[str, float] = {}

    def timed(name: str, fn, *a, **kw):
        t0 = time.perf_counter()
        result = fn(*a, **kw)
        timings[name] = time.perf_counter() - t0
        return result

    _banner("1/6 prepare the demo corpus")
    dataset = timed(
        "prepare",
        prepare_corpus,
        None,
        out / "data",
        layout="demo",
        feature_config=load_feature_config(teacher_yaml),
        seed=args.seed,
        demo_utterances=args.utterances,
        demo_seconds=args.seconds,
    )
    print(dataset.summary())

    common = ["--data.data_dir", str(out / "data"), "--seed_everything", str(args.seed)]
    _banner(f"2/6 train the teacher (budget {args.teacher_minutes:g} min)")
    timed(
        "train teacher",
        run_stage,
        "teacher",
        ["--config", str(teacher_yaml), *common]
        + ["--trainer.default_root_dir", str(out / "teacher")]
        + ["--trainer.max_time", _max_time(args.teacher_minutes)],
    )
    teacher_pt = out / "teacher" / "teacher.pt"
    _banner(f"3/6 distil the student (budget {args.student_minutes:g} min)")
    timed(
        "train student",
        run_stage,
        "student",
        ["--config", str(student_yaml), "--teacher", str(teacher_pt), *common]
        + ["--trainer.default_root_dir", str(out / "student")]
        + ["--trainer.max_time", _max_time(args.student_minutes)],
    )
    student_pt = out / "student" / "student.pt"

    _banner("4/6 copy-synthesise the eval split")
    from pwave.data.dataset import PreparedDataset
    from pwave.inference.synthesis import Vocoder, synthesize_paths

    data = PreparedDataset(out / "data")
    reference = data.export_wavs("eval", out / "synth" / "reference")
    teacher_reference = data.export_wavs(
        "eval", out / "synth" / "reference_teacher", limit=args.teacher_utterances
    )
    reports = {}
    for kind, ckpt, src in (
        ("student", student_pt, reference),
        ("teacher", teacher_pt, teacher_reference),
    ):
        vocoder = Vocoder.from_checkpoint(ckpt, device="auto", dtype="auto")
        reports[kind] = timed(
            f"synthesize ({kind})",
            synthesize_paths,
            vocoder,
            src,
            out / "synth" / kind,
            seed=args.seed,
            checkpoint=str(ckpt),
        )

    _banner("5/6 evaluate against the references")
    from pwave.models.teacher import Teacher

    teacher = Teacher.load(teacher_pt).eval()
    summaries = {}
    for kind, ref in (("student", teacher_reference), ("teacher", teacher_reference)):
        # Both on the same utterances, so the two rows compare like with like.
        rows, problems = evaluate_folders(out / "synth" / kind, ref, teacher=teacher)
        keys = tuple(k for k in rows[0] if k != "utterance") if rows else ()
        summaries[kind] = summarize(rows, keys)
        print(f"\n{kind}:\n" + format_summary(summaries[kind], len(rows)))
    rows, _ = evaluate_folders(out / "synth" / "student", reference, teacher=teacher)
    keys = tuple(k for k in rows[0] if k != "utterance")
    summaries["student_all_eval"] = summarize(rows, keys)
    print(
        "\nstudent, whole eval split:\n" + format_summary(summaries["student_all_eval"], len(rows))
    )

    bench_report = None
    if not args.skip_bench:
        _banner("6/6 speed: sequential teacher vs parallel student")
        from pwave.apps.bench import BenchSettings, format_table, run_benchmark, write_outputs

        settings = BenchSettings(
            teacher=str(teacher_pt),
            student=str(student_pt),
            seconds=1.0,
            teacher_seconds=0.25,
            naive_seconds=0.01,
            repeats=3,
            device="cpu",
        )
        bench_report = timed("bench", run_benchmark, settings, command="pwave demo")
        print(format_table(bench_report))
        write_outputs(bench_report, out / "bench")

    timings["total"] = time.perf_counter() - started
    result = {
        "evaluation": summaries,
        "synthesis": {
            k: {kk: v for kk, v in r.items() if kk != "files"} for k, r in reports.items()
        },
        "timings_seconds": timings,
    }
    (out / "demo_summary.json").write_text(json.dumps(result, indent=2, default=str))
    _banner(f"done in {timings['total'] / 60:.1f} min; everything is in {out}")
    for name, seconds in timings.items():
        print(f"  {name:<22}{seconds:8.1f} s")
    return 0
