"""One self-contained HTML page per study: settings, best-so-far curve, score distribution
per sampler source, GRPO metrics per step, the top solutions with task pictures.

The page has no scripts and no external resources (charts are inline SVG), so it opens
anywhere, offline, and can be mailed or archived as one file. It only reads the storage,
so it can be written while a run is still adding to it."""

from __future__ import annotations

import datetime as dt
import inspect
import json
import logging
import math
import os
import re
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from ..learning import LearningCurve, learning_curve
from ..metrics import improvements
from ..storage import Database, open_database, pick_study
from ..task import Task
from ..usage import Usage, study_usage
from ..values import Record
from . import mix, svg

log = logging.getLogger(__name__)

OPTIMIZER_KEYS = frozenset({"optimizer", "seed", "budget"})
"""Keys the optimizer adds next to the task's own settings; never task options."""

CSS = """
body{font-family:system-ui,sans-serif;margin:24px auto;max-width:1100px;color:#222;padding:0 12px}
h1{font-size:22px;margin-bottom:4px} h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:8px 0;font-size:13px}
td,th{border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f5f5f5} td.num{text-align:right;font-variant-numeric:tabular-nums}
.muted{color:#777} .warn{color:#a40000;font-weight:bold}
.grid{display:flex;flex-wrap:wrap;gap:12px}
pre{white-space:pre-wrap;word-break:break-all;margin:0;font-size:12px;max-width:560px}
.picture{max-width:420px;overflow:auto} .picture svg{max-width:100%;height:auto}
.summary span{display:inline-block;margin-right:18px}
"""


def write_report(
    storage_path: str, study: str | None = None, out_path: str | None = None
) -> str:
    """Write the report of ``study`` in the study file ``storage_path`` to ``out_path``
    (default: ``<storage>-<study>.html`` next to it); returns the path written.
    ``study`` may be None when the file holds one study."""
    study = pick_study(storage_path, study)
    db = open_database(storage_path, study, readonly=True)
    try:
        page = render_report(db, source=os.path.basename(storage_path))
    finally:
        db.close()
    if out_path is None:
        safe = re.sub(r"[^A-Za-z0-9._-]+", "_", study)  # a study name is no path
        out_path = f"{os.path.splitext(storage_path)[0]}-{safe}.html"
    tmp = f"{out_path}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(page)
    os.replace(tmp, out_path)  # a reader never sees half a page
    return out_path


def render_report(db: Database, *, source: str = "", top: int = 10) -> str:
    """The report page of the study in ``db`` as one HTML string."""
    records = db.records()
    settings = db.settings()
    metrics = db.metrics()
    groups = db.groups()
    task, task_note = rebuild_task(settings)
    title = f"{db.study}: {settings.get('task', 'study')}"
    sections = [
        _summary(records, settings, source, study_usage(groups)),
        _section("Settings", _settings_table(settings)),
        _section("Best score so far", best_so_far_svg(records)),
        _section("Scores per sampler source", _sources(records, groups)),
        *([_section("Adaptive group mix", mix.mix_svg(groups))] if mix.is_adaptive(groups)
          else []),
        _section("Is the model learning?", _learning(learning_curve(db))),
        _section("Training (GRPO) metrics per step", _metrics(metrics)),
        _section(f"Top {top} solutions", _top_table(db.top(top), task, task_note)),
        _section("Why solutions were invalid", _invalid_reasons(records)),
    ]
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>"
        f"<h1>{escape(title)}</h1><p class=\"muted\">migrate-opt report, {now}</p>"
        + "\n".join(sections) + "</body></html>\n"
    )


# -- the task, rebuilt from the study's settings -----------------------------------------
def rebuild_task(settings: Mapping[str, Any]) -> tuple[Task | None, str]:
    """The study's task, built again from its stored options, for its pictures; or None
    and why not (the report then shows solutions as text)."""
    name = settings.get("task")
    if not isinstance(name, str):
        return None, "the study's settings name no task"
    try:
        from ..registry import registry

        factory = registry().entry("task", name).factory
        return factory(**task_options(settings, factory)), ""
    except Exception as exc:  # a missing plugin or data must not cost the whole report
        log.info("cannot rebuild task %r for pictures: %s", name, exc)
        return None, f"task {name!r} could not be rebuilt here ({type(exc).__name__}: {exc})"


def task_options(settings: Mapping[str, Any], factory: Any) -> dict[str, Any]:
    """Constructor options of the task: those the CLI stored, else the settings keys that
    match the factory's parameters (the task's ``settings()`` returns its options)."""
    cli = settings.get("cli")
    if isinstance(cli, Mapping) and isinstance(cli.get("task_options"), Mapping):
        return dict(cli["task_options"])
    nested = settings.get("task_settings")
    source = nested if isinstance(nested, Mapping) else {
        k: v for k, v in settings.items() if k not in OPTIMIZER_KEYS}
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return {}
    return {k: v for k, v in source.items() if k in params and k != "task"}


def picture(task: Task | None, solution: str) -> str | None:
    """The task's HTML picture of a solution, or None (shown as text)."""
    if task is None:
        return None
    try:
        return task.html(solution)
    except Exception as exc:
        log.info("task.html failed for %r: %s", solution[:40], exc)
        return None


# -- sections ----------------------------------------------------------------------------
def _section(title: str, body: str) -> str:
    return f"<section><h2>{escape(title)}</h2>\n{body}\n</section>"


def _summary(records: Sequence[Record], settings: Mapping[str, Any], source: str,
             usage: Usage) -> str:
    valid = [r for r in records if r.score is not None]
    best = max((r.score for r in valid), default=None)  # type: ignore[type-var]
    iterations = len({r.iteration for r in records})
    budget = settings.get("budget")
    items = [
        ("evaluations", f"{len(records)}" + (f" / {budget}" if budget else "")),
        ("valid", f"{len(valid)}"),
        ("invalid", f"{len(records) - len(valid)}"),
        ("iterations with evaluations", f"{iterations}"),
        ("best score", "-" if best is None else f"{best:.4f}"),
        ("solved", "yes" if any(r.solved for r in records) else "no"),
        ("storage", source),
        *([("tokens", usage.line())] if usage.tokens else []),
    ]
    spans = "".join(f"<span><b>{escape(k)}:</b> {escape(v)}</span>" for k, v in items)
    return f'<p class="summary">{spans}</p>'


def _settings_table(settings: Mapping[str, Any]) -> str:
    rows = [(k, v) for k, v in settings.items() if k != "cli"]
    if not rows:
        return '<p class="muted">no settings stored</p>'
    body = "".join(
        f"<tr><th>{escape(str(k))}</th><td><pre>{escape(_json(v))}</pre></td></tr>"
        for k, v in rows)
    extra = ""
    if isinstance(settings.get("cli"), Mapping):
        extra = ("<details><summary>command-line configuration</summary><pre>"
                 f"{escape(json.dumps(settings['cli'], indent=1, default=str))}</pre></details>")
    return f'<table class="settings">{body}</table>{extra}'


def _json(v: Any) -> str:
    return v if isinstance(v, str) else json.dumps(v, default=str)


def best_so_far(records: Sequence[Record]) -> list[svg.Point]:
    """(evaluation number, best score so far) at every improvement, carried to the end
    (``migrate_opt.metrics``, the benchmark harness's definition too)."""
    return [(float(i), best) for i, best in improvements([r.score for r in records])]


def best_so_far_svg(records: Sequence[Record]) -> str:
    dots = [(i + 1, r.score) for i, r in enumerate(records) if r.score is not None]
    return svg.line_chart({"best so far": best_so_far(records)},
                          dots=svg.thin_points(dots, 2000), step=True,
                          title="Best score so far (dots: every valid score)",
                          xlabel="evaluations", ylabel="score")


def _sources(records: Sequence[Record], groups: Sequence[tuple[int, list[dict[str, Any]]]]
             ) -> str:
    """Rewards of every group member per sampler source (greedy replays included: they
    are never new evaluations), and the evaluations each source brought."""
    rewards: dict[str, list[float]] = defaultdict(list)
    for _, members in groups:
        for m in members:
            if isinstance(m.get("reward"), (int, float)):
                rewards[str(m.get("source") or "?")].append(float(m["reward"]))
    if not groups:  # optimizers that store no groups: the evaluations themselves
        for r in records:
            if r.score is not None:
                rewards[r.source or "?"].append(r.score)
    evaluated: dict[str, list[Record]] = defaultdict(list)
    for r in records:
        evaluated[r.source or "?"].append(r)
    names = sorted(set(rewards) | set(evaluated))
    chart = svg.box_chart({n: rewards.get(n, []) for n in names},
                          title="Reward of every group member, per source", ylabel="score")
    rows = [_source_row(n, len(rewards.get(n, [])), evaluated.get(n, [])) for n in names]
    table = ("<table class=sources><tr><th>source</th><th>members scored</th>"
             "<th>new evaluations</th><th>invalid</th><th>mean score</th><th>best score</th>"
             "</tr>" + "".join(rows) + "</table>")
    return chart + table


def _source_row(name: str, members: int, evaluated: Sequence[Record]) -> str:
    scores = [r.score for r in evaluated if r.score is not None]
    invalid = len(evaluated) - len(scores)
    share = f"{invalid / len(evaluated):.0%}" if evaluated else "-"
    return (f"<tr><td>{escape(name)}</td><td class=num>{members}</td>"
            f"<td class=num>{len(evaluated)}</td><td class=num>{share}</td>"
            f"<td class=num>{_num(sum(scores) / len(scores) if scores else None)}</td>"
            f"<td class=num>{_num(max(scores) if scores else None)}</td></tr>")


def _learning(curve: LearningCurve) -> str:
    """On-policy mean reward, KL to base and new solutions per iteration, and a warning on
    collapse."""
    reward = [(it, r) for it, r in zip(curve.iterations, curve.on_policy_reward, strict=True)
              if r is not None]
    kl = [(it, k) for it, k in zip(curve.iterations, curve.kl, strict=True) if k is not None]
    if not reward and not kl:
        return '<p class="muted">no on-policy members or training steps yet</p>'
    warning = ""
    if curve.kl_exceeded:
        warning = (f'<p class="warn">{curve.kl_exceeded} GRPO step(s) had a KL to the base '
                   "model past max_kl: the policy collapsed away from what the base model "
                   "would sample. Lower the learning rate or add kl_coef.</p>")
    charts = [svg.line_chart({"on-policy": [(float(i), v) for i, v in reward]},
                             title="on-policy mean reward", xlabel="iteration",
                             ylabel="reward", width=340, height=220)]
    if kl:
        charts.append(svg.line_chart({"KL": [(float(i), v) for i, v in kl]},
                                     title="KL to base (per token)", xlabel="iteration",
                                     ylabel="KL", width=340, height=220))
    charts.append(svg.line_chart(
        {"new": [(float(i), float(n)) for i, n in zip(curve.iterations, curve.new_solutions,
                                                      strict=True)]},
        title="new solutions per group (0: it repeats)", xlabel="iteration",
        ylabel="new", width=340, height=220))
    return warning + f'<div class="grid metrics">{"".join(charts)}</div>'


def _metrics(metrics: Sequence[Mapping[str, Any]]) -> str:
    if not metrics:
        return '<p class="muted">no training metrics: this method does not train, or no ' \
               "update has finished yet</p>"
    series: dict[str, list[svg.Point]] = defaultdict(list)
    for step, m in enumerate(metrics):
        for k, v in m.items():
            if k in ("iteration", "step") or isinstance(v, bool):
                continue
            if isinstance(v, (int, float)) and math.isfinite(v):
                series[k].append((step + 1, float(v)))
    charts = [
        svg.line_chart({k: pts}, title=k, xlabel="optimizer step", ylabel=k, width=340,
                       height=220)
        for k, pts in sorted(series.items(), key=lambda kv: _metric_order(kv[0]))
    ]
    return f'<div class="grid metrics">{"".join(charts)}</div>'


def _metric_order(name: str) -> tuple[int, str]:
    first = ("loss", "reward_mean", "reward_std", "kl", "clip_fraction")
    return (first.index(name) if name in first else len(first), name)


def _top_table(best: Sequence[Record], task: Task | None, note: str) -> str:
    if not best:
        return '<p class="muted">no valid solution yet</p>'
    rows = []
    for rank, r in enumerate(best, 1):
        pic = picture(task, r.solution)
        text = f"<pre>{escape(_short(r.solution, 2000))}</pre>"
        cell = f'<div class="picture">{pic}</div><details><summary>text</summary>{text}' \
               "</details>" if pic else text
        rows.append(
            f"<tr><td class=num>{rank}</td><td class=num>{_num(r.score)}</td>"
            f"<td>{escape(r.source)}</td><td class=num>{r.iteration}</td>"
            f"<td class=num>{r.seq + 1}</td><td>{'yes' if r.solved else ''}</td>"
            f"<td>{cell}</td></tr>")
    caption = f'<p class="muted">{escape(note)}</p>' if note else ""
    return (f"{caption}<table class=top><tr><th>rank</th><th>score</th><th>source</th>"
            "<th>iteration</th><th>evaluation</th><th>solved</th><th>solution</th></tr>"
            + "".join(rows) + "</table>")


def _invalid_reasons(records: Sequence[Record]) -> str:
    reasons = Counter(str(r.info.get("error", "no reason stored")).splitlines()[0][:160]
                      for r in records if r.score is None)
    if not reasons:
        return '<p class="muted">none</p>'
    rows = "".join(f"<tr><td class=num>{n}</td><td>{escape(k)}</td></tr>"
                   for k, n in reasons.most_common(10))
    return f"<table class=invalid><tr><th>count</th><th>reason</th></tr>{rows}</table>"


def _num(v: float | None) -> str:
    return "-" if v is None else f"{v:.4f}"


def _short(s: str, n: int) -> str:
    return s if len(s) <= n else s[: n - 3] + "..."
