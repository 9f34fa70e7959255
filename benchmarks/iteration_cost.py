"""Time of one MiGrATe ask/tell iteration with the default SmolLM2-135M policy on the toy
task, split into generation, evaluation, GRPO step and framework overhead (everything else:
sampling, parsing, dedup, storage, and the per-iteration checkpoint, also shown alone);
peak memory. One run per generation engine, side by side in one process: ``today`` (the
``model.generate`` path of main before engines), ``hf`` (shared prefix), ``openvino``.

    python benchmarks/iteration_cost.py --iterations 4 --group-size 8 --seed 0
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import time
from typing import Any

import torch
from generation_engine import TodayEngine
from migrate_opt_bench.result_files import command_line, provenance

import migrate_opt
from migrate_opt import load_policy
from migrate_opt.testing import ToyTask

PARTS = ("generate", "evaluate", "train", "store")


def one_engine(engine: str, args: argparse.Namespace) -> dict[str, Any]:
    t0 = time.perf_counter()
    policy = load_policy(args.model, engine=TodayEngine() if engine == "today" else engine)
    load_seconds = time.perf_counter() - t0
    opt = migrate_opt.create("optimizer", "migrate", ToyTask(), policy=policy,
                              group_size=args.group_size, seed=args.seed)
    rows: list[dict[str, float]] = []

    def record(o, group, records) -> None:  # type: ignore[no-untyped-def]
        t = group.timings
        other = t["total"] - sum(t.get(k, 0.0) for k in PARTS)
        rows.append({**{k: t.get(k, 0.0) for k in PARTS}, "checkpoint": t.get("checkpoint", 0.0),
                     "overhead": t.get("store", 0.0) + other, "total": t["total"]})

    migrate_opt.run(opt, iterations=args.iterations + 1, callbacks=[record], progress=False)
    rows = rows[1:]  # the first iteration warms up kernels, allocations and conversions
    mean = {k: statistics.mean(r[k] for r in rows) for k in rows[0]}
    print(f"{engine}: model load {load_seconds:.1f} s; mean over {len(rows)} iterations "
          f"(group {args.group_size}, {args.threads} thread(s)):")
    for k in (*PARTS[:3], "overhead", "checkpoint", "total"):
        print(f"  {k:9s} {mean[k]:8.3f} s  {100 * mean[k] / mean['total']:5.1f}%")
    return {"model_load_seconds": load_seconds, "mean_seconds": mean,
            "overhead_share": mean["overhead"] / mean["total"],
            "generate_share": mean["generate"] / mean["total"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--iterations", type=int, default=4)
    ap.add_argument("--group-size", type=int, default=8)
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("--engines", nargs="+", default=["today", "hf", "openvino"])
    ap.add_argument("--threads", type=int, default=int(os.environ.get("MIGRATE_OPT_THREADS", 1)))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="benchmarks/results/iteration_cost.json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    engines = {e: one_engine(e, args) for e in args.engines}
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result = {
        "model": args.model, "group_size": args.group_size, "iterations": args.iterations,
        "threads": args.threads, "seed": args.seed,
        "machine": f"{os.cpu_count()}-core {platform.machine()} CPU machine",
        "load_average_at_end": os.getloadavg(), "engines": engines, "peak_rss_mib": peak_mib,
    }
    print(f"  peak RSS {peak_mib:.0f} MiB; load average {os.getloadavg()[0]:.1f}")
    result["provenance"] = provenance(command_line(__file__, None))
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
