"""Molecule design on a fast RDKit objective (no docking): MiGrATe with SmolLM2,
inference-only LLM sampling, Graph GA and random sampling from the ZINC pool, over several
seeds with the same budget of evaluations. Prints and writes top-1 / top-10 AUC (the PMO
convention) and the best molecules.

    python benchmarks/molecules_fast.py --task qed --budget 48 --seeds 0 1 2 \
        --max-iterations 6 --group-size 8

AUC (PMO, Gao et al. 2022): the mean over n = 1..budget of the mean score of the k best
molecules among the first n evaluations (missing molecules and invalid ones count 0; a run
that stops early keeps its final value up to the budget), so 1.0 is the best possible.
LLM methods are also capped by ``--max-iterations`` to fit a CPU: the table says how many
evaluations each run actually made."""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any

import migrate_opt
from migrate_opt import Record

METHODS = ("migrate", "llm-random", "ga", "random-search")
LABELS = {
    "migrate": "MiGrATe (SmolLM2-135M, GRPO)",
    "llm-random": "inference-only LLM sampling (SmolLM2-135M)",
    "ga": "Graph GA (mol-ga operators)",
    "random-search": "random ZINC molecules",
}


def top_k_auc(scores: list[float | None], k: int, budget: int) -> float:
    """PMO's top-k AUC, computed at every evaluation (not every 100) and normalised."""
    best: list[float] = []
    total, current = 0.0, 0.0
    for n in range(budget):
        if n < len(scores):
            s = scores[n]
            best = sorted(best + [s if s is not None else 0.0], reverse=True)[:k]
            current = sum(best) / k
        total += current
    return total / budget


def make_optimizer(method: str, task: Any, seed: int, budget: int, group_size: int,
                   policy: Any, invalid_reward: float | None = None) -> migrate_opt.Optimizer:
    if method in ("migrate", "llm-random"):
        from migrate_opt.grpo import GRPOConfig

        name = "migrate" if method == "migrate" else "random"
        grpo = GRPOConfig(invalid="mask" if invalid_reward is None else invalid_reward)
        return migrate_opt.create("optimizer", name, task, policy=policy(), group_size=group_size,
                                   seed=seed, budget=budget,
                                   grpo=grpo if name == "migrate" else None)
    options = {"offspring_size": group_size} if method == "ga" else {"batch_size": group_size}
    return migrate_opt.create("optimizer", method, task, seed=seed, budget=budget, **options)


def run_one(method: str, args: argparse.Namespace, seed: int) -> dict[str, Any]:
    from migrate_opt.policy import load_policy

    task = migrate_opt.create("task", args.task)
    opt = make_optimizer(method, task, seed, args.budget, args.group_size,
                         lambda: load_policy(args.model), args.invalid_reward)
    llm = method in ("migrate", "llm-random")
    start = time.perf_counter()
    result = migrate_opt.run(opt, budget=args.budget,
                             iterations=args.max_iterations if llm else None, progress=False)
    seconds = time.perf_counter() - start
    records: list[Record] = sorted(opt.database.records(), key=lambda r: r.seq)
    scores = [r.score for r in records]
    valid = [s for s in scores if s is not None]
    best = opt.best(1)
    return {
        "method": method, "seed": seed, "evaluations": len(records),
        "iterations": result.iterations, "seconds": round(seconds, 1),
        "top1_auc": top_k_auc(scores, 1, args.budget),
        "top10_auc": top_k_auc(scores, 10, args.budget),
        "top1": max(valid) if valid else None,
        "top10_mean": statistics.mean(sorted(valid, reverse=True)[:10] + [0.0] * max(
            0, 10 - len(valid))) if valid else 0.0,
        "best": best[0].solution if best else None,
        "time_split": {k: round(v, 1) for k, v in result.seconds.items()},
    }


def summarise(rows: list[dict[str, Any]], methods: list[str]) -> list[dict[str, Any]]:
    out = []
    for m in methods:
        rs = [r for r in rows if r["method"] == m]
        if not rs:
            continue

        def ms(key: str, rs: list[dict[str, Any]] = rs) -> str:
            vals = [r[key] if r[key] is not None else 0.0 for r in rs]
            sd = statistics.stdev(vals) if len(vals) > 1 else 0.0
            return f"{statistics.mean(vals):.3f} ± {sd:.3f}"

        out.append({"method": LABELS[m], "top1_auc": ms("top1_auc"),
                    "top10_auc": ms("top10_auc"), "top1": ms("top1"),
                    "evaluations": "/".join(str(r["evaluations"]) for r in rs),
                    "seconds_per_run": f"{statistics.mean(r['seconds'] for r in rs):.0f}"})
    return out


def write(rows: list[dict[str, Any]], table: list[dict[str, Any]], args: argparse.Namespace,
          wall: float) -> None:
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"molecules_fast_{args.task}{'_' + args.tag if args.tag else ''}"
    meta = {"command": "python benchmarks/molecules_fast.py " + " ".join(args.argv),
            "machine": f"{os.cpu_count()} cores ({platform.machine()}), shared",
            "load_average": os.getloadavg(), "wall_seconds": round(wall, 1)}
    (out / f"{stem}.json").write_text(json.dumps({**meta, "runs": rows, "table": table},
                                                 indent=2))
    with open(out / f"{stem}.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=[k for k in rows[0] if k != "time_split"],
                           extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    lines = [f"# Fast molecule objective `{args.task}`: budget {args.budget} evaluations, "
             f"seeds {' '.join(map(str, args.seeds))}", "",
             f"Command: `{meta['command']}`  ", f"Machine: {meta['machine']}; wall time "
             f"{wall / 60:.1f} min; load average at the end {meta['load_average'][0]:.1f}.", "",
             "| method | top-1 AUC | top-10 AUC | best score | evaluations per seed | s/run |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {t['method']} | {t['top1_auc']} | {t['top10_auc']} | {t['top1']} | "
              f"{t['evaluations']} | {t['seconds_per_run']} |" for t in table]
    lines += ["", "Mean ± standard deviation over seeds. AUC as in PMO, computed at every "
              "evaluation; a run that stops early (iteration cap) keeps its last value."]
    (out / f"{stem}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main() -> None:
    import sys

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--task", default="qed", help="qed, similarity or osimertinib-mpo")
    ap.add_argument("--budget", type=int, default=48, help="evaluations per run")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    ap.add_argument("--group-size", type=int, default=8)
    ap.add_argument("--max-iterations", type=int, default=None,
                    help="cap on LLM iterations (CPU time); None: until the budget")
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("--invalid-reward", type=float, default=None,
                    help="GRPO reward of completions with no valid SMILES (default: masked)")
    ap.add_argument("--tag", default="", help="suffix of the result files")
    ap.add_argument("--out-dir", default="benchmarks/results")
    args = ap.parse_args()
    args.argv = sys.argv[1:]
    start = time.perf_counter()
    rows = []
    for method in args.methods:
        for seed in args.seeds:
            row = run_one(method, args, seed)
            print(json.dumps(row), flush=True)
            rows.append(row)
    write(rows, summarise(rows, args.methods), args, time.perf_counter() - start)


if __name__ == "__main__":
    main()
