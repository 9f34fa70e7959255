"""Paired comparisons of two methods over the same (task, seed) cells of harness runs.

A pair is one task and one seed run by both methods with the same budget. Per family of
tasks: wins / losses / ties of method A on a metric (ties within ``tie`` of each other),
the exact two-sided sign test on the non-tied pairs, and a percentile bootstrap interval
on the mean paired difference. The statistics are written out by hand: they are short, and
the harness should not need scipy.

    python -m migrate_opt_bench.paired RESULTS_DIR [RESULTS_DIR ...] \\
        --pair migrate:untrained --family semantle=airbase,cement,... --out comparison
    python -m migrate_opt_bench.paired RESULTS_DIR --config grid.toml --pair A:B --out X
        # the families of the grid's [benchmark] families

Runs are read from each folder's ``runs/*.json`` (one file per finished cell), so a grid
run in parts, with ``--tasks``/``--methods``, is compared whole; a fresh clone, which has
only the committed ``runs.json``, reads that. Writes OUT.json and OUT.md
with the command, machine and load, and OUT.png: the mean paired difference and its
interval per comparison and family.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import shlex
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .result_files import write_markdown_and_json


def sign_test(wins: int, losses: int) -> float:
    """Exact two-sided binomial p-value of ``wins`` against ``losses`` at p = 1/2."""
    n = wins + losses
    if n == 0:
        return 1.0
    k = min(wins, losses)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    return min(1.0, 2 * tail)


def bootstrap_interval(
    diffs: Sequence[float], draws: int = 10_000, level: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``diffs``."""
    if not diffs:
        return (math.nan, math.nan)
    rng = random.Random(seed)
    n = len(diffs)
    means = sorted(sum(rng.choices(diffs, k=n)) / n for _ in range(draws))
    lo = means[int((1 - level) / 2 * draws)]
    hi = means[min(draws - 1, int((1 + level) / 2 * draws))]
    return (lo, hi)


def pairs(
    runs: Iterable[Mapping[str, Any]], a: str, b: str, metric: str, tasks: Iterable[str]
) -> list[tuple[str, int, float, float]]:
    """(task, seed, A's metric, B's metric) for every cell both methods finished."""
    wanted = set(tasks)
    table = {(r["task"], r["seed"], r["method"]): r[metric] for r in runs
             if "error" not in r and r.get(metric) is not None and r["task"] in wanted}
    return sorted(
        (task, seed, table[(task, seed, a)], table[(task, seed, b)])
        for (task, seed, method) in table
        if method == a and (task, seed, b) in table
    )


def compare(
    runs: Sequence[Mapping[str, Any]], a: str, b: str, tasks: Iterable[str],
    metric: str = "top10_auc", tie: float = 1e-9,
) -> dict[str, Any]:
    """The paired statistics of ``a`` against ``b`` on ``tasks``."""
    rows = pairs(runs, a, b, metric, tasks)
    diffs = [x - y for _, _, x, y in rows]
    wins = sum(d > tie for d in diffs)
    losses = sum(d < -tie for d in diffs)
    lo, hi = bootstrap_interval(diffs)
    a_mean = _mean(x for _, _, x, _ in rows)
    return {
        "metric": metric, "pairs": len(rows), "wins": wins, "losses": losses,
        "ties": len(rows) - wins - losses, "p": sign_test(wins, losses),
        "mean_diff": sum(diffs) / len(diffs) if diffs else math.nan,
        "ci95": [lo, hi], f"{a}_mean": a_mean, f"{b}_mean": _mean(y for _, _, _, y in rows),
        "auc_mean": a_mean,  # A's mean of ``metric`` on the pairs, under the name
    }


def _mean(values: Iterable[float]) -> float:
    v = list(values)
    return sum(v) / len(v) if v else math.nan


def load_runs(folders: Sequence[str]) -> list[dict[str, Any]]:
    """Every finished cell of the harness result ``folders``: the per-cell files where the
    grid ran here, else the committed ``runs.json``."""
    out: list[dict[str, Any]] = []
    for folder in map(Path, folders):
        cells = sorted((folder / "runs").glob("*.json"))
        if cells:
            out += [json.loads(f.read_text()) for f in cells]
        elif (folder / "runs.json").exists():
            out += json.loads((folder / "runs.json").read_text())["runs"]
        else:
            raise SystemExit(f"no finished runs in {folder}: run the grid first")
    return out


def markdown(results: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> str:
    lines = ["| family | A vs B | pairs | wins | losses | ties | sign-test p | mean diff "
             "[95% CI] | A mean | B mean |", "|---|---|---|---|---|---|---|---|---|---|"]
    for family, comparisons in results.items():
        for name, s in comparisons.items():
            a, b = name.split("_vs_")
            if not s["pairs"]:
                lines.append(f"| {family} | {a} vs {b} | 0 | not run | | | | | | |")
                continue
            lo, hi = s["ci95"]
            lines.append(
                f"| {family} | {a} vs {b} | {s['pairs']} | {s['wins']} | {s['losses']} | "
                f"{s['ties']} | {s['p']:.3g} | {s['mean_diff']:+.4f} [{lo:+.4f}, {hi:+.4f}] "
                f"| {s[a + '_mean']:.4f} | {s[b + '_mean']:.4f} |"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="*", help="harness result folders (runs.json)")
    parser.add_argument("--pair", action="append", default=[], metavar="A:B")
    parser.add_argument("--family", action="append", default=[], metavar="NAME=T1,T2")
    parser.add_argument("--config", help="a harness config: its [benchmark] families")
    parser.add_argument("--metric", default="top10_auc")
    parser.add_argument("--out", required=True, help="writes OUT.json and OUT.md")
    parser.add_argument("--replot", action="store_true",
                        help="only draw OUT.png again from the OUT.json written before")
    args = parser.parse_args(argv)
    if args.replot:
        stored = json.loads(Path(args.out + ".json").read_text())
        stored.pop("provenance", None)
        plot(stored, args.out + ".png", args.metric)
        return 0
    if not args.results or not args.pair:
        parser.error("give the result folders and at least one --pair A:B")
    families = dict(fam.partition("=")[::2] for fam in args.family)
    if args.config:
        from .config_file import load_config

        families.update({k: ",".join(v) for k, v in load_config(args.config).families.items()})
    if not families:
        parser.error("name the families: --family NAME=T1,T2 or --config with families")
    runs = load_runs(args.results)
    results: dict[str, dict[str, Any]] = {}
    for name, tasks in families.items():
        results[name] = {}
        for pair in args.pair:
            a, _, b = pair.partition(":")
            results[name][f"{a}_vs_{b}"] = compare(runs, a, b, tasks.split(","), args.metric)
    command = "python -m migrate_opt_bench.paired " + " ".join(
        shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))
    write_markdown_and_json(args.out, markdown(results), _no_nan(results), command=command)
    plot(results, args.out + ".png", args.metric)
    print(markdown(results))
    return 0


def _no_nan(value: Any) -> Any:
    """``value`` with NaN (no pairs yet) as null, so the JSON stays standard."""
    if isinstance(value, Mapping):
        return {k: _no_nan(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_no_nan(v) for v in value]
    return None if isinstance(value, float) and math.isnan(value) else value


def plot(results: Mapping[str, Mapping[str, Mapping[str, Any]]], path: str,
         metric: str) -> None:
    """One panel per family: each comparison's mean paired difference with its 95%
    interval, and the line of no difference. A significant win (sign test p < 0.05, A
    ahead) is a green dot, a significant loss a red square, noise a hollow grey dot."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    results = {f: {n: s for n, s in c.items() if s["pairs"]} for f, c in results.items()}
    fams = [f for f in results if results[f]]
    if not fams:
        return
    fig, axes = plt.subplots(1, len(fams), figsize=(6.5 * len(fams), 0.5 + 0.45 * max(
        len(results[f]) for f in fams)), squeeze=False)
    for ax, fam in zip(axes[0], fams, strict=True):
        names = list(results[fam])
        for y, name in enumerate(names):
            s = results[fam][name]
            lo, hi = s["ci95"]
            marker, color, face = _verdict_style(s)
            ax.errorbar(s["mean_diff"], y, xerr=[[s["mean_diff"] - lo], [hi - s["mean_diff"]]],
                        fmt=marker, color=color, mfc=face, ms=7, capsize=3)
        ax.axvline(0, color="black", lw=0.8)
        ax.xaxis.set_major_locator(MaxNLocator(6))
        ax.set_yticks(range(len(names)),
                      [f"{n.replace('_vs_', ' vs ')} ({results[fam][n]['wins']}-"
                       f"{results[fam][n]['losses']})" for n in names])
        ax.invert_yaxis()
        ax.set_title(f"{fam}: paired {metric} difference")
        ax.set_xlabel("A - B: mean, 95% bootstrap CI\n"
                      "green: A wins, red square: A loses (p < 0.05), hollow: noise")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _verdict_style(s: Mapping[str, Any]) -> tuple[str, str, str]:
    """(marker, colour, face) of a comparison: significant win, significant loss, noise."""
    if s["p"] < 0.05 and s["mean_diff"] > 0:
        return "o", "tab:green", "tab:green"
    if s["p"] < 0.05 and s["mean_diff"] < 0:
        return "s", "tab:red", "tab:red"
    return "o", "tab:gray", "white"


if __name__ == "__main__":
    raise SystemExit(main())
