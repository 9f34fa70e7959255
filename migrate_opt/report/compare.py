"""Studies side by side (``migrate-opt compare A.db B.db:STUDY ...``): their best-so-far
curves overlaid on one self-contained HTML page, and one row per study (method,
evaluations spent of the budget, best, solved, AUC, wall time) on the page and in the
terminal. A study that stopped short of its budget without solving is flagged, so it is not
ranked as if it had spent the same. Only stored data is read, as in the report."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

from ..errors import ConfigError
from ..loop import RUNS_KEY
from ..metrics import evaluations_to_solve, top_k_auc
from ..storage import open_database, studies_in
from ..values import with_direction
from . import story, svg
from .html import CSS, best_so_far, malformed, method_line, task_line
from .output import GENERATOR, write_page


@dataclass(frozen=True)
class StudyRow:
    """What one study measured, for a row of the comparison."""

    label: str
    task: str
    method: str
    evaluations: int
    budget: int | None
    best: float | None
    best_solution: str | None
    solved_at: int | None
    top1_auc: float
    top10_auc: float
    seconds: float | None
    stopped: str | None
    short: bool
    """Stopped with budget left, for another reason than solving: not a fair rank."""
    curve: tuple[svg.Point, ...]

    @property
    def spent(self) -> str:
        return f"{self.evaluations}" + (f" of {self.budget}" if self.budget else "")

    @property
    def flag(self) -> str:
        if not self.short:
            return ""
        why = self.stopped or "no stop recorded"
        return f"stopped short ({why})"

    def cells(self) -> list[str]:
        """The row as text: study, method, evaluations, best, solved, AUCs, wall time, flag."""
        return [self.label, self.method, self.spent,
                "-" if self.best is None else f"{self.best:.4f}",
                f"at {self.solved_at}" if self.solved_at else "no",
                f"{self.top1_auc:.4f}", f"{self.top10_auc:.4f}",
                "-" if self.seconds is None else story.duration(self.seconds), self.flag]


HEADER = ["study", "method", "evaluations", "best", "solved", "top-1 AUC", "top-10 AUC",
          "wall time", "flag"]


def selected(specs: Sequence[str]) -> list[tuple[str, str]]:
    """``(storage, study)`` for each ``FILE`` (every study in it) or ``FILE:STUDY``."""
    out: list[tuple[str, str]] = []
    for spec in specs:
        if os.path.exists(spec):
            out += [(spec, s) for s in studies_in(spec)]
            continue
        path, sep, study = spec.rpartition(":")
        if not sep or not os.path.exists(path):
            raise ConfigError(f"no such storage file: {spec} (give FILE or FILE:STUDY)")
        if study not in studies_in(path):
            raise ConfigError(f"no study {study!r} in {path}; studies: "
                              f"{', '.join(studies_in(path)) or 'none'}")
        out.append((path, study))
    if not out:
        raise ConfigError("nothing to compare: the files hold no study")
    return list(dict.fromkeys(out))


def study_rows(specs: Sequence[str]) -> list[StudyRow]:
    picked = selected(specs)
    paths = list(dict.fromkeys(path for path, _ in picked))
    names = {p: os.path.basename(p) for p in paths}
    if len(set(names.values())) < len(paths):  # same file name in two folders
        names = {p: p for p in paths}
    rows = []
    for path, study in picked:
        with open_database(path, study, readonly=True) as db, malformed(path, study):
            label = f"{names[path]}:{study}" if len(paths) > 1 else study
            rows.append(measure(label, db.settings(), db.records()))
    return rows


def measure(label: str, settings: Mapping[str, Any], records: Sequence[Any]) -> StudyRow:
    # Best and curve as the user's objective; the AUCs rank the stored higher-is-better
    # scores, so that a higher AUC is the better run in either direction.
    records = with_direction(records, settings.get("direction", "maximize"))
    scores = [r.score for r in records]
    budget = settings.get("budget") if isinstance(settings.get("budget"), int) else None
    runs = [r for r in settings.get(RUNS_KEY) or [] if isinstance(r, Mapping)]
    stopped = runs[-1].get("stopped") if runs else None
    seconds = sum(float((r.get("seconds") or {}).get("total") or 0.0) for r in runs)
    best_record = max((r for r in records if r.score is not None), key=lambda r: r.score or 0.0,
                      default=None)
    horizon = budget or max(len(records), 1)
    return StudyRow(
        label=label, task=task_line(settings), method=method_line(settings),
        evaluations=len(records), budget=budget,
        best=None if best_record is None else best_record.objective,
        best_solution=None if best_record is None else best_record.solution,
        solved_at=evaluations_to_solve(records),
        top1_auc=top_k_auc(scores, 1, horizon), top10_auc=top_k_auc(scores, 10, horizon),
        seconds=seconds if runs else None, stopped=stopped,
        short=story.short_of_budget(len(records), budget, stopped),
        curve=tuple(best_so_far(records)))


def render_compare(rows: Sequence[StudyRow]) -> str:
    """The comparison page as one HTML string."""
    chart = svg.line_chart({r.label: list(r.curve) for r in rows}, step=True, legend=False,
                           dashed={r.label for r in rows if r.short},
                           title="Best score so far", xlabel="evaluations", ylabel="score",
                           width=900, height=380)
    body = "".join(_row_html(i, r) for i, r in enumerate(rows))
    tasks = sorted({r.task for r in rows})
    note = "" if len(tasks) < 2 else (
        '<p class="warn">These studies optimise different tasks or targets ('
        + "; ".join(escape(t) for t in tasks) + "): their scores do not compare.</p>")
    short = [r for r in rows if r.short]
    flagged = "" if not short else (
        f'<p class="warn">{len(short)} of {len(rows)} studies stopped short of their budget '
        "without solving (dashed): their AUC is padded with their last best, and their ranks "
        "are not those of a run that spent the same.</p>")
    task_cell = f"<p>Task: {escape(tasks[0])}</p>" if len(tasks) == 1 else ""
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"{GENERATOR}"
        f"<title>comparison of {len(rows)} studies</title><style>{CSS}"
        ".swatch{display:inline-block;width:12px;height:12px;margin-right:6px}</style>"
        f"</head><body><h1>{len(rows)} studies side by side</h1>"
        f'<p class="muted">migrate-opt compare, {now}. AUC: top-k AUC of the best-so-far '
        "curve over each study's budget (PMO; a run that stopped early keeps its last "
        f"value).</p>{task_cell}{note}{flagged}{chart}"
        "<table class=compare><tr>" + "".join(f"<th>{h}</th>" for h in HEADER[:-1])
        + "<th>best solution</th><th>flag</th></tr>" + body + "</table></body></html>\n")


def _row_html(i: int, r: StudyRow) -> str:
    color = svg.PALETTE[i % len(svg.PALETTE)]
    cells = r.cells()
    swatch = f'<span class="swatch" style="background:{color}"></span>'
    num = "".join(f"<td class=num>{escape(c)}</td>" for c in cells[2:8])
    best = "" if r.best_solution is None else f"<code>{escape(_short(r.best_solution))}</code>"
    return (f"<tr><td>{swatch}{escape(cells[0])}</td><td>{escape(cells[1])}</td>{num}"
            f"<td>{best}</td><td class=warn>{escape(cells[8])}</td></tr>")


def _short(s: str, n: int = 80) -> str:
    s = " ".join(s.split())
    return s if len(s) <= n else s[: n - 3] + "..."


def write_compare(specs: Sequence[str], out_path: str | None = None
                  ) -> tuple[str, list[StudyRow]]:
    """Write the comparison of the studies ``specs`` name; returns the path and the rows.
    Default path: ``<first storage>-compare.html`` next to it."""
    rows = study_rows(specs)
    if out_path is None:
        first = selected(specs)[0][0]
        out_path = f"{os.path.splitext(first)[0]}-compare.html"
    return write_page(out_path, render_compare(rows)), rows
