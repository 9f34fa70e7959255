"""The ARC reward: 1 - normalised Hamming distance to the expected grid, per pair."""

from __future__ import annotations

from .sandbox import Grid


def pair_score(output: Grid | None, target: Grid) -> float:
    """1 - normalised Hamming distance (docs/method.md): 0 for no output and for an output with
    more cells than the target; otherwise the cells of the overlapping top-left rectangle
    that match, over the target's cell count (missing cells count as wrong)."""
    if output is None:
        return 0.0
    rows, cols = len(target), len(target[0])
    out_rows, out_cols = len(output), len(output[0])
    if out_rows * out_cols > rows * cols:
        return 0.0
    matches = sum(
        output[y][x] == target[y][x]
        for y in range(min(rows, out_rows))
        for x in range(min(cols, out_cols))
    )
    return matches / (rows * cols)
