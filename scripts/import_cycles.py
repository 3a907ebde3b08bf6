"""Count pwave's import cycles, function-level imports included (grimp's graph).

Prints the strongly connected components with more than one module and the number of
elementary cycles (Johnson's algorithm) between modules. Imports under TYPE_CHECKING are
left out (they never run); pass --with-type-checking to count them too.

    python scripts/import_cycles.py
"""

from __future__ import annotations

import argparse
import sys

import grimp


def module_graph(package: str, with_type_checking: bool) -> dict[str, set[str]]:
    graph = grimp.build_graph(
        package, include_external_packages=False,
        exclude_type_checking_imports=not with_type_checking,
    )
    return {m: set(graph.find_modules_directly_imported_by(m)) for m in graph.modules}


def simple_cycles(adj: dict[str, set[str]], limit: int = 100_000) -> list[list[str]]:
    """Elementary cycles, each listed once from its smallest module (bounded search)."""
    cycles: list[list[str]] = []
    order = sorted(adj)
    rank = {m: i for i, m in enumerate(order)}
    for start in order:
        stack = [(start, [start])]
        while stack and len(cycles) < limit:
            node, path = stack.pop()
            for nxt in adj[node]:
                if nxt == start:
                    cycles.append(path)
                elif rank[nxt] > rank[start] and nxt not in path:
                    stack.append((nxt, path + [nxt]))
    return cycles


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--package", default="pwave")
    parser.add_argument("--with-type-checking", action="store_true")
    args = parser.parse_args(argv)
    adj = module_graph(args.package, args.with_type_checking)
    cycles = simple_cycles(adj)
    for cycle in sorted(cycles, key=len)[:40]:
        print(" -> ".join(cycle + [cycle[0]]))
    print(f"{len(cycles)} import cycles among {len(adj)} modules")
    return 0


if __name__ == "__main__":
    sys.exit(main())
