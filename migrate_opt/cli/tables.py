"""The plain-text tables the commands print (best solutions, listings)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def print_best(best: Sequence[Any]) -> None:
    """The best records, ranked, each solution on one short line."""
    rows = [(i + 1, f"{r.objective:.4f}", r.source, r.iteration, _short(r.solution) +
             (" (solved)" if r.solved else "")) for i, r in enumerate(best)]
    print_table(["rank", "score", "source", "iteration", "solution"], rows)


def _short(s: str, n: int = 70) -> str:
    s = " ".join(s.split())
    return s if len(s) <= n else s[: n - 3] + "..."


def print_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """``rows`` in left-aligned columns under ``header`` and a rule."""
    cells = [list(map(str, header))] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    for j, r in enumerate(cells):
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
        if j == 0:
            print("  ".join("-" * w for w in widths))
