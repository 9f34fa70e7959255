"""Our generation (which also returns behaviour log-probs) against a bare
``model.generate`` on the same inputs and seed, side by side in one process.

    python benchmarks/generation_overhead.py --repeats 3
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from migrate_opt_bench.result_files import command_line, write_markdown_and_json

from migrate_opt import PromptSpec, load_policy
from migrate_opt.engines.decode import left_pad

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("--group-size", type=int, default=8)
    ap.add_argument("--tokens", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(1)
    policy = load_policy(args.model)
    prompts = ["Propose a molecule as a JSON list with one SMILES string."] * args.group_size
    inputs, attention = left_pad([policy.prompt_ids(p) for p in prompts],
                                 policy.tokenizer.pad_token_id)

    def ours() -> None:
        policy.generate(prompts, PromptSpec(max_new_tokens=args.tokens), seed=args.seed)

    @torch.no_grad()
    def bare() -> None:
        torch.manual_seed(args.seed)  # the same seed samples the same tokens as ours
        policy.model.generate(
            input_ids=inputs, attention_mask=attention, max_new_tokens=args.tokens,
            do_sample=True, temperature=1.0, top_p=1.0, top_k=None,
            pad_token_id=policy.tokenizer.pad_token_id, eos_token_id=list(policy.eos_ids))

    ours(), bare()  # warm-up
    seconds = {"ours": 0.0, "bare": 0.0}
    for _ in range(args.repeats):  # alternate, so load changes hit both sides alike
        for name, fn in (("ours", ours), ("bare", bare)):
            start = time.perf_counter()
            fn()
            seconds[name] += time.perf_counter() - start
    mean = {k: v / args.repeats for k, v in seconds.items()}
    text = (f"ours {mean['ours']:.2f} s, bare generate {mean['bare']:.2f} s per group; "
            f"ratio {mean['ours'] / mean['bare']:.2f}")
    print(text)
    command = command_line(__file__, None)
    write_markdown_and_json(RESULTS / "generation_overhead", "# Generation overhead\n\n"
                            + text + "\n", {"mean_s": mean, "repeats": args.repeats},
                            command=command)


if __name__ == "__main__":
    main()
