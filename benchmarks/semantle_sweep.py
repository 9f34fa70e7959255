"""Semantle sweep: MiGrATe vs inference-only sampling, GRPO and non-LLM random search over
the paper's ten targets, same budget for all.

    python benchmarks/semantle_sweep.py --seeds 0 1 2 --budget 300 --iterations 60

Every run warm-starts with the same 20 random common words (per seed; counted in the
budget), then spends the rest. LLM runs stop at the budget, after ``--iterations`` groups,
or when solved; an unsolved run that stops early keeps its last best for the rest of the
budget (the conservative choice), a solved one counts 1.0 from then on.

Per method: solved rate, guesses to solve (solved runs), best similarity reached, and the
area under the best-so-far curve over the budget normalised by the budget (1.0 = solved at
the first guess). Results: benchmarks/results/semantle_sweep.{md,csv,json,png}."""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import statistics
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

from migrate_opt_semantle import PAPER_TARGETS
from result_files import command_line, write_markdown_and_json

LLM_METHODS = ("migrate", "random", "grpo", "grpo-greedy", "ns", "opro")
SEARCH_METHODS = ("random-search",)
RESULTS = Path(__file__).resolve().parent / "results"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--targets", nargs="+", default=list(PAPER_TARGETS))
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--methods", nargs="+", default=["migrate", "random", "grpo", "random-search"],
                   help=f"LLM presets ({', '.join(LLM_METHODS)}) or {', '.join(SEARCH_METHODS)}")
    p.add_argument("--budget", type=int, default=300, help="guesses per run, warm start included")
    p.add_argument("--iterations", type=int, default=60, help="groups per LLM run at most")
    p.add_argument("--warm-start", type=int, default=20)
    p.add_argument("--top-k", type=int, default=3, help="parents of neighborhood prompts")
    p.add_argument("--model", default="smollm2-135m-instruct")
    p.add_argument("--workers", type=int, default=1, help="runs at once (processes)")
    p.add_argument("--out", default=str(RESULTS / "semantle_sweep"),
                   help="path stem of the result files")
    return p.parse_args(argv)


# -- one run ---------------------------------------------------------------------------------
def run_one(target: str, seed: int, method: str, args: argparse.Namespace) -> dict[str, Any]:
    """One (target, seed, method) run; returns its metrics and its score trace."""
    from migrate_opt_semantle import SemantleTask, warm_start

    from migrate_opt import run

    task = SemantleTask(target=target, warm_start=args.warm_start, warm_start_seed=seed)
    opt = build_optimizer(task, method, seed, args)
    start = time.perf_counter()
    warm_start(opt)
    iterations = args.iterations if method in LLM_METHODS else None
    result = run(opt, budget=args.budget, iterations=iterations, stop_when_solved=True,
                 progress=False)
    seconds = time.perf_counter() - start
    records = opt.database.records()
    scores = [r.score for r in records]
    solved_at = next((r.seq + 1 for r in records if r.solved), None)
    row = {
        "target": target, "seed": seed, "method": method, "solved": solved_at is not None,
        "guesses_to_solve": solved_at, "best": max((s for s in scores if s is not None),
                                                   default=None),
        "auc": best_so_far_auc(scores, args.budget, solved_at),
        "evaluations": len(records), "iterations": result.iterations,
        "stopped": result.stopped, "seconds": round(seconds, 1),
        "best_words": [r.solution for r in opt.best(3)],
    }
    print(json.dumps({k: v for k, v in row.items() if k != "best_words"}), flush=True)
    return {**row, "trace": scores}


def build_optimizer(task: Any, method: str, seed: int, args: argparse.Namespace) -> Any:
    from migrate_opt import Migrate, create, registry

    if method in LLM_METHODS:
        return Migrate(task, policy=args.model, method=method, top_k=args.top_k, seed=seed,
                       budget=args.budget)
    if method in registry().entries["optimizer"]:
        return create("optimizer", method, task, seed=seed, budget=args.budget)
    raise SystemExit(f"unknown method {method!r}: {method} needs the baselines plugin "
                     "(pip install -e plugins/baselines)")


def best_so_far_curve(scores: list[float | None], budget: int,
                      solved_at: int | None = None) -> list[float]:
    """Best similarity after each of the budget's guesses (0 before any valid one); after a
    solve it is 1.0, after an early stop it stays what it was."""
    curve, best = [], 0.0
    for i in range(budget):
        score = scores[i] if i < len(scores) else None
        if score is not None:
            best = max(best, score)
        if solved_at is not None and i + 1 >= solved_at:
            best = 1.0
        curve.append(best)
    return curve


def best_so_far_auc(scores: list[float | None], budget: int, solved_at: int | None) -> float:
    """The area under the best-so-far curve, normalised by the budget."""
    return sum(best_so_far_curve(scores, budget, solved_at)) / budget


# -- the sweep -------------------------------------------------------------------------------
def _run_cell(cell: tuple[str, int, str, argparse.Namespace]) -> dict[str, Any]:
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    logging.basicConfig(level=logging.WARNING)
    return run_one(*cell)


def summarise(rows: list[dict[str, Any]], methods: list[str]) -> list[dict[str, Any]]:
    table = []
    for m in methods:
        runs = [r for r in rows if r["method"] == m]
        if not runs:
            continue
        solved = [r["guesses_to_solve"] for r in runs if r["solved"]]
        bests = [r["best"] for r in runs if r["best"] is not None]
        table.append({
            "method": m, "runs": len(runs), "solved_rate": len(solved) / len(runs),
            "guesses_to_solve": statistics.median(solved) if solved else None,
            "best_mean": statistics.mean(bests) if bests else None,
            "best_sd": statistics.stdev(bests) if len(bests) > 1 else 0.0,
            "auc_mean": statistics.mean(r["auc"] for r in runs),
            "auc_sd": statistics.stdev([r["auc"] for r in runs]) if len(runs) > 1 else 0.0,
            "evaluations_mean": statistics.mean(r["evaluations"] for r in runs),
            "seconds_mean": statistics.mean(r["seconds"] for r in runs),
        })
    return table


def markdown(table: list[dict[str, Any]], rows: list[dict[str, Any]], command: str,
             wall: float) -> str:
    def f(x: Any, fmt: str = ".3f") -> str:
        return "-" if x is None else format(x, fmt)

    lines = [
        "# Semantle sweep", "", f"Command: `{command}`", "",
        f"Wall time: {wall / 60:.1f} min on this machine (2 shared CPU cores).", "",
        "| method | runs | solved | median guesses to solve | best similarity (mean ± sd) "
        "| AUC best-so-far (mean ± sd) | guesses used (mean) | seconds/run |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for t in table:
        lines.append(
            f"| {t['method']} | {t['runs']} | {t['solved_rate']:.0%} | "
            f"{f(t['guesses_to_solve'], '.0f')} | {f(t['best_mean'])} ± {f(t['best_sd'])} | "
            f"{t['auc_mean']:.3f} ± {t['auc_sd']:.3f} | {t['evaluations_mean']:.0f} | "
            f"{t['seconds_mean']:.0f} |"
        )
    lines += ["", "Per run:", "", "| target | seed | method | solved at | best | AUC | guesses "
              "| iterations | stopped | top words |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(
            f"| {r['target']} | {r['seed']} | {r['method']} | {f(r['guesses_to_solve'], '.0f')} "
            f"| {f(r['best'])} | {r['auc']:.3f} | {r['evaluations']} | {r['iterations']} | "
            f"{r['stopped']} | {', '.join(r['best_words'])} |"
        )
    return "\n".join(lines) + "\n"


def plot(rows: list[dict[str, Any]], methods: list[str], budget: int, path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    fig, ax = plt.subplots(figsize=(7, 4))
    for m in methods:
        curves = [best_so_far_curve(r["trace"], budget, r["guesses_to_solve"])
                  for r in rows if r["method"] == m]
        if curves:
            mean = [statistics.mean(c[i] for c in curves) for i in range(budget)]
            ax.plot(range(1, budget + 1), mean, label=m)
    ax.set_xlabel("guesses")
    ax.set_ylabel("best similarity so far (mean over runs)")
    ax.set_title("Semantle (GloVe), best-so-far")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def _cell_key(target: str, seed: int, method: str, args: argparse.Namespace) -> str:
    return json.dumps([target, seed, method, args.budget, args.iterations, args.warm_start,
                       args.top_k, args.model])


def load_finished(path: Path) -> dict[str, dict[str, Any]]:
    """Runs already finished by an earlier (possibly interrupted) call, by cell key."""
    if not path.exists():
        return {}
    done = {}
    for line in path.read_text().splitlines():
        try:
            entry = json.loads(line)
        except ValueError:  # a line cut by a crash
            continue
        done[entry["key"]] = entry["row"]
    return done


def run_cells(args: argparse.Namespace, journal: Path) -> list[dict[str, Any]]:
    """Every cell of the sweep; each finished run is appended to ``journal`` at once, so
    an interrupted sweep resumes where it stopped."""
    cells = [(t, s, m, args) for t in args.targets for s in args.seeds for m in args.methods]
    done = load_finished(journal)
    todo = [c for c in cells if _cell_key(*c) not in done]
    if done:
        print(f"resuming: {len(cells) - len(todo)} of {len(cells)} runs already done", flush=True)
    journal.parent.mkdir(parents=True, exist_ok=True)
    with journal.open("a") as log, ProcessPoolExecutor(max(1, args.workers)) as pool:
        futures = {pool.submit(_run_cell, c): c for c in todo}
        for future in as_completed(futures):
            cell, row = futures[future], future.result()
            done[_cell_key(*cell)] = row
            log.write(json.dumps({"key": _cell_key(*cell), "row": row}) + "\n")
            log.flush()
    return [done[_cell_key(*c)] for c in cells]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    start = time.perf_counter()
    rows = run_cells(args, Path(args.out).with_suffix(".runs.jsonl"))
    wall = time.perf_counter() - start
    table = summarise(rows, args.methods)
    command = command_line(__file__, argv)
    out = Path(args.out)
    write_markdown_and_json(out, markdown(table, rows, command, wall), {
        "command": command, "wall_seconds": wall, "summary": table, "runs": rows})
    with out.with_suffix(".csv").open("w", newline="") as f:
        fields = [k for k in rows[0] if k != "trace"]
        writer = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    plot(rows, args.methods, args.budget, out.with_suffix(".png"))
    print(markdown(table, [], command, wall).split("Per run:")[0])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
