"""Writing results: per-run CSV and JSON, a Markdown table of mean and spread per task and
method, and best-so-far plots (one panel per task)."""

from __future__ import annotations

import csv
import json
import math
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from migrate_opt.report.story import short_of_budget

from .config import BenchmarkConfig
from .metrics import CURVES, RunMetrics, log_points

ROW_FIELDS = [k for k in ("key", *RunMetrics.__dataclass_fields__)
              if k not in (*CURVES, "extra")]


def _flat(r: dict[str, Any]) -> dict[str, Any]:
    """A run's row with its metric hook's numbers as columns of their own."""
    return {**{k: v for k, v in r.items() if k != "extra"}, **r.get("extra", {})}


def _extra_keys(results: Sequence[dict[str, Any]]) -> list[str]:
    return list(dict.fromkeys(k for r in results for k in r.get("extra", {})))


def write_all(config: BenchmarkConfig, results: list[dict[str, Any]], out: str,
              command: str = "") -> dict[str, Path]:
    """Write runs.csv, runs.json, summary.md and best_so_far.png into ``out``."""
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    ok = [r for r in results if "error" not in r]
    paths = {
        "csv": folder / "runs.csv",
        "json": folder / "runs.json",
        "markdown": folder / "summary.md",
        "plot": folder / "best_so_far.png",
    }
    with open(paths["csv"], "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=ROW_FIELDS + _extra_keys(ok),
                                extrasaction="ignore")
        writer.writeheader()
        writer.writerows(_flat(r) for r in ok)
    paths["json"].write_text(json.dumps(
        {"config": config.name, "command": command, "budget": config.budget,
         "seeds": list(config.seeds),
         "log_points": log_points(config.budget, config.log_every), "runs": results},
        indent=1,
    ))
    paths["markdown"].write_text(markdown(config, results, command))
    plot(config, ok, paths["plot"])
    return paths


def summarise(results: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (task, method): run count and mean/spread of each metric."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in results:
        if "error" not in r:
            groups.setdefault((r["task"], r["method"]), []).append(r)
    rows = []
    for (task, method), runs in groups.items():
        solved = [r["evals_to_solve"] for r in runs if r["solved"]]
        rows.append({
            "task": task, "method": method, "runs": len(runs),
            **{k: _mean_sd([r[k] for r in runs])
               for k in ("top1_auc", "top10_auc", "best_score", "invalid", "generate_s",
                         "train_s", "evaluate_s", "evaluations")},
            "solved": f"{len(solved)}/{len(runs)}",
            "short": sum(stopped_short(r) for r in runs),
            "evals_to_solve": _mean_sd(solved) if solved else None,
            "extra": {k: _mean_sd([_number(r.get("extra", {}).get(k)) for r in runs])
                      for k in _extra_keys(runs)},
        })
    return rows


def stopped_short(r: dict[str, Any]) -> bool:
    """A run that ended with budget left without solving (stale, capped iterations): its
    AUC is padded with its last best, so it ranks as if it had spent the budget."""
    return short_of_budget(r["evaluations"], r["budget"], "solved" if r["solved"] else
                           r.get("stopped"))


def _number(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) else None


def _mean_sd(values: Sequence[float | None]) -> tuple[float, float] | None:
    vals = [float(v) for v in values if v is not None]
    if not vals:
        return None
    return statistics.fmean(vals), statistics.stdev(vals) if len(vals) > 1 else 0.0


def _fmt(v: Any, digits: int = 3) -> str:
    if v is None:
        return "-"
    if isinstance(v, tuple):
        mean, sd = v
        return f"{mean:.{digits}f} ± {sd:.{digits}f}"
    return str(v)


def markdown(config: BenchmarkConfig, results: Sequence[dict[str, Any]], command: str) -> str:
    lines = [
        f"# Benchmark `{config.name}`",
        "",
        f"Budget {config.budget} evaluations per run, seeds {list(config.seeds)}; mean ± "
        "standard deviation over seeds. AUC: PMO top-k AUC of the best-so-far curve "
        f"(logged every {config.log_every} evaluations, padded to the budget, normalised). "
        "Times are seconds per run: proposing (LLM generation or the baseline's model), "
        "training, evaluating.",
    ]
    if command:
        lines += ["", f"Command: `{command}`"]
    rows = summarise(results)
    for task in dict.fromkeys(r["task"] for r in rows):
        lines += [
            "", f"## {task}", "",
            "| method | runs | top-1 AUC | top-10 AUC | best | solved | evals to solve "
            "| invalid | evaluations | short of budget | propose s | train s | evaluate s |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in sorted((r for r in rows if r["task"] == task),
                        key=lambda r: -(r["top1_auc"] or (0.0, 0.0))[0]):
            lines.append(
                f"| {r['method']} | {r['runs']} | {_fmt(r['top1_auc'])} | "
                f"{_fmt(r['top10_auc'])} | {_fmt(r['best_score'])} | {r['solved']} | "
                f"{_fmt(r['evals_to_solve'], 0)} | {_fmt(r['invalid'], 1)} | "
                f"{_fmt(r['evaluations'], 0)} | {_short_cell(r)} | {_fmt(r['generate_s'], 1)} | "
                f"{_fmt(r['train_s'], 1)} | {_fmt(r['evaluate_s'], 1)} |"
            )
        lines += _extra_table([r for r in rows if r["task"] == task])
    lines += mix_table(config, results)
    lines += short_runs(results)
    failed = [r for r in results if "error" in r]
    if failed:
        lines += ["", "## Failed runs", ""]
        lines += [f"- `{r['key']}`: {r['error']}" for r in failed]
    return "\n".join(lines) + "\n"


def _short_cell(row: dict[str, Any]) -> str:
    return f"**{row['short']}/{row['runs']}**" if row["short"] else "0"


def short_runs(results: Sequence[dict[str, Any]]) -> list[str]:
    """The runs that stopped short of the budget without solving, named with why."""
    short = [r for r in results if "error" not in r and stopped_short(r)]
    if not short:
        return []
    return ["", "## Runs that stopped short of the budget", "",
            "They spent fewer evaluations than the budget without solving; their AUC keeps "
            "their last best up to the budget, so their rank is not that of a run that spent "
            "it.", ""] + [f"- `{r['key']}`: {r['evaluations']} of {r['budget']} evaluations, "
                          f"stopped: {r.get('stopped')}" for r in short]


def plot(config: BenchmarkConfig, results: Sequence[dict[str, Any]], path: Path) -> None:
    """Best-so-far against evaluations: mean over seeds, shaded from min to max. A method
    keeps its colour in every panel; LLM methods are dashed, one legend for all panels."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    tasks = list(dict.fromkeys(r["task"] for r in results)) or ["(no runs)"]
    cols = min(3, len(tasks))
    rows = math.ceil(len(tasks) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5.5 * cols + 2.2, 4 * rows), squeeze=False)
    x = log_points(config.budget, config.log_every)
    order = list(dict.fromkeys(r["method"] for r in results))
    palette = plt.get_cmap("tab20" if len(order) > 10 else "tab10")
    llm = {m.label for m in config.methods if m.llm is not None}
    handles: dict[str, Any] = {}
    for ax, task in zip(axes.flat, tasks):
        for i, method in enumerate(order):
            curves = np.array(
                [[np.nan if v is None else v for v in r["curve"]] for r in results
                 if r["task"] == task and r["method"] == method], dtype=float,
            )
            if curves.size == 0 or np.all(np.isnan(curves)):
                continue
            with np.errstate(all="ignore"):
                mean = np.nanmean(curves, axis=0)
                lo, hi = np.nanmin(curves, axis=0), np.nanmax(curves, axis=0)
            style = "--" if method in llm else "-"
            color = palette(i % palette.N)
            (line,) = ax.plot(x, mean, style, color=color, label=method)
            ax.fill_between(x, lo, hi, color=color, alpha=0.08)
            handles.setdefault(method, line)
        ax.set_title(task)
        ax.set_xlabel("evaluations")
        ax.set_ylabel("best score so far (mean, min-max over seeds)")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(tasks):]:
        ax.axis("off")
    if handles:
        fig.legend(handles.values(), handles.keys(), loc="center right", fontsize=8,
                   title="dashed: LLM", title_fontsize=8)
        fig.tight_layout(rect=(0, 0, 1 - 2.0 / (5.5 * cols + 2.2), 1))
    else:
        fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


MIX_WINDOW = 5
"""Groups at each end of a run that the mix table averages."""


def mix_table(config: BenchmarkConfig, results: Sequence[dict[str, Any]]) -> list[str]:
    """Where the adaptive mixes moved their groups: members per sampler at the start and the
    end of each run, averaged over the runs of a method and family (a task outside every
    family is its own)."""
    family = {t: f for f, tasks in config.families.items() for t in tasks}
    cells: dict[tuple[str, str, str], list[tuple[float, float]]] = {}
    for r in results:
        for sampler, counts in _full_groups(r.get("mix") or {}).items():
            where = family.get(r["task"], r["task"])
            cells.setdefault((r["method"], where, sampler), []).append(
                (statistics.fmean(counts[:MIX_WINDOW]), statistics.fmean(counts[-MIX_WINDOW:])))
    if not cells:
        return []
    lines = ["", "## Adaptive group mix", "",
             f"Members per group held by each sampler's slots: mean over the first and the last "
             f"{MIX_WINDOW} full groups of a run (a last group the budget cut short is left "
             "out), then over its runs.", "",
             "| method | tasks | sampler | runs | first groups | last groups |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {method} | {where} | {sampler} | {len(v)} | "
              f"{statistics.fmean(a for a, _ in v):.2f} | {statistics.fmean(b for _, b in v):.2f} |"
              for (method, where, sampler), v in sorted(cells.items())]
    return lines


def _full_groups(mix: dict[str, list[int]]) -> dict[str, list[int]]:
    """``mix`` without the iterations whose group was smaller than the run's largest."""
    sizes = [sum(g) for g in zip(*mix.values(), strict=True)]
    full = max(sizes, default=0)
    keep = [i for i, size in enumerate(sizes) if size == full]
    return {name: [counts[i] for i in keep] for name, counts in mix.items()}


def _extra_table(rows: Sequence[dict[str, Any]]) -> list[str]:
    """The task's metric-hook numbers per method (mean ± sd over the runs that have one)."""
    keys = list(dict.fromkeys(k for r in rows for k in r["extra"]))
    if not keys:
        return []
    lines = ["", "| method | " + " | ".join(keys) + " |", "|---|" + "---|" * len(keys)]
    lines += ["| " + r["method"] + " | " + " | ".join(_fmt(r["extra"].get(k)) for k in keys)
              + " |" for r in rows]
    return lines
