"""The demo: MiGrATe with the embedded SmolLM2-135M-Instruct plays Semantle.

    python -m migrate_opt_semantle.demo [--target computer] [--budget 200] [--iterations 30]

It warm-starts with 20 random common words (as the paper does), runs MiGrATe with the
paper's Semantle mix (every completion a neighborhood sample around one of the top 3
guesses, a GRPO step after each group), shows a progress bar, and ends with the best
guesses. Guesses score as the task's defaults do: the MiniLM sentence encoder on "What is
a {word}?", dictionary words only, function words left out. The run is stored in SQLite:
run the same command again to resume it, and ``migrate-opt show runs/demo.db`` to look at it."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .task import SemantleTask
from .vocabulary import PAPER_TARGETS
from .warm_start import warm_start

if TYPE_CHECKING:
    from migrate_opt import Migrate, RunResult

DEFAULT_STORAGE = "runs/demo.db"
WARM_START = 20


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m migrate_opt_semantle.demo",
        description="MiGrATe with SmolLM2-135M-Instruct guessing a hidden Semantle word.",
    )
    p.add_argument("--target", default="computer",
                   help=f"hidden word (the paper's: {', '.join(PAPER_TARGETS)}; or 'random')")
    p.add_argument("--budget", type=int, default=200,
                   help="guesses to spend, the 20 warm-start guesses included")
    p.add_argument("--iterations", type=int, default=30,
                   help="groups (GRPO steps) at most; bounds the wall time (about 15 s of CPU "
                        "each)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--storage", default=DEFAULT_STORAGE, help="SQLite file of the run")
    p.add_argument("--model", default="smollm2-135m-instruct",
                   help="policy: smollm2-135m-instruct, tiny-random, or a local model folder")
    p.add_argument("--engine", default=None,
                   help="generation engine: hf or openvino (default: the fastest installed)")
    return p


def study_name(args: argparse.Namespace) -> str:
    return f"demo-semantle-{args.target}-s{args.seed}"


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    _quiet_libraries()
    from migrate_opt import MigrateOptError, SQLiteDatabase, create, fastest_engine, run

    try:
        task = SemantleTask(target=args.target, warm_start=WARM_START, warm_start_seed=args.seed)
    except MigrateOptError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    Path(args.storage).parent.mkdir(parents=True, exist_ok=True)
    study = study_name(args)
    db = SQLiteDatabase(args.storage, study)
    resumed = len(db)
    print(f"Semantle: guess the hidden word {'*' * len(task.target)} "
          f"(similarity of \"What is a <guess>?\" to \"What is a <word>?\"; 1.0 is the word "
          "itself)")
    engine = args.engine or fastest_engine()
    print(f"loading {args.model}; generation engine: {engine}"
          f"{'' if args.engine else ' (the fastest installed; --engine hf for torch)'} ...",
          flush=True)
    start = time.perf_counter()
    try:
        opt = create("optimizer", "migrate", task, model=args.model, engine=engine,
                     database=db, seed=args.seed, budget=args.budget)
    except MigrateOptError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(describe_path(opt))
    if resumed:
        print(f"resuming study {study!r} in {args.storage}: {resumed} guesses already made")
    else:
        warm = warm_start(opt)
        print(f"warm start: {len(warm)} random common words, best "
              f"{warm and max(r.score or 0.0 for r in warm):.3f}")
    print(f"MiGrATe: at most {args.iterations} groups of {task.default_group_size} completions "
          f"(a GRPO step after each), up to {args.budget} guesses in all; the bar counts groups")
    result = run(opt, budget=args.budget, iterations=args.iterations, stop_when_solved=True)
    print_summary(opt, task, result, args, study, time.perf_counter() - start)
    return 0


def describe_path(opt: Migrate) -> str:
    """One line: the engine and precision that sample, the GRPO step's precision, and when
    checkpoints are written."""
    engine = opt.policy.engine.describe() if hasattr(opt.policy, "engine") else {}
    precision = f" ({engine['precision']})" if engine.get("precision") else ""
    every, seconds = opt.config.checkpoint_every, opt.config.checkpoint_seconds
    when = " or ".join([f"every {every} groups"] * (every is not None)
                       + [f"every {seconds:g} s"] * (seconds is not None))
    return (f"generation: {engine.get('engine', '?')}{precision}; GRPO step: frozen base in "
            f"{getattr(opt.policy, 'train_precision', 'float32')}; checkpoints "
            f"{when + ' and ' if when else ''}at the end")


def print_summary(opt: Migrate, task: SemantleTask, result: RunResult,
                  args: argparse.Namespace, study: str, seconds: float) -> None:
    print("\nbest guesses:")
    for i, r in enumerate(opt.best(10), 1):
        print(f"  {i:2d}. {r.solution:<16} {r.score:.4f}  ({r.source}, iteration {r.iteration})")
    if result.solved:
        found = next(r for r in opt.database.records() if r.solved)
        print(f"\nSOLVED: the hidden word was {task.target!r}, found at guess "
              f"{found.seq + 1} of {opt.n_evaluations}.")
    else:
        print(f"\nnot solved: the hidden word was {task.target!r} "
              f"({opt.n_evaluations} guesses; stopped on {result.stopped}).")
    split = ", ".join(f"{k} {v:.0f}s" for k, v in result.seconds.items()
                      if k not in ("total", "ask"))
    print(f"time: {seconds:.0f}s ({split})")
    print(f"stored in {args.storage} (study {study!r}).")
    print(f"  look at it:  migrate-opt show {args.storage} --study {study}")
    print(f"  a web page:  migrate-opt report {args.storage} --study {study} -o demo.html")
    print("  resume it:   run the same command again: it goes on for --iterations more groups,"
          " up to --budget guesses in all")


def _quiet_libraries() -> None:
    """Library chatter (weight-loading bars, deprecation notes) would bury the demo."""
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    except ImportError:
        pass


if __name__ == "__main__":
    raise SystemExit(main())
