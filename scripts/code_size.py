"""Largest files and functions of the package: lines per file and per function.

    python scripts/code_size.py [--max-file 400] [--max-function 80]

Prints the offenders (and the largest of each) and exits with 1 when a limit is passed.
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path


def function_lengths(path: Path) -> list[tuple[int, str]]:
    """``(lines, "file:line name")`` of every function and method in ``path``."""
    tree = ast.parse(path.read_text())
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            out.append((node.end_lineno - node.lineno + 1, f"{path}:{node.lineno} {node.name}"))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", nargs="?", default="pwave")
    parser.add_argument("--max-file", type=int, default=400)
    parser.add_argument("--max-function", type=int, default=80)
    args = parser.parse_args(argv)
    files = sorted(Path(args.root).rglob("*.py"))
    sizes = sorted((len(p.read_text().splitlines()), str(p)) for p in files)
    funcs = sorted(f for p in files for f in function_lengths(p))
    bad_files = [s for s in sizes if s[0] > args.max_file]
    bad_funcs = [f for f in funcs if f[0] > args.max_function]
    for n, name in bad_files:
        print(f"file over {args.max_file} lines: {name} ({n})")
    for n, name in bad_funcs:
        print(f"function over {args.max_function} lines: {name} ({n})")
    print(f"largest file: {sizes[-1][1]} ({sizes[-1][0]} lines); "
          f"largest function: {funcs[-1][1]} ({funcs[-1][0]} lines)")
    return 1 if bad_files or bad_funcs else 0


if __name__ == "__main__":
    sys.exit(main())
