"""How often a model's sampled answers parse, with and without the task's response prefix.

    python benchmarks/answer_format.py --tasks semantle qed --completions 20 --seed 1

For each task, samples the same number of completions of the canonical prompt (temperature
1, top_p 1, as the method samples: docs/method.md) twice, side by side in one process: once
from the bare chat prompt (no prefix, no stop string), once with the task's ``response_prefix`` and
``stop``. Prints completions with at least one valid solution, distinct valid solutions,
sampled tokens and seconds. Writes benchmarks/results/answer_format.{md,json}."""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from migrate_opt_bench.result_files import command_line, write_markdown_and_json

RESULTS = Path(__file__).resolve().parents[1] / "results"
TASK_OPTIONS: dict[str, dict[str, Any]] = {"semantle": {"target": "computer"}}


def sample(policy: Any, task: Any, n: int, seed: int, opened: bool) -> dict[str, Any]:
    from migrate_opt.migrate import parse_completion

    start = time.perf_counter()
    spec = task.prompt_spec()
    if not opened:
        spec = replace(spec, response_prefix="", stop=())
    gens = policy.generate([task.prompt()] * n, spec, seed=seed)
    seconds = time.perf_counter() - start
    solutions = [parse_completion(task, g.text)[0] for g in gens]  # as a run parses
    return {
        "opened": opened, "completions": n, "valid": sum(bool(s) for s in solutions),
        "distinct": len({x for s in solutions for x in s}),
        "tokens": sum(len(g.token_ids) for g in gens), "seconds": round(seconds, 1),
        "examples": [g.text[:80] for g in gens[:3]],
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tasks", nargs="+", default=["semantle", "qed"])
    p.add_argument("--completions", type=int, default=20)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--model", default="smollm2-135m-instruct")
    p.add_argument("--out", default=str(RESULTS / "answer_format"))
    args = p.parse_args(argv)
    from migrate_opt import create, load_policy

    policy = load_policy(args.model)
    rows = []
    for name in args.tasks:
        task = create("task", name, **TASK_OPTIONS.get(name, {}))
        for opened in (False, True):
            rows.append({"task": name, **sample(policy, task, args.completions, args.seed,
                                                 opened)})
            print(json.dumps(rows[-1]), flush=True)
    command = command_line("answer_format.py", argv)
    lines = [f"# Parseable answers from {args.model}, with and without the response prefix",
             "", f"Command: `{command}`  ",
             f"Machine: {os.cpu_count()} cores, one torch thread; load average at the end "
             f"{os.getloadavg()[0]:.1f}.", "",
             "| task | answer opened | valid / completions | distinct solutions | tokens | s |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {r['task']} | {'yes' if r['opened'] else 'no'} | {r['valid']} / "
              f"{r['completions']} | {r['distinct']} | {r['tokens']} | {r['seconds']} |"
              for r in rows]
    text = "\n".join(lines) + "\n"
    print(text)
    write_markdown_and_json(args.out, text, {"command": command, "rows": rows}, command=command)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
