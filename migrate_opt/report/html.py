"""One self-contained HTML page per study that tells its story: a summary (task and target,
why it stopped, where the time went), the best-so-far curve, the best solutions with the
completion that produced them and their parent, what the model wrote over time, what
training did, and the settings folded away at the bottom. Sections that cannot apply (a
model's writing in a genetic algorithm's study) are left out.

The page has no scripts and no external resources (charts are inline SVG), so it opens
anywhere, offline, and can be mailed or archived as one file. It only reads the storage and
never runs the task's code (every stored value is escaped), so it can be written while a
run is still adding to it, and from a study file of unknown origin."""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import re
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from html import escape
from typing import Any

from ..errors import StorageError
from ..learning import LearningCurve, learning_curve
from ..loop import RUNS_KEY
from ..metrics import evaluations_to_solve, improvements
from ..storage import Database, open_database, pick_study
from ..usage import Usage, study_usage
from ..values import Record, user_value, with_direction
from . import mix, story, svg
from .output import GENERATOR, write_page

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
.summary span{display:inline-block;margin-right:18px} .lead{font-size:15px;line-height:1.5}
.lead li{margin:2px 0} details{margin:10px 0} summary{cursor:pointer;color:#345}
.stage{margin:10px 0} .stage h3{font-size:14px;margin:6px 0}
pre.completion{background:#f7f7f7;padding:4px 6px;max-width:520px}
"""


def write_report(
    storage_path: str, study: str | None = None, out_path: str | None = None, *,
    force: bool = False,
) -> str:
    """Write the report of ``study`` in the study file ``storage_path`` to ``out_path``
    (default: ``<storage>-<study>.html`` next to it); returns the path written.
    ``study`` may be None when the file holds one study."""
    study = pick_study(storage_path, study)
    with open_database(storage_path, study, readonly=True) as db, malformed(storage_path, study):
        page = render_report(db, source=os.path.basename(storage_path))
    if out_path is None:
        safe = re.sub(r"[^A-Za-z0-9._-]+", "_", study)  # a study name is no path
        out_path = f"{os.path.splitext(storage_path)[0]}-{safe}.html"
    return write_page(out_path, page, force=force)  # never over a study or a stranger's file


@contextmanager
def malformed(path: str, study: str) -> Iterator[None]:
    """Turn what a hand-edited or crafted study file breaks (a list where settings belong, a
    word where a score does) into one line naming the file and the study."""
    try:
        yield
    except (TypeError, AttributeError, ValueError, KeyError) as exc:
        raise StorageError(f"study {study!r} in {path} holds data this migrate-opt cannot "
                           f"read ({type(exc).__name__}: {exc}); was it written by "
                           "migrate-opt?") from exc


def render_report(db: Database, *, source: str = "", top: int = 5) -> str:
    """The report page of the study in ``db`` as one HTML string."""
    settings = db.settings()
    # Records hold higher-is-better scores; each shows its objective as the user gave it.
    direction = settings.get("direction", "maximize")
    records = with_direction(db.records(), direction)
    groups = db.groups()
    metrics = db.metrics()
    curve = learning_curve(db)
    by_solution = {r.solution: r for r in records}
    written = any(story.is_sampled(m) for _, ms in groups for m in ms)  # an LLM wrote them
    title = f"{db.study}: {settings.get('task', 'study')}"
    sections = [
        _section("Summary", _summary(records, settings, source, study_usage(groups))),
        _section("Best score so far", best_so_far_svg(records)),
        _section(f"Best {top} solutions",
                 _top_table(with_direction(db.top(top), direction), by_solution, written)),
        _optional("What the model wrote over time", _writing(groups, by_solution)),
        _optional("What training did" if metrics else "What each group found",
                  _training(groups, curve, metrics)),
        _optional("Scores per sampler source", _sources(records, groups, direction)),
        _optional("Adaptive group mix", mix.mix_svg(groups) if mix.is_adaptive(groups)
                  else ""),
        _optional("Why solutions were invalid", _invalid_reasons(records)),
        _settings(settings),
    ]
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"{GENERATOR}"
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>"
        f"<h1>{escape(title)}</h1><p class=\"muted\">migrate-opt report, {now}</p>"
        + "\n".join(s for s in sections if s) + "</body></html>\n"
    )


# -- sections ----------------------------------------------------------------------------
def _section(title: str, body: str) -> str:
    return f"<section><h2>{escape(title)}</h2>\n{body}\n</section>"


def _optional(title: str, body: str) -> str:
    """A section that is left out when it has nothing to say for this study."""
    return _section(title, body) if body else ""


def task_line(settings: Mapping[str, Any]) -> str:
    """'semantle (target=computer, ...)': the task and the options it was built with."""
    options = settings.get("task_settings")
    shown = ", ".join(f"{k}={_json(v)}" for k, v in options.items()
                      if k != "task" and v is not None) \
        if isinstance(options, Mapping) else ""
    name = str(settings.get("task", "?"))
    return f"{name} ({shown})" if shown else name


def method_line(settings: Mapping[str, Any]) -> str:
    method = str(settings.get("method") or settings.get("optimizer") or "?")
    model = settings.get("model")
    trains = settings.get("train")
    if model:
        method += f" with {model}" + ("" if trains is None else
                                     ", training" if trains else ", not training")
    return method


def _summary(records: Sequence[Record], settings: Mapping[str, Any], source: str,
             usage: Usage) -> str:
    valid = [r for r in records if r.score is not None]
    best = max(valid, key=lambda r: r.score or 0.0) if valid else None
    budget = settings.get("budget")
    runs = [r for r in settings.get(RUNS_KEY) or [] if isinstance(r, Mapping)]
    items = [("Task", escape(task_line(settings))),
             ("Method", escape(method_line(settings))),
             ("Evaluations", escape(f"{len(records)}" + (f" of a budget of {budget}"
                                                         if budget else "")
                                    + f" ({len(records) - len(valid)} invalid)"))]
    if best is not None:
        solved_at = evaluations_to_solve(records)
        items.append(("Best", f"<code>{escape(_short(best.solution, 200))}</code>, score "
                      f"{best.objective:.4f}, found at evaluation {best.seq + 1}"
                      + (f"; <b>solved</b> at evaluation {solved_at}" if solved_at else
                         "; not solved")))
    else:
        items.append(("Best", "no valid solution yet"))
    if runs:
        last = runs[-1]
        flag = story.short_of_budget(len(records), budget, last.get("stopped"))
        stop = escape(story.stop_reason(last))
        items.append(("Stopped because", f'<span class="warn">{stop} (short of the budget)'
                      "</span>" if flag else stop))
        items.append(("Wall time", _time_split(runs)))
    if usage.tokens:
        items.append(("Tokens", escape(usage.line())))
    items.append(("Storage", escape(source)))
    rows = "".join(f"<li><b>{k}:</b> {v}</li>" for k, v in items)
    bar = _time_bar(runs) if runs else ""
    return f'<ul class="lead">{rows}</ul>{bar}'


def _time_split(runs: Sequence[Mapping[str, Any]]) -> str:
    split = story.time_split(runs)
    total = split["total"]
    parts = ", ".join(f"{k} {story.duration(split[k])} ({split[k] / total:.0%})"
                      for k in story.TIME_PARTS if split[k] > 0 or k == "evaluate"
                      ) if total > 0 else ""
    sessions = f" over {len(runs)} runs" if len(runs) > 1 else ""
    return escape(f"{story.duration(total)}{sessions}" + (f": {parts}" if parts else ""))


def _time_bar(runs: Sequence[Mapping[str, Any]]) -> str:
    split = story.time_split(runs)
    return svg.share_bar({k: split[k] for k in story.TIME_PARTS},
                         title="where the wall time went")


def _settings(settings: Mapping[str, Any]) -> str:
    """Every stored setting, the run log and the command line's configuration, folded."""
    rows = [(k, v) for k, v in settings.items() if k not in ("cli", RUNS_KEY)]
    if not rows:
        return ""
    body = "".join(
        f"<tr><th>{escape(str(k))}</th><td><pre>{escape(_json(v))}</pre></td></tr>"
        for k, v in rows)
    parts = [f'<table class="settings">{body}</table>']
    runs = [r for r in settings.get(RUNS_KEY) or [] if isinstance(r, Mapping)]
    if runs:
        parts.append("<h3>Runs</h3><table class=runs><tr><th>started</th><th>stopped</th>"
                     "<th>groups</th><th>evaluations</th><th>wall time</th></tr>"
                     + "".join(_run_row(r) for r in runs) + "</table>")
    if isinstance(settings.get("cli"), Mapping):
        parts.append("<details><summary>command-line configuration</summary><pre>"
                     f"{escape(json.dumps(settings['cli'], indent=1, default=str))}</pre>"
                     "</details>")
    return ("<section><details class=settings-fold><summary><b>Settings</b> (task, method, "
            f"model, training; as stored)</summary>{''.join(parts)}</details></section>")


def _run_row(run: Mapping[str, Any]) -> str:
    started = run.get("started")
    when = (dt.datetime.fromtimestamp(started, dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
            if isinstance(started, (int, float)) else "?")
    seconds = (run.get("seconds") or {}).get("total")
    cells = [when, str(run.get("stopped") or "not recorded"), str(run.get("groups", "?")),
             f"{run.get('evaluations_before', '?')} to {run.get('evaluations', '?')}",
             story.duration(float(seconds)) if isinstance(seconds, (int, float)) else "?"]
    return "<tr>" + "".join(f"<td>{escape(c)}</td>" for c in cells) + "</tr>"


def _json(v: Any) -> str:
    return v if isinstance(v, str) else json.dumps(v, default=str)


def best_so_far(records: Sequence[Record]) -> list[svg.Point]:
    """(evaluation number, best score so far) at every improvement, carried to the end
    (``migrate_opt.metrics``, the benchmark harness's definition too)."""
    direction = records[0].direction if records else "maximize"
    return [(float(i), user_value(best, direction) or 0.0)
            for i, best in improvements([r.score for r in records])]


def best_so_far_svg(records: Sequence[Record]) -> str:
    dots = [(i + 1, r.objective) for i, r in enumerate(records) if r.objective is not None]
    return svg.line_chart({"best so far": best_so_far(records)},
                          dots=svg.thin_points(dots, 2000), step=True,
                          title="Best score so far (dots: every valid score)",
                          xlabel="evaluations", ylabel="score")


def _top_table(best: Sequence[Record], by_solution: Mapping[str, Record],
               written: bool) -> str:
    """The best solutions, each with where it came from: its source, its parent (for a
    neighbourhood member) and, when a model wrote it, the completion that proposed it."""
    if not best:
        return '<p class="muted">no valid solution yet</p>'
    parents = any(isinstance(r.tags.get("parent"), str) for r in best)
    rows = []
    for rank, r in enumerate(best, 1):
        cells = [f"<td class=num>{rank}</td><td class=num>{_num(r.objective)}"
                 f"{' solved' if r.solved else ''}</td>",
                 f"<td><pre>{escape(_short(r.solution, 2000))}</pre></td>",
                 f"<td>{escape(r.source)}, evaluation {r.seq + 1}, iteration {r.iteration}</td>"]
        if parents:
            cells.append(f"<td>{_parent(r, by_solution)}</td>")
        if written:
            cells.append("<td>" + ("" if not r.completion else
                                   f"<pre class=completion>"
                                   f"{escape(printable(_short(r.completion, 1200)))}</pre>")
                         + "</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    head = ["rank", "score", "solution", "found by"] + ["parent"] * parents + \
        ["completion that proposed it"] * written
    return ("<table class=top><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr>"
            + "".join(rows) + "</table>")


def _parent(r: Record, by_solution: Mapping[str, Record]) -> str:
    parent = r.tags.get("parent")
    if not isinstance(parent, str):
        return ""
    known = by_solution.get(parent)
    return (f"<code>{escape(_short(parent, 200))}</code>"
            + (f" (score {_num(known.objective)})" if known is not None else ""))


def _writing(groups: Sequence[story.Group], by_solution: Mapping[str, Record],
             per_stage: int = 4) -> str:
    """A few completions the model wrote at each stage of the run (only studies whose
    members carry sampled tokens, i.e. an LLM wrote them)."""
    picked = story.stages(groups)
    if not picked:
        return ""
    last = groups[-1][0]
    parts = []
    for it, members in picked:
        rows = "".join(
            f"<tr><td>{escape(str(m.get('source')))}</td><td><pre class=completion>"
            f"{escape(printable(_short(str(m.get('completion')), 400)))}</pre></td>"
            f"<td>{escape(story.outcome(m, it, by_solution))}</td></tr>"
            for m in [m for m in members if story.is_sampled(m)][:per_stage])
        parts.append(f'<div class="stage"><h3>{escape(f"iteration {it} of {last}")}</h3>'
                     "<table class=wrote>"
                     "<tr><th>sampler</th><th>completion</th><th>what became of it</th></tr>"
                     f"{rows}</table></div>")
    return "".join(parts)


def _training(groups: Sequence[story.Group], curve: LearningCurve,
              metrics: Sequence[Mapping[str, Any]]) -> str:
    """What each group found (new solutions, repeats) and, when the method trained, the KL
    and on-policy reward, in words first, then charts; the raw GRPO metrics folded."""
    if len(groups) < 2:
        return ""
    stats = story.group_stats(groups, curve)
    words = story.training_sentences(stats, curve, trained=bool(metrics))
    warning = ""
    if curve.kl_exceeded:
        warning = (f'<p class="warn">{curve.kl_exceeded} GRPO step(s) had a KL to the base '
                   "model past max_kl: the policy collapsed away from what the base model "
                   "would sample. Lower the learning rate or add kl_coef.</p>")
    charts = [_small_chart("new solutions per group",
                           zip(stats.iterations, stats.new), "new"),
              _small_chart("share of repeats",
                           zip(stats.iterations, stats.repeat_rate), "repeats")]
    reward = list(zip(curve.iterations, curve.on_policy_reward, strict=True))
    if sum(v is not None for _, v in reward) > 1:  # a first group's fallback is no curve
        charts.append(_small_chart("on-policy mean reward", reward, "reward"))
    kl = list(zip(curve.iterations, curve.kl, strict=True))
    if metrics and any(v is not None for _, v in kl):
        charts.append(_small_chart("KL to base (per token)", kl, "KL"))
    listed = "".join(f"<li>{escape(w)}</li>" for w in words)
    raw = (f"<details><summary>every training metric per GRPO step</summary>"
           f"{_metrics(metrics)}</details>" if metrics else "")
    return (f'{warning}<ul class="lead">{listed}</ul>'
            f'<div class="grid metrics">{"".join(charts)}</div>{raw}')


def _small_chart(title: str, points: Any, ylabel: str) -> str:
    pts = [(float(x), float(y)) for x, y in points if y is not None]
    return svg.line_chart({ylabel: pts}, title=title, xlabel="iteration", ylabel=ylabel,
                          width=340, height=220)


def printable(text: str) -> str:
    """``text`` with control characters (a random model writes them) shown as a dot."""
    return "".join(c if c.isprintable() or c in "\n\t" else "\u00b7" for c in text)


def _sources(records: Sequence[Record], groups: Sequence[tuple[int, list[dict[str, Any]]]],
             direction: str = "maximize") -> str:
    """Rewards of every group member per sampler source (greedy replays included: they
    are never new evaluations), and the evaluations each source brought."""
    rewards: dict[str, list[float]] = defaultdict(list)
    for _, members in groups:
        for m in members:
            if isinstance(m.get("reward"), (int, float)):
                rewards[str(m.get("source") or "?")].append(
                    user_value(float(m["reward"]), direction) or 0.0)
    if not groups:  # optimizers that store no groups: the evaluations themselves
        for r in records:
            if r.objective is not None:
                rewards[r.source or "?"].append(r.objective)
    evaluated: dict[str, list[Record]] = defaultdict(list)
    for r in records:
        evaluated[r.source or "?"].append(r)
    names = sorted(set(rewards) | set(evaluated))
    if len(names) < 2:
        return ""  # one source: the best-so-far curve already shows its scores
    chart = svg.box_chart({n: rewards.get(n, []) for n in names},
                          title="Reward of every group member, per source", ylabel="score")
    rows = [_source_row(n, len(rewards.get(n, [])), evaluated.get(n, [])) for n in names]
    table = ("<table class=sources><tr><th>source</th><th>members scored</th>"
             "<th>new evaluations</th><th>invalid</th><th>mean score</th><th>best score</th>"
             "</tr>" + "".join(rows) + "</table>")
    return chart + table


def _source_row(name: str, members: int, evaluated: Sequence[Record]) -> str:
    valid = [r for r in evaluated if r.score is not None]
    scores = [r.objective or 0.0 for r in valid]
    best = max(valid, key=lambda r: r.score or 0.0).objective if valid else None
    invalid = len(evaluated) - len(scores)
    share = f"{invalid / len(evaluated):.0%}" if evaluated else "-"
    return (f"<tr><td>{escape(name)}</td><td class=num>{members}</td>"
            f"<td class=num>{len(evaluated)}</td><td class=num>{share}</td>"
            f"<td class=num>{_num(sum(scores) / len(scores) if scores else None)}</td>"
            f"<td class=num>{_num(best)}</td></tr>")


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


def _invalid_reasons(records: Sequence[Record]) -> str:
    reasons = Counter(str(r.info.get("error", "no reason stored")).splitlines()[0][:160]
                      for r in records if r.score is None)
    if not reasons:
        return ""
    rows = "".join(f"<tr><td class=num>{n}</td><td>{escape(k)}</td></tr>"
                   for k, n in reasons.most_common(10))
    return f"<table class=invalid><tr><th>count</th><th>reason</th></tr>{rows}</table>"


def _num(v: float | None) -> str:
    return "-" if v is None else f"{v:.4f}"


def _short(s: str, n: int) -> str:
    return s if len(s) <= n else s[: n - 3] + "..."
