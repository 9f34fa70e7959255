"""Cost of one MiGrATe iteration, today's ``hf`` path against the fastest path, side by side
in one process (SmolLM2-135M-Instruct, one torch thread).

- ``today``: the ``hf`` engine (torch decoding, fp32), the GRPO step in fp32 and a
  checkpoint written after every group (what main did before this benchmark's change);
- ``fast``: the ``openvino`` engine at its default precision (bf16 where the CPU has bf16
  units; stateful: the key/value cache stays inside the compiled model), the frozen base in
  bf16 for the GRPO step (adapter and AdamW in fp32) and a checkpoint every 20 groups
  (one write measured at the end, charged as 1/20 per iteration).

Each task runs a warm-up iteration per path, then ``--iterations`` more, the two paths
alternating so that the machine's load falls on both alike. Parts: generate, evaluate,
train, checkpoint and the rest (sampling, parsing, storage). The ceilings: one core's
memory bandwidth (numpy) and what it allows a decode step that reads every weight once;
the decode step of both paths is timed alone on the toy prompt (batch 8).

    python benchmarks/iteration_cost.py --iterations 3 --seed 0
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from migrate_opt_bench.result_files import command_line, write_markdown_and_json

import migrate_opt
from migrate_opt import load_policy
from migrate_opt.engines.decode import left_pad
from migrate_opt.loop import _one_group, warm_start
from migrate_opt.testing import ToyTask

PARTS = ("generate", "evaluate", "train", "checkpoint")
CHECKPOINT_EVERY = 20
"""The fast path's checkpoint interval (the default is 20 groups or 60 s, whichever comes
first; at 1-3 s per iteration the 20 groups come first). A run of a few iterations never
reaches it, so its end-of-run write is measured and charged as 1/20 per iteration: what a
long run pays."""
PATHS: dict[str, dict[str, Any]] = {
    "today": {"engine": "hf", "train_precision": "float32",
              "checkpoint": {"checkpoint_every": 1, "checkpoint_seconds": None}},
    "fast": {"engine": "openvino", "train_precision": "auto",
             "checkpoint": {"checkpoint_every": CHECKPOINT_EVERY, "checkpoint_seconds": None}},
}


def bandwidth() -> dict[str, float]:
    """One core's memory bandwidth (GB/s): reading and copying a 512 MiB array, best of 5."""
    a = np.ones(2**27, dtype=np.float32)
    b = np.empty_like(a)
    read = copy = float("inf")
    for _ in range(5):
        t = time.perf_counter()
        a.sum()
        read = min(read, time.perf_counter() - t)
        t = time.perf_counter()
        np.copyto(b, a)
        copy = min(copy, time.perf_counter() - t)
    return {"read_gb_s": a.nbytes / read / 1e9, "copy_gb_s": 2 * a.nbytes / copy / 1e9}


def make_task(name: str, seed: int) -> Any:
    if name == "toy":
        return ToyTask()
    from migrate_opt_semantle import SemantleTask

    return SemantleTask(warm_start=20, warm_start_seed=seed)


def build(task_name: str, path: str, args: argparse.Namespace, folder: Path) -> Any:
    spec = PATHS[path]
    policy = load_policy(args.model, engine=spec["engine"],
                         train_precision=spec["train_precision"])
    task = make_task(task_name, args.seed)
    db = migrate_opt.SQLiteDatabase(str(folder / f"{task_name}-{path}.db"))
    size = {"group_size": 8} if task_name == "toy" else {}
    opt = migrate_opt.create("optimizer", "migrate", task, policy=policy, database=db,
                             seed=args.seed, **size, **spec["checkpoint"])
    warm_start(opt)
    return opt


def one_task(task_name: str, args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    opts = {p: build(task_name, p, args, folder) for p in PATHS}
    rows: dict[str, list[dict[str, float]]] = {p: [] for p in PATHS}
    executor = migrate_opt.SerialExecutor()
    for i in range(args.iterations + 1):
        for path, opt in opts.items():
            group, _ = _one_group(opt, executor)
            t = {k: group.timings.get(k, 0.0) for k in PARTS}
            t["rest"] = group.timings["total"] - sum(t.values())
            t["total"] = group.timings["total"]
            t["members"] = len(group.members)
            if i:  # the first iteration warms up kernels, allocations and conversions
                rows[path].append(t)
            print(f"  {task_name} {path} iteration {i}: " + ", ".join(
                f"{k} {v:.2f}" for k, v in t.items()) + f"  (load {os.getloadavg()[0]:.1f})",
                flush=True)
    out: dict[str, Any] = {}
    for path, opt in opts.items():
        start = time.perf_counter()
        opt.flush()  # the end-of-run checkpoint
        final = time.perf_counter() - start
        mean = {k: statistics.mean(r[k] for r in rows[path]) for k in rows[path][0]}
        if path == "fast":  # one write per CHECKPOINT_EVERY groups
            mean["checkpoint"] += final / CHECKPOINT_EVERY
            mean["total"] += final / CHECKPOINT_EVERY
        out[path] = {"mean_seconds": mean, "final_checkpoint_seconds": final,
                     "iterations": rows[path]}
    out["ratio"] = out["fast"]["mean_seconds"]["total"] / out["today"]["mean_seconds"]["total"]
    return out


def decode_steps(args: argparse.Namespace) -> dict[str, Any]:
    """Seconds per decode step (batch 8 over the toy prompt's cache) of each path's engine,
    the network alone: no sampling."""
    out = {}
    task = ToyTask()
    for path, spec in PATHS.items():
        policy = load_policy(args.model, engine=spec["engine"], train_precision="float32")
        ids = policy.prompt_ids(task.prompt(), task.system_prompt, task.response_prefix)
        backend = _backend(policy)
        prompt, mask = left_pad([ids], policy.tokenizer.pad_token_id)
        with torch.no_grad():
            _, cache = backend.prefill(prompt, mask)
            cache = backend.select(cache, torch.zeros(8, dtype=torch.long))
            mask = torch.ones(8, len(ids) + 1, dtype=torch.long)
            token = torch.full((8, 1), ids[-1], dtype=torch.long)
            times = []
            for _ in range(args.decode_steps):
                start = time.perf_counter()
                _, cache = backend.step(token, mask, cache)
                times.append(time.perf_counter() - start)
                mask = torch.cat([mask, torch.ones(8, 1, dtype=torch.long)], dim=1)
        out[path] = {"median_step_seconds": statistics.median(times[1:]),
                     "engine": policy.engine.describe()}
    return out


def _backend(policy: Any) -> Any:
    if policy.engine.name == "hf":
        from migrate_opt.engines.hf import TorchBackend

        return TorchBackend(policy.model)
    from migrate_opt.engines.openvino import OpenVINOBackend

    llama = policy.model.get_base_model()
    compiled, names = policy.engine._compile(llama, policy.name)
    return OpenVINOBackend(compiled, llama, names)


def weight_bytes(args: argparse.Namespace) -> int:
    policy = load_policy(args.model, engine="hf", train_precision="float32")
    base = policy.model.get_base_model()
    seen = {p.data_ptr(): p.numel() * 4 for n, p in base.named_parameters() if "lora_" not in n}
    return sum(seen.values())  # tied embeddings counted once


def ceilings(bw: dict[str, float], decode: dict[str, Any], nbytes: int) -> dict[str, Any]:
    read = bw["read_gb_s"] * 1e9
    out: dict[str, Any] = {"bandwidth": bw, "weights_fp32_bytes": nbytes,
                           "weights_bf16_bytes": nbytes // 2}
    for name, per_step in (("fp32", nbytes), ("bf16", nbytes // 2)):
        out[f"decode_step_floor_seconds_{name}"] = per_step / read
    fast = decode["fast"]["median_step_seconds"]
    precision = decode["fast"]["engine"].get("precision", "f32")
    floor = out["decode_step_floor_seconds_" + ("fp32" if precision == "f32" else "bf16")]
    out["fast_decode_share_of_ceiling"] = floor / fast
    out["today_decode_share_of_ceiling"] = (out["decode_step_floor_seconds_fp32"]
                                            / decode["today"]["median_step_seconds"])
    return out


def markdown(result: dict[str, Any]) -> str:
    lines = ["# One MiGrATe iteration: today's `hf` path against the fastest path", "",
             "Mean seconds per iteration after a warm-up, both paths alternating in one "
             "process (SmolLM2-135M-Instruct, one torch thread). `today`: hf engine, fp32 "
             "GRPO step, checkpoint after every group. `fast`: openvino engine "
             f"({result['decode']['fast']['engine'].get('precision')}), bf16 frozen base in "
             "the GRPO step, checkpoint every 20 groups (one write measured at the end and "
             "charged as 1/20 per iteration: what a long run pays). A skipped GRPO step "
             "(equal rewards) costs nothing and counts as it falls.", "",
             "| task | path | members | generate | evaluate | train | checkpoint | rest | "
             "total | ratio |", "|---|---|---|---|---|---|---|---|---|---|"]
    for task, r in result["tasks"].items():
        for path in PATHS:
            m = r[path]["mean_seconds"]
            ratio = f"**{r['ratio']:.2f}**" if path == "fast" else "1"
            lines.append(f"| {task} | {path} | {m['members']:.0f} | " + " | ".join(
                f"{m[k]:.2f}" for k in (*PARTS, "rest", "total")) + f" | {ratio} |")
    c, d = result["ceilings"], result["decode"]
    lines += ["", f"One core reads memory at {c['bandwidth']['read_gb_s']:.1f} GB/s (copies at "
              f"{c['bandwidth']['copy_gb_s']:.1f}). A decode step reads every weight once: "
              f"{c['weights_fp32_bytes'] / 1e6:.0f} MB in fp32, "
              f"{c['weights_bf16_bytes'] / 1e6:.0f} MB in bf16, so its floor is "
              f"{1e3 * c['decode_step_floor_seconds_fp32']:.1f} ms (fp32) and "
              f"{1e3 * c['decode_step_floor_seconds_bf16']:.1f} ms (bf16). Measured decode "
              f"step (batch 8): today {1e3 * d['today']['median_step_seconds']:.1f} ms "
              f"({100 * c['today_decode_share_of_ceiling']:.0f}% of the fp32 ceiling), fast "
              f"{1e3 * d['fast']['median_step_seconds']:.1f} ms "
              f"({100 * c['fast_decode_share_of_ceiling']:.0f}% of its ceiling).", "",
              f"Load average during the run: {result['load_average_start'][0]:.1f} at the "
              f"start, {result['load_average_end'][0]:.1f} at the end, on "
              f"{os.cpu_count()} cores shared with other work: absolute seconds are inflated "
              "by it; the ratios compare paths that ran alternately under the same load."]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--iterations", type=int, default=3)
    ap.add_argument("--tasks", nargs="+", default=["toy", "semantle"])
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("--decode-steps", type=int, default=12)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="benchmarks/results/iteration_cost")
    args = ap.parse_args()
    torch.set_num_threads(1)
    load_start = os.getloadavg()
    bw = bandwidth()
    print(f"bandwidth: {bw}", flush=True)
    decode = decode_steps(args)
    print(f"decode steps: {decode}", flush=True)
    with tempfile.TemporaryDirectory() as folder:
        tasks = {t: one_task(t, args, Path(folder)) for t in args.tasks}
    result = {
        "ratio": {t: r["ratio"] for t, r in tasks.items()},
        "parts": {t: {p: r[p]["mean_seconds"] for p in PATHS} for t, r in tasks.items()},
        "ceilings": ceilings(bw, decode, weight_bytes(args)),
        "decode": decode, "paths": PATHS, "tasks": tasks, "model": args.model,
        "iterations": args.iterations, "threads": 1, "seed": args.seed,
        "cpu": _cpu(), "load_average_start": load_start, "load_average_end": os.getloadavg(),
    }
    text = markdown(result)
    print(text)
    write_markdown_and_json(args.out, text, result, command=command_line(__file__, None))


def _cpu() -> dict[str, Any]:
    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").is_file() else ""
    flags = next((ln.split(":", 1)[1].split() for ln in info.splitlines()
                  if ln.startswith("flags")), [])
    name = next((ln.split(":", 1)[1].strip() for ln in info.splitlines()
                 if ln.startswith("model name")), "")
    return {"model": name, "bf16_flags": sorted(f for f in flags if "bf16" in f or "amx" in f)}


if __name__ == "__main__":
    main()
