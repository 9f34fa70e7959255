"""How far has a trained policy moved from its base model? Two measures of the per-token
KL on a finished run's last groups, side by side.

The GRPO step scores every member of a group as a completion of the task prompt. The k3
sample estimate exp(ref - logp) - (ref - logp) - 1 averaged over those tokens is a KL only
where the policy itself sampled them from that prompt; MiGrATe's neighbourhood members come
from other prompts, and on Semantle every member does. The exact KL sums over the
vocabulary at each position, so a completion is only a context to it. For each cell this
rebuilds the optimizer from a copy of its study file (the adapter at its last checkpoint),
scores its last ``--groups`` stored groups without training, and prints both measures for
all members and for the on-prompt ones alone.

    python benchmarks/kl_estimators.py benchmarks/configs/budget.toml \\
        benchmarks/results/budget skillet__migrate__seed1 --groups 20

A cell's study file (``runs/KEY.db``) is not committed: run this where the grid ran.
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import sys
from typing import Any

import torch
from migrate_opt_bench.config_file import load_config
from migrate_opt_bench.result_files import write_markdown_and_json
from migrate_opt_bench.runner import reopened

from migrate_opt import Migrate
from migrate_opt.grpo.math import k3_kl, next_token_kl
from migrate_opt.optimizer import member_from_dict


def group_kls(policy: Any, prompt: str, spec: Any, members: list[Any]) -> dict[str, Any] | None:
    """Both measures over one group's valid members (those a GRPO step trains on); None
    for a group with none."""
    kept = [m for m in members if m.reward is not None]
    if not kept:
        return None
    batch = policy.encode(prompt, spec.system, kept, spec.response_prefix)
    base: list[torch.Tensor] = []
    now: list[torch.Tensor] = []
    with torch.no_grad():
        with policy.reference():
            ref = policy.token_logprobs(batch, distributions=base)
        logp = policy.token_logprobs(batch, distributions=now)
    mask = batch.completion_mask.bool()
    k3 = k3_kl(ref, logp)[mask]
    on = torch.tensor([m.prompt is None or m.prompt == prompt for m in kept])[:, None]
    on_tokens = (on.expand_as(mask) & mask)[mask]
    return {"members": len(kept), "on_prompt": int(on.sum()),
            "k3": float(k3.mean()),
            "k3_on_prompt": float(k3[on_tokens].mean()) if on_tokens.any() else None,
            "exact": next_token_kl(now[0], base[0]),
            "exact_on_prompt": (next_token_kl(now[0][on_tokens], base[0][on_tokens])
                                if on_tokens.any() else None)}


def measure(config: str, results: str, key: str, groups: int) -> dict[str, Any]:
    with reopened(load_config(config), results, key) as (_, db, opt):
        if not isinstance(opt, Migrate) or not opt.training:
            raise SystemExit(f"{key} is not a trained MiGrATe run: it has no adapter")
        opt.restore()  # the adapter at the run's last checkpoint
        scored = (group_kls(opt.policy, opt.task.prompt(), opt.prompt_spec,
                            [member_from_dict(m) for m in members])
                  for _, members in db.groups()[-groups:])
        rows = [r for r in scored if r is not None]
    return {"key": key, "groups": len(rows), "per_group": rows,
            **{f"{k}_{s}": f([r[k] for r in rows if r[k] is not None])
               for k in ("k3", "exact") for s, f in (("median", statistics.median),
                                                     ("max", max))}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config")
    parser.add_argument("results")
    parser.add_argument("keys", nargs="+", help="cells, e.g. skillet__migrate__seed1")
    parser.add_argument("--groups", type=int, default=20)
    parser.add_argument("--out", help="writes OUT.json and OUT.md")
    parser.add_argument("--max-kl", type=float, default=1.0, help="the bound to count against")
    args = parser.parse_args(argv)
    lines = ["| run | groups | k3 median | k3 max | exact median | exact max | groups past "
             f"{args.max_kl:g}: k3 / exact |", "|---|---|---|---|---|---|---|"]
    data = []
    for key in args.keys:
        r = measure(args.config, args.results, key, args.groups)
        data.append(r)
        past = [sum(g[k] > args.max_kl for g in r["per_group"]) for k in ("k3", "exact")]
        lines.append(f"| {key} | {r['groups']} | {r['k3_median']:.3g} | {r['k3_max']:.3g} | "
                     f"{r['exact_median']:.3g} | {r['exact_max']:.3g} | {past[0]} / {past[1]} |")
        print(lines[-1], flush=True)
    text = "\n".join(lines) + "\n"
    if args.out:
        given = sys.argv[1:] if argv is None else argv
        write_markdown_and_json(args.out, text, {"runs": data}, command="python benchmarks/"
                                "kl_estimators.py " + " ".join(map(shlex.quote, given)))
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
