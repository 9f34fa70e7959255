"""Does a stalled run recover if it may go on? Continue a copy of a finished harness run
past the loop's patience and count what its further groups evaluate.

The budget study stops a run after 50 groups in a row that evaluated nothing new and lets
its best stand for every larger budget. That is fair only if the run would not have found
more; this script checks it on a finished cell: it copies the cell's study file (the
original is never written), rebuilds the cell's optimizer from the grid's config (the
adapter resumes from the run's last checkpoint), runs ``--groups`` more groups with no
patience, and prints new evaluations per group and the best before and after.

    python benchmarks/stall_continue.py benchmarks/configs/budget.toml \\
        benchmarks/results/budget skillet__migrate__seed1 --groups 200

The cell's study file (``runs/KEY.db``) is not committed: run this where the grid ran.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from migrate_opt_bench.config_file import load_config
from migrate_opt_bench.runner import reopened

from migrate_opt import run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", help="the grid's TOML file")
    parser.add_argument("results", help="the grid's results folder (holds runs/KEY.db)")
    parser.add_argument("key", help="the cell, e.g. skillet__migrate__seed1")
    parser.add_argument("--groups", type=int, default=200, help="groups to add")
    parser.add_argument("--out", help="also write the result as JSON here")
    args = parser.parse_args(argv)
    with reopened(load_config(args.config), args.results, args.key) as (cell, db, opt):
        groups_before, evaluations_before = len(db.groups()), len(db)
        best_before = opt.best(1)[0].score
        new: list[int] = []
        start = time.perf_counter()
        result = run(opt, budget=cell.budget, iterations=args.groups,
                     patience=args.groups + 1, progress=False,
                     callbacks=[lambda _opt, _group, records: new.append(len(records))])
        out = {"key": cell.key, "groups_before": groups_before,
               "evaluations_before": evaluations_before, "best_before": best_before,
               "groups_added": len(new), "new_evaluations": sum(new),
               "groups_with_new": sum(1 for n in new if n), "new_per_group": new,
               "best_after": opt.best(1)[0].score, "stopped": result.stopped,
               "seconds": time.perf_counter() - start}
    print(json.dumps({k: v for k, v in out.items() if k != "new_per_group"}))
    if args.out:
        Path(args.out).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
