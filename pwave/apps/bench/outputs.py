"""The files of a run: ``bench.json``, ``bench.png`` and ``bench.md``."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from pwave.apps.bench.plot import plot_report
from pwave.apps.bench.report import format_markdown


def _json_safe(x: Any) -> Any:
    """``x`` with every non-finite float replaced by ``None`` (JSON has no NaN)."""
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _json_safe(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_json_safe(v) for v in x]
    return x


def write_outputs(report: dict[str, Any], output: str | os.PathLike) -> tuple[Path, Path]:
    """Write ``bench.json``, ``bench.png`` and ``bench.md`` into ``output``; returns the
    JSON and PNG paths."""
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    json_path, png_path = out / "bench.json", out / "bench.png"
    json_path.write_text(json.dumps(_json_safe(report), indent=2))
    plot_report(report, png_path)
    (out / "bench.md").write_text(format_markdown(report))
    return json_path, png_path
