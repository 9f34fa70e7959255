"""How often sampled answers are valid with and without the task's answer grammar, and what
constraining costs per token.

    python benchmarks/answer_grammar.py --tasks semantle qed --groups 5 --group-size 8

For each task, samples groups of completions of the canonical prompt (temperature 1, top_p
1, as docs/method.md samples) with the task's response prefix and stop strings, alternating, group
by group in one process, between free sampling and sampling under ``task.answer_grammar``
(same seeds). Prints and writes, per task and mode: completions with at least one valid
solution (as a run parses them), answers the grammar accepts, answers cut by the token cap,
distinct valid solutions, sampled tokens, seconds per group and per token. Writes
benchmarks/results/answer_grammar.{md,json}; the JSON's ``valid_rate`` is
``{task: {"grammar": rate, "none": rate}}``, also copied into generation_engine.json when
that file is there and the output is the default one."""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from .result_files import command_line, write_markdown_and_json

RESULTS = Path(__file__).resolve().parents[1] / "results"
TASK_OPTIONS: dict[str, dict[str, Any]] = {"semantle": {"target": "computer"}}
MODES = ("none", "grammar")


class TimedProcessors:
    """Wraps the policy's grammar processors to time them: the mask's own cost per step."""

    def __init__(self, constraints: Any) -> None:
        self.build, self.seconds, self.calls = constraints.processor, 0.0, 0
        constraints.processor = self.processor

    def processor(self, *args: Any, **kwargs: Any) -> Any:
        inner = self.build(*args, **kwargs)

        def timed(input_ids: Any, scores: Any) -> Any:
            start = time.perf_counter()
            out = inner(input_ids, scores)
            self.seconds += time.perf_counter() - start
            self.calls += 1
            return out

        return timed


def sample_group(policy: Any, task: Any, size: int, seed: int, mode: str) -> dict[str, Any]:
    """One group of ``size`` completions; what a run would keep from it."""
    from migrate_opt.migrate import parse_completion

    max_new = task.max_new_tokens
    start = time.perf_counter()
    spec = task.prompt_spec()
    if mode != "grammar":
        spec = replace(spec, grammar=None)
    gens = policy.generate([task.prompt()] * size, spec, seed=seed)
    seconds = time.perf_counter() - start
    solutions = [parse_completion(task, g.text)[0] for g in gens]
    return {
        "seconds": seconds,
        "valid": [bool(s) for s in solutions],
        "solutions": [x for s in solutions for x in s],
        "grammatical": [task.answer_grammar.matches(g.text) for g in gens],
        "grammar_prefix": [task.answer_grammar.allows_prefix(g.text) for g in gens],
        "capped": [len(g.token_ids) >= max_new for g in gens],
        "tokens": sum(len(g.token_ids) for g in gens),
        "texts": [g.text for g in gens],
    }


def summarise(task: str, mode: str, groups: list[dict[str, Any]]) -> dict[str, Any]:
    valid = [v for g in groups for v in g["valid"]]
    tokens = sum(g["tokens"] for g in groups)
    seconds = sum(g["seconds"] for g in groups)
    return {
        "task": task, "mode": mode, "completions": len(valid), "valid": sum(valid),
        "valid_rate": round(sum(valid) / len(valid), 3),
        "grammatical": sum(v for g in groups for v in g["grammatical"]),
        "grammar_prefix": sum(v for g in groups for v in g["grammar_prefix"]),
        "capped": sum(v for g in groups for v in g["capped"]),
        "distinct": len({s for g in groups for s in g["solutions"]}),
        "tokens": tokens, "seconds_per_group": round(seconds / len(groups), 2),
        "ms_per_token": round(1000 * seconds / max(tokens, 1), 1),
        "texts": [t for g in groups for t in g["texts"]],
    }  # fmt: skip


def run_task(policy: Any, name: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    from migrate_opt import create

    task = create("task", name, **TASK_OPTIONS.get(name, {}))
    per_mode: dict[str, list[dict[str, Any]]] = {m: [] for m in MODES}
    for group in range(args.groups):
        # Alternate the order so that neither mode always runs on a warmer machine.
        order = MODES if group % 2 == 0 else MODES[::-1]
        for mode in order:
            result = sample_group(policy, task, args.group_size, args.seed + group, mode)
            per_mode[mode].append(result)
            print(json.dumps({"task": name, "mode": mode, "group": group,
                              "valid": sum(result["valid"]),
                              "seconds": round(result["seconds"], 2)}), flush=True)
    return [summarise(name, mode, per_mode[mode]) for mode in MODES]


def versions() -> dict[str, str]:
    names = ("torch", "transformers", "llguidance", "migrate-opt")
    return {n: importlib.metadata.version(n) for n in names} | {"python": platform.python_version()}


def markdown(rows: list[dict[str, Any]], data: dict[str, Any]) -> str:
    versions = ", ".join(f"{k} {v}" for k, v in data["versions"].items())
    lines = [
        "# Valid answers from smollm2-135m-instruct with and without the answer grammar", "",
        f"Command: `{data['command']}`  ",
        f"Machine: {data['machine']}, one torch thread; load average "
        f"{data['load_average']['start']:.1f} at the start, {data['load_average']['end']:.1f} "
        f"at the end.  ", f"Versions: {versions}.  ",
        f"Grammar set-up (the tokenizer's llguidance view, once per policy): "
        f"{data['grammar_setup_seconds']:.2f} s.", "",
        "Valid: at least one valid solution, as a run parses it. Grammatical: a complete "
        "answer of the task's grammar; grammatical start: the grammar allows it as the start "
        "of an answer (complete, or cut by the token cap).", "",
        "| task | grammar | valid / completions | grammatical | grammatical start | "
        "cut by the cap | distinct solutions | tokens | s / group | ms / token |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]  # fmt: skip
    lines += [
        f"| {r['task']} | {'yes' if r['mode'] == 'grammar' else 'no'} | {r['valid']} / "
        f"{r['completions']} | {r['grammatical']} | {r['grammar_prefix']} | {r['capped']} | "
        f"{r['distinct']} | "
        f"{r['tokens']} | {r['seconds_per_group']} | {r['ms_per_token']} |"
        for r in rows
    ]
    ratios = [f"{task} {ratio:.2f}" for task, ratio in data["seconds_per_group_ratio"].items()]
    lines += ["", f"Seconds per group, grammar / none: {', '.join(ratios)}. Per token: "
              + ", ".join(f"{t} {r:.2f}" for t, r in data["ms_per_token_ratio"].items())
              + f". The grammar mask itself (a batch of {data['group_size']}): "
              f"{data['mask_ms_per_step']} ms per decoding step."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tasks", nargs="+", default=["semantle", "qed"])
    p.add_argument("--groups", type=int, default=5, help="groups per task and mode")
    p.add_argument("--group-size", type=int, default=8)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--model", default="smollm2-135m-instruct")
    p.add_argument("--out", default=str(RESULTS / "answer_grammar"))
    args = p.parse_args(argv)
    from migrate_opt import load_policy
    from migrate_opt.policy.hf import HFPolicy

    load_start = os.getloadavg()[0]
    policy = load_policy(args.model)
    if not isinstance(policy, HFPolicy):
        raise SystemExit(f"{args.model!r} is not a transformers policy: grammar timing needs one")
    start = time.perf_counter()
    timer = TimedProcessors(policy.grammar_constraints)  # built once per policy
    setup = time.perf_counter() - start
    rows = [row for name in args.tasks for row in run_task(policy, name, args)]
    by = {(r["task"], r["mode"]): r for r in rows}
    data = {
        "command": command_line("answer_grammar.py", argv),
        "machine": f"{os.cpu_count()}-core {platform.machine()} CPU machine",
        "load_average": {"start": load_start, "end": os.getloadavg()[0]},
        "versions": versions(), "grammar_setup_seconds": round(setup, 3),
        "mask_ms_per_step": round(1000 * timer.seconds / max(timer.calls, 1), 2),
        "valid_rate": {t: {m: by[t, m]["valid_rate"] for m in ("grammar", "none")}
                       for t in args.tasks},
        "seconds_per_group_ratio": {t: by[t, "grammar"]["seconds_per_group"]
                                    / by[t, "none"]["seconds_per_group"] for t in args.tasks},
        "ms_per_token_ratio": {t: by[t, "grammar"]["ms_per_token"] / by[t, "none"]["ms_per_token"]
                               for t in args.tasks},
        "group_size": args.group_size, "rows": rows,
    }  # fmt: skip
    text = markdown(rows, data)
    print(text)
    write_markdown_and_json(args.out, text, data)
    engine = RESULTS / "generation_engine.json"
    if Path(args.out) == RESULTS / "answer_grammar" and engine.is_file():
        merged = json.loads(engine.read_text())
        merged["valid_rate"] = data["valid_rate"]
        engine.write_text(json.dumps(merged, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
