"""Grids as text for prompts (colour names) and as HTML for reports."""

from __future__ import annotations

import html
from collections.abc import Sequence

from .sandbox import Grid

COLOUR_NAMES = ("Black", "Blue", "Red", "Green", "Yellow", "Gray", "Pink", "Orange",
                "Purple", "Brown")
"""ARC's colours 0-9, named as in the induction prompts of the paper."""
COLOUR_HEX = ("#000000", "#0074D9", "#FF4136", "#2ECC40", "#FFDC00", "#AAAAAA", "#F012BE",
              "#FF851B", "#7FDBFF", "#870C25")
"""The usual ARC palette (the official viewer's colours)."""


def grid_text(grid: Grid) -> str:
    """Rows of colour names separated by spaces, one row per line."""
    return "\n".join(" ".join(COLOUR_NAMES[c] for c in row) for row in grid)


def colour_legend() -> str:
    return ", ".join(f"{i} = {name}" for i, name in enumerate(COLOUR_NAMES))


def grid_html(grid: Grid | None, cell: int = 12, title: str = "") -> str:
    """A self-contained picture of ``grid`` as an inline SVG (None: a crossed box)."""
    label = f"<title>{html.escape(title)}</title>" if title else ""
    if grid is None:
        return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{cell * 3}" '
                f'height="{cell * 3}" role="img">{label}<rect width="100%" height="100%" '
                'fill="#fff" stroke="#c00"/><path d="M0 0L36 36M36 0L0 36" stroke="#c00"/>'
                "</svg>")
    rows, cols = len(grid), len(grid[0])
    rects = "".join(
        f'<rect x="{x * cell}" y="{y * cell}" width="{cell}" height="{cell}" '
        f'fill="{COLOUR_HEX[c]}"/>'
        for y, row in enumerate(grid) for x, c in enumerate(row)
    )
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{cols * cell}" '
            f'height="{rows * cell}" viewBox="0 0 {cols * cell} {rows * cell}" role="img" '
            f'style="border:1px solid #888;background:#555" shape-rendering="crispEdges">'
            f"{label}{rects}</svg>")


def grids_table(rows: Sequence[tuple[str, Sequence[tuple[str, Grid | None]]]],
                cell: int = 12) -> str:
    """An HTML table: one row per example, each cell a captioned grid picture."""
    body = []
    for name, grids in rows:
        cells = "".join(
            f'<td style="padding:4px;vertical-align:top"><div style="font:11px sans-serif">'
            f"{html.escape(caption)}</div>{grid_html(g, cell, caption)}</td>"
            for caption, g in grids
        )
        body.append(f'<tr><th style="font:12px sans-serif;text-align:left">'
                    f"{html.escape(name)}</th>{cells}</tr>")
    return f'<table class="arc-grids">{"".join(body)}</table>'
