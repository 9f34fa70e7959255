"""Reliability, measured: kill -9 a running study at random points and resume it, and read
the storage (show, report) while a run writes. The machinery is
``migrate_opt.testing.reliability`` (which the test suite runs small); this script runs it
large and writes the figures to benchmarks/results/reliability.{md,json}.

    python benchmarks/reliability.py --kills 25 --budget 300 --readers 2 --seed 0
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import asdict
from pathlib import Path

from migrate_opt_bench.result_files import command_line, write_markdown_and_json

from migrate_opt.testing.concurrent_reads import concurrent_readers
from migrate_opt.testing.reliability import cli_command, kill_trials

HERE = Path(__file__).resolve()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--kills", type=int, default=25)
    p.add_argument("--budget", type=int, default=300)
    p.add_argument("--readers", type=int, default=2)
    p.add_argument("--seeds", type=int, default=1, help="independent kill series")
    p.add_argument("--cli-budget", type=int, default=1500,
                   help="budget of the CLI series (needs the baselines plugin); 0: skip it")
    p.add_argument("--out", default=str(HERE.parent / "results"))
    args = p.parse_args(argv)
    import tempfile

    start = time.monotonic()
    kills, writers = [], []
    for seed in range(args.seeds):
        with tempfile.TemporaryDirectory() as tmp:
            kills.append(kill_trials(Path(tmp), kills=args.kills, budget=args.budget,
                                     seed=seed))
            writers.append("Python API (Migrate, scripted policy)")
        if args.cli_budget:
            with tempfile.TemporaryDirectory() as tmp:
                kills.append(kill_trials(Path(tmp), kills=args.kills, budget=args.cli_budget,
                                         seed=seed, command=cli_command()))
                writers.append("CLI run/resume (ga)")
    with tempfile.TemporaryDirectory() as tmp:
        reads = concurrent_readers(Path(tmp), budget=args.budget * 2, readers=args.readers)
    result = {"command": command_line(__file__, argv),
              "kill_series": [{"writer": w, **asdict(k)} for w, k in zip(writers, kills)],
              "readers": asdict(reads),
              "wall_seconds": round(time.monotonic() - start, 1)}
    write_markdown_and_json(Path(args.out) / "reliability", _markdown(result), result,
                            command=result["command"])
    print(_markdown(result))
    bad = any(k.problems or k.records_lost or k.duplicates for k in kills) or reads.errors \
        or reads.inconsistent
    return 1 if bad else 0


KILL_COLUMNS = {
    "kills": "kills survived", "kills_mid_run": "of them mid-run",
    "finished_early": "finished before the kill", "runs": "runs", "studies": "studies",
    "records_checked": "record checks", "records_lost": "lost",
    "records_changed": "changed", "duplicates": "duplicated", "gaps": "seq gaps",
    "groups_missing": "groups missing", "final_evaluations": "evaluations at the end",
}


def _table(header: list[str], rows: list[list[object]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
            *["| " + " | ".join(map(str, row)) + " |" for row in rows]]


def _markdown(result: dict) -> str:
    ks = result["kill_series"]
    r = result["readers"]
    lines = ["# Reliability: kill -9 and resume, concurrent readers", "",
             f"Command: `{result['command']}` ({result['wall_seconds']} s wall)", ""]
    header = ["writer", "budget", *KILL_COLUMNS.values(), "seconds"]
    lines += _table(header, [[k["writer"], k["budget"], *[k[f] for f in KILL_COLUMNS],
                              round(k["seconds"])] for k in ks])
    lines += [""] + _table(
        ["in-process reads", "CLI show/report runs", "reader errors",
         "inconsistent snapshots", "evaluations written meanwhile"],
        [[r["reads"], r["cli_reads"], len(r["errors"]), r["inconsistent"],
          r["final_evaluations"]]])
    problems = [p for k in ks for p in k["problems"]] + r["errors"]
    if problems:
        lines += ["", "Problems:", *[f"- {p}" for p in problems[:20]]]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
