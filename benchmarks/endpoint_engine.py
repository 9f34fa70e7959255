"""Sampling through an OpenAI-compatible endpoint against the local ``openvino`` engine:
MiGrATe's mix with ``train=false`` on the toy task, SmolLM2-135M-Instruct on both sides.

    nice python benchmarks/endpoint_engine.py --iterations 4 --repeats 2

The endpoint is ``transformers serve`` started here on 127.0.0.1 (one torch thread, the
model saved to a folder with a full-softmax sampling config, as the local engines
sample); the local side is the ``openvino`` engine with one thread. Same task, group,
seeds and token limit; the sides alternate within each repeat so load changes hit both.
Per side: seconds per iteration and generate seconds (medians over iterations after the
first, which warms up), completion tokens per generate second (the servers' own usage
counts), and the share of completions parsed. Writes
benchmarks/results/endpoint_engine.{md,json}."""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path
from typing import Any

from migrate_opt_bench.result_files import command_line, shown_path, write_markdown_and_json

RESULTS = Path(__file__).resolve().parent / "results"


def serve_folder(work: Path) -> Path:
    """SmolLM2 saved where ``transformers serve`` loads it."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from migrate_opt.policy.smollm2 import converted_path
    from migrate_opt.testing.servers import save_for_serving

    source = converted_path()
    model = AutoModelForCausalLM.from_pretrained(source)
    return save_for_serving(model, AutoTokenizer.from_pretrained(source), work / "smollm2")


def one_run(policy: Any, args: argparse.Namespace) -> list[dict[str, float]]:
    """Per iteration: total and generate seconds, completion tokens, parsed share."""
    import migrate_opt
    from migrate_opt.testing import ToyTask
    from migrate_opt.usage import members_usage

    opt = migrate_opt.create("optimizer", "migrate", ToyTask(), policy=policy, train=False,
                             group_size=args.group_size, seed=args.seed,
                             database=migrate_opt.MemoryDatabase())
    rows: list[dict[str, float]] = []

    def record(o, group, records) -> None:  # type: ignore[no-untyped-def]
        generated = [m for m in group.members if m.prompt is not None]
        rows.append({"total": group.timings["total"], "generate": group.timings["generate"],
                     "tokens": members_usage(generated).completion_tokens,
                     "parsed": sum(bool(m.solutions) for m in generated) / len(generated)})

    migrate_opt.run(opt, iterations=args.iterations + 1, callbacks=[record], progress=False)
    return rows[1:]


def summary(rows: list[dict[str, float]]) -> dict[str, float]:
    med = {k: statistics.median(r[k] for r in rows) for k in ("total", "generate")}
    tokens = sum(r["tokens"] for r in rows)
    return {"seconds_per_iteration": med["total"], "generate_seconds": med["generate"],
            "tokens_per_second": tokens / sum(r["generate"] for r in rows),
            "completion_tokens_per_iteration": tokens / len(rows),
            "parsed_share": statistics.mean(r["parsed"] for r in rows),
            "iterations": len(rows)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--iterations", type=int, default=4, help="measured, after one warm-up")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--group-size", type=int, default=8)
    p.add_argument("--concurrency", type=int, default=1, help="requests in flight")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=str(RESULTS / "endpoint_engine"))
    args = p.parse_args(argv)

    from migrate_opt import load_policy
    from migrate_opt.policy.endpoint import endpoint_policy
    from migrate_opt.testing.servers import TransformersServe

    work = Path(tempfile.mkdtemp(prefix="endpoint-bench-"))
    folder = serve_folder(work)
    local = load_policy("smollm2-135m-instruct", engine="openvino")
    rows: dict[str, list[dict[str, float]]] = {"endpoint": [], "openvino": []}
    with TransformersServe(folder, threads=1, log=work / "serve.log") as server:
        remote = endpoint_policy(server.url, server.model, max_n=1,
                                 concurrency=args.concurrency)
        for _ in range(args.repeats):
            rows["endpoint"] += one_run(remote, args)
            rows["openvino"] += one_run(local, args)
            print({k: summary(v) for k, v in rows.items()}, flush=True)
    results = {k: summary(v) for k, v in rows.items()}
    command = command_line(__file__, argv)
    lines = ["# Endpoint (transformers serve) against the local openvino engine", "",
             f"SmolLM2-135M-Instruct, MiGrATe's mix with train=false on the toy task, group of "
             f"{args.group_size}, {args.iterations} measured iterations x {args.repeats} "
             f"repeats, seed {args.seed}; endpoint requests one sample each (transformers "
             f"serve ignores n), {args.concurrency} in flight; one thread on each side.", "",
             "| sampling | s / iteration | generate s | completion tokens/s | tokens / iteration "
             "| parsed |", "|---|---|---|---|---|---|"]
    for name, r in results.items():
        lines.append(f"| {name} | {r['seconds_per_iteration']:.2f} | "
                     f"{r['generate_seconds']:.2f} | {r['tokens_per_second']:.1f} | "
                     f"{r['completion_tokens_per_iteration']:.0f} | {r['parsed_share']:.0%} |")
    lines += ["", "An endpoint completion cut at max_new_tokens counts as unparsed; the local "
              "engine parses it. The adapter round trip needs vLLM (benchmarks/gpu_check.py "
              "on a CUDA machine); it was not measured here."]
    text = "\n".join(lines) + "\n"
    print(text)
    write_markdown_and_json(args.out, text, {"results": results, "rows": rows,
                                             "args": {**vars(args), "out": shown_path(args.out)}},
                           command=command)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
