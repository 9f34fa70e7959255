"""Generation engines side by side in one process: today's ``model.generate`` path, the
``hf`` engine (shared-prefix prefill) and the ``openvino`` engine (adapter applied) at its
default precision and in fp32.

    python benchmarks/generation_engine.py --repeats 3 --tokens 32

The groups are the ones a run asks for: one Semantle group of 8 (after the 20-word warm
start every member is a neighbourhood sample of one of the top 3 guesses: 3 distinct
prompts) and one QED group of 8 (no history yet: all on-policy, one prompt), captured from
``Migrate.ask`` with SmolLM2-135M-Instruct. Every engine gets the same prompt tokens, seed
and a fixed length (``--tokens`` per member, EOS and stop strings off, so each does the
same work); engines alternate within each repeat so load changes hit all alike; the median
of CPU seconds is reported (wall seconds beside it). The ceiling is the time the FLOPs
would take at the measured speed of a large fp32 matrix product on one thread. Writes
benchmarks/results/generation_engine.{md,json}.
``valid_rate`` (grammar-constrained answers) is added by the grammar benchmark."""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from importlib.metadata import version
from pathlib import Path
from typing import Any

import torch
from migrate_opt_bench.result_files import command_line, write_markdown_and_json

from migrate_opt.engines import Engine, EngineModel
from migrate_opt.engines.decode import DecodeSpec, Sampled, left_pad

RESULTS = Path(__file__).resolve().parent / "results"


class Capture(Engine):
    """Records what ``Migrate.ask`` asks the engine for, and samples nothing."""

    name = "capture"

    def __init__(self) -> None:
        self.prompts: list[list[int]] = []

    def generate(self, model: EngineModel, prompts: Sequence[Sequence[int]], spec: DecodeSpec
                 ) -> list[Sampled]:
        self.prompts = [list(p) for p in prompts]
        return [Sampled([]) for _ in prompts]


def group_prompts(policy: Any, task_name: str, size: int) -> list[list[int]]:
    """The prompt tokens of the first group a MiGrATe run on ``task_name`` generates."""
    from migrate_opt import MemoryDatabase, create, warm_start

    options = {"target": "computer", "warm_start": 20} if task_name == "semantle" else {}
    task = create("task", task_name, **options)
    capture, engine = Capture(), policy.engine
    policy.engine = capture
    try:
        opt = create("optimizer", "migrate", task, policy=policy, group_size=size,
                     database=MemoryDatabase(), seed=0, budget=10_000)
        warm_start(opt)
        opt.ask()
    finally:
        policy.engine = engine
    return capture.prompts


class TodayEngine(Engine):
    """The generation of main before engines: ``model.generate`` on every member's prompt
    (left-padded, no sharing), with the logits kept for the behaviour log-probs. With no
    EOS ids in the spec it samples exactly ``max_new_tokens`` (the fixed-work comparison)."""

    name = "today"

    @torch.no_grad()
    def generate(self, model: EngineModel, prompts: Sequence[Sequence[int]], spec: DecodeSpec
                 ) -> list[Sampled]:
        ids, mask = left_pad(prompts, model.tokenizer.pad_token_id)
        torch.manual_seed(spec.seed)
        fixed = {"min_new_tokens": spec.max_new_tokens} if not spec.eos_ids else {}
        stop = {"stop_strings": list(spec.stop), "tokenizer": model.tokenizer} if spec.stop else {}
        out = model.model.generate(
            input_ids=ids, attention_mask=mask, max_new_tokens=spec.max_new_tokens,
            do_sample=spec.temperature > 0, temperature=spec.temperature or None,
            top_p=spec.top_p if spec.temperature > 0 else None, top_k=None,
            return_dict_in_generate=True, output_logits=True,
            pad_token_id=model.tokenizer.pad_token_id,
            eos_token_id=list(spec.eos_ids or model.eos_ids), **fixed, **stop)
        new = out.sequences[:, ids.shape[1]:]
        logprobs = torch.stack([step.float().gather(-1, new[:, t, None])[:, 0]
                                - torch.logsumexp(step.float(), -1)
                                for t, step in enumerate(out.logits)], dim=1)
        return [Sampled(row.tolist(), lp.tolist()) for row, lp in zip(new, logprobs)]


def through(engine: Engine) -> Callable[[Any, list[list[int]], int, int], int]:
    def run(policy: Any, prompts: list[list[int]], tokens: int, seed: int) -> int:
        spec = DecodeSpec(max_new_tokens=tokens, eos_ids=(), pad_id=0, seed=seed)
        return sum(len(s.token_ids) for s in engine.generate(policy.engine_model, prompts, spec))

    return run


def matmul_gflops(size: int = 1024, repeats: int = 5) -> float:
    """Measured fp32 speed of one thread on a large matrix product (GFLOP per CPU s)."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    start = time.process_time()  # CPU time: the machine is shared
    for _ in range(repeats):
        a @ b
    return 2 * size**3 * repeats / (time.process_time() - start) / 1e9


def flops_per_token(policy: Any, context: int) -> float:
    """2 x the weights a token passes through (the embedding lookup is free, the tied
    output projection is not) + attention over ``context`` keys: 4 x layers x width."""
    config = policy.model.get_base_model().config
    weights = sum(p.numel() for n, p in policy.model.get_base_model().named_parameters()
                  if "lora_" not in n)
    return 2.0 * weights + 4.0 * config.num_hidden_layers * config.hidden_size * context


def measure(policy: Any, groups: dict[str, list[list[int]]], runners: dict[str, Any],
            args: argparse.Namespace) -> dict[str, Any]:
    """Wall and CPU seconds of each runner on each group, alternating within each repeat.
    With one thread, CPU seconds are what a quiet machine's wall time would be; on a loaded
    one they stay comparable where wall time does not."""
    wall: dict[str, dict[str, list[float]]] = {g: {r: [] for r in runners} for g in groups}
    cpu: dict[str, dict[str, list[float]]] = {g: {r: [] for r in runners} for g in groups}
    tokens: dict[str, int] = {}
    for name, prompts in groups.items():
        for runner in runners.values():  # warm-up: kernels, allocations, conversion
            runner(policy, prompts[:2], 2, 0)
        for repeat in range(args.repeats):
            for label, runner in runners.items():
                start, start_cpu = time.perf_counter(), time.process_time()
                tokens[name] = runner(policy, prompts, args.tokens, args.seed + repeat)
                wall[name][label].append(time.perf_counter() - start)
                cpu[name][label].append(time.process_time() - start_cpu)
                print(f"{name} {label}: {wall[name][label][-1]:.2f} s wall, "
                      f"{cpu[name][label][-1]:.2f} s CPU", flush=True)
    return {"wall": wall, "cpu": cpu, "tokens": tokens}


def summarise(policy: Any, groups: dict[str, list[list[int]]], m: dict[str, Any],
              gflops: float, args: argparse.Namespace) -> dict[str, Any]:
    rows = {}
    for name, prompts in groups.items():
        med = {k: statistics.median(v) for k, v in m["cpu"][name].items()}
        wall = {k: statistics.median(v) for k, v in m["wall"][name].items()}
        distinct = {tuple(p) for p in prompts}
        context = max(len(p) for p in prompts) + args.tokens // 2
        work = (sum(len(p) for p in distinct) + m["tokens"][name]) * flops_per_token(
            policy, context)
        ceiling = work / (gflops * 1e9)
        rows[name] = {
            "members": len(prompts), "distinct_prompts": len(distinct),
            "prompt_tokens": [len(p) for p in prompts], "new_tokens": m["tokens"][name],
            "median_cpu_seconds": med, "median_wall_seconds": wall,
            "all_cpu_seconds": m["cpu"][name], "all_wall_seconds": m["wall"][name],
            "tokens_per_cpu_second": {k: m["tokens"][name] / v for k, v in med.items()},
            "ceiling_seconds": ceiling,
            "share_of_ceiling": {k: ceiling / v for k, v in med.items()},
            "hf_shared_over_today": med["hf"] / med["today"],
            "openvino_over_today": med["openvino"] / med["today"],
            "wall_ratios": {k: v / wall["today"] for k, v in wall.items()},
        }
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tasks", nargs="+", default=["semantle", "qed"])
    p.add_argument("--group-size", type=int, default=8)
    p.add_argument("--tokens", type=int, default=32, help="new tokens per member")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--model", default="smollm2-135m-instruct")
    p.add_argument("--out", default=str(RESULTS / "generation_engine"))
    args = p.parse_args(argv)
    from migrate_opt import load_policy
    from migrate_opt.engines.hf import HFEngine
    from migrate_opt.engines.openvino import OpenVINOEngine

    torch.set_num_threads(1)
    policy = load_policy(args.model, threads=1)
    groups = {t: group_prompts(policy, t, args.group_size) for t in args.tasks}
    runners = {"today": through(TodayEngine()), "hf": through(HFEngine()),
               "hf_unshared": through(HFEngine(share_prefix=False)),
               "openvino_f32": through(OpenVINOEngine(precision="f32", threads=1)),
               "openvino": through(OpenVINOEngine(threads=1))}
    gflops = matmul_gflops()
    measured = measure(policy, groups, runners, args)
    rows = summarise(policy, groups, measured, (gflops + matmul_gflops()) / 2, args)
    report(rows, gflops, args, argv)
    return 0


def report(rows: dict[str, Any], gflops: float, args: argparse.Namespace,
           argv: list[str] | None) -> None:
    overall = {k: statistics.mean(r[k] for r in rows.values())
               for k in ("hf_shared_over_today", "openvino_over_today")}
    command = command_line(__file__, argv)
    load = os.getloadavg()
    data = {"command": command, **overall, "tasks": rows, "matmul_gflops_1_thread": gflops,
            "machine": f"{os.cpu_count()}-core {platform.machine()} CPU machine, 1 thread",
            "load_average_at_end": load,
            "versions": {k: version(k) for k in ("torch", "transformers", "openvino")}}
    lines = [f"# Generation engines, {args.model}, one thread", "", f"Command: `{command}`  ",
             f"Machine: {data['machine']}; load average at the end {load[0]:.1f} / "
             f"{load[1]:.1f} / {load[2]:.1f} (1/5/15 min); one-thread fp32 matmul "
             f"{gflops:.0f} GFLOP/s.  ", f"Versions: {data['versions']}.", "",
             f"Mean over tasks: hf shared / today **{overall['hf_shared_over_today']:.2f}** "
             f"(goal <= 0.7), openvino / today **{overall['openvino_over_today']:.2f}** "
             "(goal <= 0.35).", "",
             "| task | members (distinct prompts) | engine | median CPU s | median wall s | "
             "new tokens / CPU s | share of ceiling | CPU / today | wall / today |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, r in rows.items():
        for k, sec in r["median_cpu_seconds"].items():
            lines.append(f"| {name} | {r['members']} ({r['distinct_prompts']}) | {k} | "
                         f"{sec:.2f} | {r['median_wall_seconds'][k]:.2f} | "
                         f"{r['tokens_per_cpu_second'][k]:.0f} | {r['share_of_ceiling'][k]:.0%} "
                         f"| {sec / r['median_cpu_seconds']['today']:.2f} | "
                         f"{r['wall_ratios'][k]:.2f} |")
    lines += ["", "Ratios (the goals) use CPU seconds: one thread, so on this shared, loaded "
              "machine they are what wall seconds would be on a quiet one; wall seconds are "
              "shown beside them. Ceiling: (prompt tokens of each distinct prompt + new "
              "tokens) x FLOPs per token (2 x weights + 4 x layers x width x context) at "
              "the one-thread matmul speed above; `hf_unshared` is our decode loop without "
              "sharing (the reference path of the equality test); `openvino` is the engine at "
              "its default precision (bf16 where the CPU has bf16 units, as here), "
              "`openvino_f32` in fp32 (logits within ~1e-4 of torch, greedy tokens equal); "
              "both keep the key/value cache inside the compiled model."]
    text = "\n".join(lines) + "\n"
    print(text)
    write_markdown_and_json(args.out, text, data)


if __name__ == "__main__":
    raise SystemExit(main())
