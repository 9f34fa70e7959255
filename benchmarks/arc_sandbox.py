"""Throughput of the ARC program sandbox: programs per second and the cost per program,
for several batch sizes, worker counts and OS isolation modes, against running the same
programs in this process with no protection at all (the lower bound).

Every program is run on the training and test inputs of one real ARC task, as the task's
``evaluate`` does.

    python benchmarks/arc_sandbox.py --programs 128 --batch-sizes 1,8,32 --workers 1,2
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import numpy as np
from migrate_opt_arc import ArcTask
from migrate_opt_arc.sandbox import Sandbox, SandboxConfig, layers, works
from migrate_opt_bench.result_files import command_line, write_markdown_and_json

TASK_ID = "00576224"
PROGRAMS = [
    # correct
    "import numpy as np\ndef transform(grid):\n    row = np.tile(grid, (1, 3))\n"
    "    flipped = np.tile(grid[:, ::-1], (1, 3))\n    return np.vstack([row, flipped, row])",
    # wrong but valid
    "import numpy as np\ndef transform(grid):\n    return np.tile(grid, (3, 3))",
    # loops in pure python
    "def transform(grid):\n    out = [[0] * 6 for _ in range(6)]\n    for y in range(6):\n"
    "        for x in range(6):\n            out[y][x] = int(grid[y % 2][x % 2])\n    return out",
    # raises
    "def transform(grid):\n    return grid[10]",
]


def in_process(programs: list[str], inputs: list) -> float:
    """Seconds to exec and run the programs here, unprotected (the lower bound)."""
    start = time.perf_counter()
    for source in programs:
        namespace: dict = {}
        exec(compile(source, "<program>", "exec"), namespace)
        for grid in inputs:
            try:
                np.asarray(namespace["transform"](np.array(grid)))
            except Exception:
                pass
    return time.perf_counter() - start


def measure(config: SandboxConfig, programs: list[str], inputs: list, repeats: int) -> float:
    sandbox = Sandbox(config)
    sandbox.run(programs[:1], inputs)  # detect isolation and warm the file cache
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        sandbox.run(programs, inputs)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--programs", type=int, default=128, help="programs per measurement")
    ap.add_argument("--batch-sizes", default="1,8,32", help="programs per worker process")
    ap.add_argument("--workers", default="1,2", help="worker processes in parallel")
    ap.add_argument("--isolation", default="bwrap,none", help="OS isolation modes to compare")
    ap.add_argument("--repeats", type=int, default=3, help="median of this many runs")
    ap.add_argument("--seed", type=int, default=0, help="(programs are fixed; kept for the "
                    "benchmark convention)")
    ap.add_argument("--out", default="benchmarks/results/arc_sandbox")
    args = ap.parse_args()

    task = ArcTask(TASK_ID)
    inputs = task.inputs
    programs = [PROGRAMS[i % len(PROGRAMS)] for i in range(args.programs)]
    baseline = min(in_process(programs, inputs) for _ in range(args.repeats))
    rows = []
    for mode in args.isolation.split(","):
        if not works(mode):
            print(f"skipping isolation {mode}: not usable on this machine")
            continue
        for workers in map(int, args.workers.split(",")):
            for batch in map(int, args.batch_sizes.split(",")):
                config = SandboxConfig(isolation=mode, workers=workers, batch_size=batch)
                seconds = measure(config, programs, inputs, args.repeats)
                rows.append({
                    "isolation": mode, "workers": workers, "batch_size": batch,
                    "seconds": seconds, "programs_per_second": len(programs) / seconds,
                    "ms_per_program": 1000 * seconds / len(programs),
                    "overhead_ms_per_program": 1000 * (seconds - baseline) / len(programs),
                })
                print(f"{mode:7s} workers={workers} batch={batch:3d}: "
                      f"{rows[-1]['programs_per_second']:7.1f} programs/s, "
                      f"{rows[-1]['ms_per_program']:6.1f} ms/program")
    result = {
        "task": TASK_ID, "inputs_per_program": len(inputs), "programs": len(programs),
        "repeats": args.repeats, "machine": f"{os.cpu_count()} cores, {platform.machine()}",
        "load_average_at_end": os.getloadavg(),
        "in_process_ms_per_program": 1000 * baseline / len(programs),
        "layers": layers(SandboxConfig()), "rows": rows,
    }
    print(f"in-process, unprotected: {result['in_process_ms_per_program']:.2f} ms/program")
    write(args.out, result, command_line(__file__, None))


def write(stem: str, result: dict, command: str) -> None:
    lines = [
        f"# ARC sandbox throughput ({result['machine']})", "",
        f"{result['programs']} programs (a mix of correct, wrong, pure-Python and raising "
        f"ones), each run on the {result['inputs_per_program']} inputs of ARC task "
        f"{result['task']}; median of {result['repeats']} runs. Unprotected in-process "
        f"execution takes {result['in_process_ms_per_program']:.2f} ms per program. "
        f"Load average at the end: {', '.join(f'{x:.1f}' for x in result['load_average_at_end'])}"
        " (a shared machine).", "",
        "| isolation | workers | programs per worker | programs/s | ms/program | "
        "overhead ms/program |", "|---|---|---|---|---|---|",
    ]
    lines += [f"| {r['isolation']} | {r['workers']} | {r['batch_size']} | "
              f"{r['programs_per_second']:.1f} | {r['ms_per_program']:.1f} | "
              f"{r['overhead_ms_per_program']:.1f} |" for r in result["rows"]]
    lines += ["", "Active layers (default configuration):", ""]
    lines += [f"- {k}: {v}" for k, v in result["layers"].items()]
    write_markdown_and_json(stem, "\n".join(lines) + "\n", result, command=command)


if __name__ == "__main__":
    main()
