#!/usr/bin/env python
"""AUC of ``pwave score``'s rankings as an anomaly detector, from its JSON output.

A file whose path contains one of the ``--anomalous`` strings (e.g. a folder name) is an
anomaly, every other scored file is typical. A higher score means less typical, so the AUC
is the probability that a random anomaly scores above a random typical file (ties count
one half): 1.0 is a perfect detector, 0.5 chance. It is reported for the raw teacher bits
and for the likelihood ratio (teacher minus background) when the JSON has one::

    pwave score --teacher teacher.pt --input mix/ --output scores.json
    python scripts/score_auc.py scores.json --anomalous nonspeech/

Prints one line per score; ``--json PATH`` also writes them. Exit code 2 when a class is
empty.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path


def auc(anomalous: Sequence[float], typical: Sequence[float]) -> float:
    """P(a > t) + P(a == t) / 2 over every pair (Mann-Whitney U / (n_a n_t))."""
    if not anomalous or not typical:
        raise ValueError("both classes need at least one file")
    wins = 0.0
    for a in anomalous:
        for t in typical:
            wins += 1.0 if a > t else 0.5 if a == t else 0.0
    return wins / (len(anomalous) * len(typical))


def aucs(doc: dict, patterns: Sequence[str]) -> dict[str, dict[str, float | int]]:
    """``{score: {"auc", "anomalous", "typical"}}`` for ``bits_per_sample`` and, when
    present, ``ratio_bits``; files without the score are left out."""
    out = {}
    for key in ("bits_per_sample", "ratio_bits"):
        pos, neg = [], []
        for rec in doc["files"]:
            value = rec.get(key)
            if value is None:
                continue
            (pos if any(p in rec["path"] for p in patterns) else neg).append(float(value))
        if not pos and not neg:
            continue
        out[key] = {"auc": auc(pos, neg), "anomalous": len(pos), "typical": len(neg)}
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scores", type=Path, help="the JSON written by pwave score --output")
    parser.add_argument(
        "--anomalous",
        action="append",
        required=True,
        metavar="TEXT",
        help="a file is an anomaly when its path contains TEXT (repeatable)",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the AUCs here")
    args = parser.parse_args(argv)
    try:
        result = aucs(json.loads(args.scores.read_text()), args.anomalous)
    except ValueError as err:
        print(f"score_auc: {err}", file=sys.stderr)
        return 2
    names = {"bits_per_sample": "raw teacher bits", "ratio_bits": "likelihood ratio"}
    for key, r in result.items():
        print(f"AUC {r['auc']:.3f}  {names[key]}  ({r['anomalous']} anomalous, "
              f"{r['typical']} typical)")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
