"""GRPO step time with the shared prompt forwarded once, against the full pass per member
(the step before this change), side by side in one process on the same group.

    python benchmarks/grpo_step.py --repeats 5

One Semantle group of G on-policy completions is sampled from SmolLM2 with the task's real
prompt; then two copies of the same policy (same adapter) each take ``GRPOUpdater.step``
(mu AdamW steps) on it, alternating, ``--repeats`` times after one warm-up each. The
shared side is ``HFPolicy.token_logprobs``; the full side scores with
``hf_train.full_logprobs``. Also reported: the largest log-prob difference between the two
passes, and the loss and gradient norm of each side's warm-up step (they must agree)."""

from __future__ import annotations

import argparse
import copy
import os
import platform
import random
import statistics
import time
from pathlib import Path
from typing import Any

from migrate_opt_bench.result_files import command_line, write_markdown_and_json

RESULTS = Path(__file__).resolve().parent / "results" / "grpo_step"


class FullPass:
    """A policy whose GRPO scoring recomputes the prompt for every member."""

    def __init__(self, policy: Any) -> None:
        self._policy = policy

    def __getattr__(self, name: str) -> Any:
        return getattr(self._policy, name)

    def token_logprobs(self, batch: Any, distributions: list[Any] | None = None) -> Any:
        from migrate_opt.policy import hf_train

        return hf_train.full_logprobs(self._policy.model, batch, distributions)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="smollm2-135m-instruct")
    p.add_argument("--group-size", type=int, default=8)
    p.add_argument("--repeats", type=int, default=5, help="timed steps per side")
    p.add_argument("--mu", type=int, default=2, help="optimizer steps per group (paper: 2)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default=str(RESULTS / "smollm2"))
    return p.parse_args(argv)


def sample_group(policy: Any, task: Any, size: int) -> list[Any]:
    from migrate_opt import Member

    gens = policy.generate([task.prompt()] * size, task.prompt_spec(), seed=0)
    rng = random.Random(0)  # step time does not depend on the rewards
    return [Member("on_policy", g.text, ("w",), prompt=task.prompt(), token_ids=g.token_ids,
                   behaviour_logprobs=g.logprobs, reward=rng.random()) for g in gens]


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    import torch

    from migrate_opt import create, load_policy
    from migrate_opt.grpo import GRPOConfig, GRPOUpdater
    from migrate_opt.policy import hf_train

    torch.set_num_threads(args.threads)
    task = create("task", "semantle", target="computer")
    shared = load_policy(args.model, threads=args.threads)
    full = copy.deepcopy(shared)
    members = sample_group(shared, task, args.group_size)
    spec = task.prompt_spec()
    step_args = (task.prompt(), spec, members)
    batch = shared.encode(task.prompt(), spec.system, members, spec.response_prefix)
    with torch.no_grad():
        diff = (hf_train.shared_prompt_logprobs(shared.model, batch)
                - hf_train.full_logprobs(shared.model, batch)).abs()
    max_diff = float(diff[batch.completion_mask.bool()].max())
    config = GRPOConfig(steps_per_group=args.mu, learning_rate=1e-4)
    sides = {"shared": (shared, GRPOUpdater(config)), "full": (FullPass(full), GRPOUpdater(config))}
    times: dict[str, list[float]] = {k: [] for k in sides}
    first_loss: dict[str, dict[str, float]] = {}
    for rep in range(args.repeats + 1):
        for name, (policy, updater) in sides.items():
            start = time.perf_counter()
            metrics = updater.step(policy, *step_args)
            if rep == 0:  # the last step's loss and the first's gradient norm must agree
                first_loss[name] = {"loss": metrics[-1]["loss"],
                                    "grad_norm": metrics[0]["grad_norm"]}
            else:  # the first step of each side warms up allocators
                times[name].append(time.perf_counter() - start)
    mean = {k: statistics.fmean(v) for k, v in times.items()}
    result = {
        "command": command_line(__file__, argv), "machine": f"{os.cpu_count()}-core "
        f"{platform.machine()} CPU", "load_average": os.getloadavg(),
        "torch": torch.__version__, "model": args.model, "group_size": args.group_size,
        "mu": args.mu, "threads": args.threads, "prompt_tokens": batch.prompt_length,
        "completion_tokens": batch.completion_mask.sum(dim=1).tolist(),
        "step_s": times, "mean_step_s": mean,
        "ratio_shared_over_full": mean["shared"] / mean["full"],
        "max_logprob_difference": max_diff, "warm_up_metrics": first_loss,
    }
    write_markdown_and_json(Path(args.out), markdown(result), result)
    print(markdown(result))


def markdown(r: dict[str, Any]) -> str:
    m, w = r["mean_step_s"], r["warm_up_metrics"]
    return (
        "# GRPO step: shared prompt against the full pass per member\n\n"
        f"`{r['command']}`: {r['model']}, group {r['group_size']}, mu {r['mu']}, "
        f"{r['threads']} torch thread(s), {r['machine']}, load average "
        f"{', '.join(f'{x:.2f}' for x in r['load_average'])} at the end.\n\n"
        f"Prompt {r['prompt_tokens']} tokens; completions {r['completion_tokens']} tokens.\n\n"
        "| pass | mean step (s) | steps (s) |\n|---|---|---|\n"
        + "".join(f"| {k} | {m[k]:.3f} | {', '.join(f'{t:.2f}' for t in r['step_s'][k])} |\n"
                  for k in m)
        + f"\n**shared / full = {r['ratio_shared_over_full']:.3f}**; largest log-prob "
        f"difference {r['max_logprob_difference']:.2e}. Warm-up step, shared vs full: "
        f"last loss {w['shared']['loss']:.6f} vs {w['full']['loss']:.6f}, first gradient "
        f"norm {w['shared']['grad_norm']:.6f} vs {w['full']['grad_norm']:.6f}.\n"
    )


if __name__ == "__main__":
    main()
