"""``python benchmarks/run.py CONFIG [--budget N] [--seeds 0 1 2] [--workers N] [--ray]``."""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path
from typing import Any

from .config_file import load_config
from .report import stopped_short, write_all
from .result_files import invoked_command
from .runner import run_grid

RESULTS = Path(__file__).resolve().parent.parent / "results"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="benchmarks/run.py",
        description="Run a benchmark grid (tasks x methods x seeds); resumes what is done.",
    )
    p.add_argument("config", help="TOML file (see benchmarks/configs/)")
    p.add_argument("--out", help="results folder (default: benchmarks/results/<name>)")
    p.add_argument("--budget", type=int, help="evaluations per run (overrides the config)")
    p.add_argument("--seeds", type=int, nargs="+", help="seeds (overrides the config)")
    p.add_argument("--workers", type=int, help="runs at once in local processes")
    p.add_argument("--tasks", nargs="+", help="only these task labels of the config")
    p.add_argument("--methods", nargs="+", help="only these method labels of the config")
    p.add_argument("--llm-iterations", type=int,
                   help="cap on groups of every LLM method (overrides max_iterations)")
    p.add_argument("--ray", action="store_true",
                   help="run each cell as a Ray task (RAY_ADDRESS picks a cluster)")
    p.add_argument("--report-only", action="store_true",
                   help="only rewrite the tables and plots from finished runs")
    p.add_argument("-v", "--verbose", action="store_true")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    config = load_config(args.config, tasks=args.tasks, methods=args.methods,
                         llm_iterations=args.llm_iterations, budget=args.budget,
                         seeds=args.seeds, workers=args.workers)
    out = args.out or str(RESULTS / config.name)
    cells = config.cells()
    print(f"{config.name}: {len(cells)} runs ({len(config.tasks)} tasks x "
          f"{len(config.methods)} methods x {len(config.seeds)} seeds), budget "
          f"{config.budget}, results in {out}", flush=True)
    start = time.perf_counter()

    def show(r: dict[str, Any]) -> None:
        if "error" in r:
            print(f"  FAILED {r['key']}: {r['error']}", flush=True)
        else:
            short = (f" (STOPPED SHORT of {r['budget']}: {r['stopped']})" if stopped_short(r)
                     else "")
            print(f"  {r['key']}: best {r['best_score']}, top-1 AUC {r['top1_auc']:.4f}, "
                  f"{r['evaluations']} evals{short}, {r['total_s']:.1f} s", flush=True)

    if args.report_only:
        from .runner import run_cell

        done = [c for c in cells if (Path(out) / "runs" / f"{c.key}.json").exists()]
        results = [run_cell(c, out) for c in done]
    else:
        results = run_grid(config, out, workers=args.workers, use_ray=args.ray,
                           on_result=show)
    command = invoked_command("run.py", argv)
    paths = write_all(config, results, out, command=command)
    print(Path(paths["markdown"]).read_text())
    print(f"wall time {time.perf_counter() - start:.0f} s; wrote "
          + ", ".join(str(p) for p in paths.values()))
    return 1 if any("error" in r for r in results) else 0
