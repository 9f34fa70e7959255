"""The budget study's report: each pair of methods at several budgets, from the same runs.

A run's scores in evaluation order give every smaller budget, so one grid at budget 1000
answers 100, 250, 500 and 1000. Per budget and pair of methods (same task and seed): top-10
AUC (the primary metric), best score, evaluations to solve (censored: an unsolved run
counts the budget) and solved, each with wins / losses / ties, the sign test and a
bootstrap interval of the mean paired difference (A - B, except evaluations to solve, where
fewer is better and the difference is B - A: a positive difference and a win always favour
A); and each method's solve rate.

    python -m migrate_opt_bench.budget benchmarks/results/budget --pair migrate:untrained \\
        --budgets 100 250 500 1000 --out benchmarks/results/budget

Writes OUT.json, OUT.md and OUT.png (solve rate and top-10 AUC against the budget per
method). ``--tasks`` and ``--seeds`` keep a sub-grid, so that every method's row covers the
same cells when one folder ran a larger grid than another. Runs still missing are counted,
not guessed: a pair whose cells have not both finished is left out and the table says how
many pairs each number rests on.
"""

from __future__ import annotations

import argparse
import math
import shlex
import statistics
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from migrate_opt.metrics import top_k_auc

from .paired import _no_nan, bootstrap_interval, load_runs, sign_test
from .result_files import write_markdown_and_json

METRICS = ("top10_auc", "best_score", "to_solve", "solved")
"""Measured per run and budget; the first is the primary one."""
CAPPED = "iterations"
"""The stop reason of a run that hit its group cap before spending the budget."""
STALE = "stale"
"""The stop reason of a run whose groups brought nothing new for ``patience`` groups."""


def at_budget(run: Mapping[str, Any], budget: int) -> dict[str, float]:
    """What ``run`` had measured after ``budget`` evaluations."""
    scores = list(run["scores"])[:budget]
    valid = [s for s in scores if s is not None]
    solved_at: int | None = run.get("evals_to_solve")
    solved = solved_at is not None and solved_at <= budget
    return {
        "top10_auc": top_k_auc(scores, 10, budget),
        "best_score": max(valid) if valid else 0.0,
        "to_solve": float(solved_at if solved_at is not None and solved else budget),
        "solved": 1.0 if solved else 0.0,
    }


def paired_stats(diffs: Sequence[float], tie: float = 1e-9) -> dict[str, Any]:
    """Wins, losses, ties, sign-test p, mean difference and its 95% bootstrap interval."""
    wins = sum(d > tie for d in diffs)
    losses = sum(d < -tie for d in diffs)
    lo, hi = bootstrap_interval(diffs)
    return {"pairs": len(diffs), "wins": wins, "losses": losses,
            "ties": len(diffs) - wins - losses, "p": sign_test(wins, losses),
            "mean_diff": sum(diffs) / len(diffs) if diffs else math.nan, "ci95": [lo, hi]}


def study(runs: Sequence[Mapping[str, Any]], pairs: Sequence[tuple[str, str]],
          budgets: Sequence[int]) -> dict[str, Any]:
    """The report's data: per pair and budget the paired statistics (top-10 AUC at the top
    level, every metric under ``metrics``), each method's solve rate, and the runs that
    hit their group cap."""
    done = [r for r in runs if "error" not in r and r.get("scores") is not None]
    cells = {(r["task"], r["seed"], r["method"]): r for r in done}
    methods = sorted({m for a, b in pairs for m in (a, b)})
    out: dict[str, Any] = {"budgets": list(budgets), "pairs": {}, "solve_rate": {},
                           "runs": {m: sum(1 for r in done if r["method"] == m)
                                    for m in methods},
                           "capped": _stopped(done, methods, CAPPED),
                           "stale": _stopped(done, methods, STALE),
                           "spent": {m: _spent([r for r in done if r["method"] == m])
                                     for m in methods}}
    for a, b in pairs:
        both = sorted((t, s) for (t, s, m) in cells if m == a and (t, s, b) in cells)
        per_budget = {}
        for n in budgets:
            diffs = {k: [] for k in METRICS}  # type: dict[str, list[float]]
            for t, s in both:
                x, y = at_budget(cells[(t, s, a)], n), at_budget(cells[(t, s, b)], n)
                for k in METRICS:
                    diffs[k].append(y[k] - x[k] if k == "to_solve" else x[k] - y[k])
            by_metric = {k: paired_stats(v) for k, v in diffs.items()}
            per_budget[str(n)] = {**by_metric["top10_auc"], "metrics": by_metric}
        out["pairs"][f"{a}_vs_{b}"] = per_budget
    for m in methods:
        mine = [r for r in done if r["method"] == m]
        out["solve_rate"][m] = {str(n): (sum(at_budget(r, n)["solved"] for r in mine) / len(mine)
                                         if mine else math.nan) for n in budgets}
        out.setdefault("top10_auc", {})[m] = {
            str(n): (sum(at_budget(r, n)["top10_auc"] for r in mine) / len(mine)
                     if mine else math.nan) for n in budgets}
    return out


def _spent(runs: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """Evaluations and groups the runs used: a run that stalled or hit its cap spent less
    than the budget, and its best stands for every larger budget."""
    if not runs:
        return {}
    evaluations = sorted(len(r["scores"]) for r in runs)
    groups = sorted(int(r.get("iterations", 0)) for r in runs)
    return {"median_evaluations": statistics.median(evaluations), "min_evaluations":
            evaluations[0], "max_evaluations": evaluations[-1],
            "median_groups": statistics.median(groups)}


def _stopped(runs: Sequence[Mapping[str, Any]], methods: Sequence[str], reason: str,
             ) -> dict[str, int]:
    return {m: sum(1 for r in runs if r["method"] == m and r.get("stopped") == reason)
            for m in methods}


WINDOW = 30
"""Groups at each end of a run over which the per-run table counts new solutions: a policy
that narrowed finds many early and none late."""


def every_run(runs: Sequence[Mapping[str, Any]], budget: int) -> list[dict[str, Any]]:
    """One row per finished run, by method, task and seed: what it spent, why it stopped,
    its best, and whether it narrowed (new solutions in its first and last groups, steps
    whose KL to the base passed ``max_kl``)."""
    rows = []
    for r in runs:
        if "error" in r or r.get("scores") is None:
            continue
        new = list(r.get("new_solutions") or [])
        measured = at_budget(r, budget)
        rows.append({
            "method": r["method"], "task": r["task"], "seed": r["seed"],
            "groups": int(r.get("iterations", 0)), "evaluations": len(r["scores"]),
            "stopped": r.get("stopped", ""), "best": measured["best_score"],
            "best_solution": r.get("best_solution"), "to_solve": r.get("evals_to_solve"),
            "top10_auc": measured["top10_auc"],
            "kl_exceeded": int(r.get("kl_exceeded") or 0),
            "new_first": sum(new[:WINDOW]), "new_last": sum(new[-WINDOW:]),
            "seconds": float(r.get("total_s") or 0.0)})
    return sorted(rows, key=lambda row: (row["method"], row["task"], row["seed"]))


def runs_markdown(rows: Sequence[Mapping[str, Any]], budget: int) -> str:
    lines = ["## Every run", "", f"New solutions are counted over a run's first and last "
             f"{WINDOW} groups; seconds are wall time on a shared machine, not comparable "
             "between rows.", "",
             "| method | target | seed | groups | evaluations | stopped | best | evaluations "
             f"to solve | top-10 AUC @{budget} | steps past max_kl | new, first {WINDOW} groups "
             f"| new, last {WINDOW} groups | seconds |", "|---" * 13 + "|"]
    for r in rows:
        best = f"{r['best']:.3f}" + (f" ({r['best_solution']})" if r["best_solution"] else "")
        solve = "-" if r["to_solve"] is None else str(r["to_solve"])
        lines.append(
            f"| {r['method']} | {r['task']} | {r['seed']} | {r['groups']} | {r['evaluations']} "
            f"| {r['stopped']} | {best} | {solve} | {r['top10_auc']:.3f} | {r['kl_exceeded']} "
            f"| {r['new_first']} | {r['new_last']} | {r['seconds']:.0f} |")
    return "\n".join(lines) + "\n"


def markdown(family: str, data: Mapping[str, Any]) -> str:
    budgets = data["budgets"]
    lines = [f"## {family}", "", "Runs finished per method: " + ", ".join(
        f"{m} {n} ({data['capped'][m]} hit the group cap, {data['stale'][m]} stopped stale)"
        for m, n in data["runs"].items()), "", "Evaluations spent per run (median, range) and "
        "groups (median): " + "; ".join(
            f"{m} {_num0(v['median_evaluations'])} ({v['min_evaluations']}-"
            f"{v['max_evaluations']}), {_num0(v['median_groups'])} groups"
            for m, v in data["spent"].items() if v) + ". A run that stopped short keeps its "
        "best for every larger budget.",
        "", "| method | " + " | ".join(f"solved @{n}" for n in budgets) + " | "
        + " | ".join(f"top-10 AUC @{n}" for n in budgets) + " |",
        "|---|" + "---|" * (2 * len(budgets))]
    for m, rates in data["solve_rate"].items():
        aucs = data["top10_auc"][m]
        lines.append(f"| {m} | " + " | ".join(_pct(rates[str(n)]) for n in budgets) + " | "
                     + " | ".join(_num(aucs[str(n)]) for n in budgets) + " |")
    lines += ["", "A win and a positive difference favour A: the difference is A - B, except for "
              "`to_solve` (evaluations to solve, an unsolved run counting the budget), where "
              "fewer is better and it is B - A.", "",
              "| A vs B | budget | metric | pairs | W-L-T | sign-test p | mean diff [95% CI] |",
              "|---|---|---|---|---|---|---|"]
    for name, per_budget in data["pairs"].items():
        for n in budgets:
            for k, s in per_budget[str(n)]["metrics"].items():
                if not s["pairs"]:
                    continue
                lo, hi = s["ci95"]
                lines.append(f"| {name.replace('_vs_', ' vs ')} | {n} | {k} | {s['pairs']} | "
                             f"{s['wins']}-{s['losses']}-{s['ties']} | {s['p']:.3g} | "
                             f"{s['mean_diff']:+.4f} [{lo:+.4f}, {hi:+.4f}] |")
    return "\n".join(lines) + "\n"


def _num0(x: float) -> str:
    return f"{x:.0f}"


def _pct(x: float) -> str:
    return "" if math.isnan(x) else f"{100 * x:.0f}%"


def _num(x: float) -> str:
    return "" if math.isnan(x) else f"{x:.3f}"


def plot(family: str, data: Mapping[str, Any], path: str) -> None:
    """Solve rate and mean top-10 AUC against the budget, one line per method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    budgets = data["budgets"]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for ax, key, label in ((axes[0], "solve_rate", "solve rate"),
                           (axes[1], "top10_auc", "mean top-10 AUC")):
        for m, values in data[key].items():
            ax.plot(budgets, [values[str(n)] for n in budgets], marker="o",
                    label=f"{m} ({data['runs'][m]} runs)")
        ax.set_xscale("log")
        ax.set_xticks(budgets, [str(n) for n in budgets])
        ax.set_xlabel("evaluations (budget)")
        ax.set_title(f"{family}: {label}")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="+", help="harness result folders")
    parser.add_argument("--pair", action="append", required=True, metavar="A:B")
    parser.add_argument("--budgets", nargs="+", type=int, default=[100, 250, 500, 1000])
    parser.add_argument("--family", default="semantle")
    parser.add_argument("--tasks", nargs="+", help="only these task labels (a sub-grid)")
    parser.add_argument("--seeds", nargs="+", type=int, help="only these seeds")
    parser.add_argument("--out", required=True, help="writes OUT.json, OUT.md and OUT.png")
    args = parser.parse_args(argv)
    pairs = [tuple(p.split(":", 1)) for p in args.pair]
    if any(len(p) != 2 for p in pairs):
        parser.error("--pair takes A:B")
    runs = [r for r in load_runs(args.results)
            if (args.tasks is None or r.get("task") in args.tasks)
            and (args.seeds is None or r.get("seed") in args.seeds)]
    budgets = sorted(args.budgets)
    data = study(runs, pairs, budgets)  # type: ignore[arg-type]
    command = "python -m migrate_opt_bench.budget " + " ".join(
        shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))
    text = markdown(args.family, data)
    methods = {m for pair in pairs for m in pair}
    table = runs_markdown(every_run([r for r in runs if r.get("method") in methods],
                                    budgets[-1]), budgets[-1])
    write_markdown_and_json(args.out, text + "\n" + table, {args.family: _no_nan(data)},
                            command=command)
    plot(args.family, data, args.out + ".png")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
