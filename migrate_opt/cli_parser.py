"""The ``migrate-opt`` argument parser; ``run``'s flags come in readable groups."""

from __future__ import annotations

import argparse
from typing import Any

from .cli_endpoint import add_flags as add_endpoint_flags


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="migrate-opt",
        description="Black-box optimization with language models (MiGrATe and baselines).",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sub.add_parser("plugins", help="list installed plugins and what they register")
    sub.add_parser("methods", help="list methods (LLM presets and other optimizers)")
    _add_run(sub)

    resume = sub.add_parser(
        "resume", help="continue a stored study where it stopped",
        description="Continue a stored study. The file gives the study's data (task and its "
        "options, method, budget, seed); how it runs (executor, engine, device, a task's "
        "environment options such as --timeout) comes from these flags only.")
    resume.add_argument("storage", help="the study file; resuming writes to it")
    resume.add_argument("--study", default=None, help="needed when the file holds several")
    resume.add_argument("--budget", type=int, default=None, help="raise the budget")
    resume.add_argument("--engine", default=None,
                        help="generate with another engine (records stay the same)")
    resume.add_argument("--device", choices=("auto", "cpu", "cuda"), default=None,
                        help="default cpu")
    resume.add_argument("--model", default=None, help="go on with another model (a study "
                        "that sampled from an endpoint: a local one, or the endpoint's name)")
    add_endpoint_flags(resume)
    resume.add_argument("--no-progress", action="store_true")
    _add_executor(resume)
    resume.add_argument("--discard-checkpoint", action="store_true",
                        help="ignore the stored training checkpoint and retrain the adapter "
                        "from the stored records (for a checkpoint that cannot be loaded)")

    show = sub.add_parser("show", help="a study's settings and best records")
    show.add_argument("storage")
    show.add_argument("--study", default=None)
    show.add_argument("--top", type=int, default=10)
    show.add_argument("--json", action="store_true", help="machine-readable output")

    report = sub.add_parser("report", help="write a study's self-contained HTML report")
    report.add_argument("storage")
    report.add_argument("--study", default=None, help="needed when the file holds several")
    report.add_argument("-o", "--output", default=None,
                        help="HTML file (default: STORAGE-STUDY.html next to the storage)")
    report.add_argument("--force", action="store_true",
                        help="replace OUTPUT even when it is not a report written here")
    compare = sub.add_parser(
        "compare", help="put several studies side by side (curves, spent budget, AUC)",
        description="Overlay the best-so-far curves of several studies on one HTML page "
        "and print one row per study; studies that stopped short of their budget are "
        "flagged. Each argument is a study file (all its studies) or FILE:STUDY.")
    compare.add_argument("studies", nargs="+", metavar="FILE[:STUDY]")
    compare.add_argument("-o", "--output", default=None,
                         help="HTML file (default: FIRST-compare.html next to the first file)")
    return p


def run_flags() -> list[str]:
    """The long flags of ``migrate-opt run`` (for suggestions on a misspelt one)."""
    sub = argparse.ArgumentParser().add_subparsers()
    return [s for a in _add_run(sub)._actions for s in a.option_strings if s.startswith("--")]


def _add_run(sub: Any) -> argparse.ArgumentParser:
    # Defaults are None so that --config FILE can fill what the flags leave out.
    run = sub.add_parser(
        "run", help="optimize a task",
        description="Optimize TASK. Options not listed here are passed to the task "
        "(e.g. --target computer); `migrate-opt run TASK --help-task` lists them. "
        "--config FILE.toml holds the same settings; flags override it.",
    )
    run.add_argument("task", help="task name (see `migrate-opt plugins`)")
    run.add_argument("--config", metavar="FILE.toml", help="settings file")
    run.add_argument("--help-task", action="store_true", help="list the task's options")
    g = run.add_argument_group("study")
    g.add_argument("--method", help="optimizer: an LLM preset or a baseline "
                   "(`migrate-opt methods`; default migrate)")
    g.add_argument("--budget", type=int, help="black-box evaluations (default 100)")
    g.add_argument("--iterations", type=int, help="stop after N groups")
    g.add_argument("--storage", help="study file; its extension or NAME:// picks the "
                   "database (default runs/migrate.db)")
    g.add_argument("--study", help="study name (default: TASK-METHOD-sSEED, plus a short "
                   "hash of the task options and method settings given)")
    g.add_argument("--seed", type=int)
    g.add_argument("--stop-when-solved", action=argparse.BooleanOptionalAction, default=None,
                   help="stop once a solution reaches the task's optimum (default: on)")
    g.add_argument("--patience", type=int, metavar="N", help="stop as stale after N groups "
                   "in a row with no new solution (default 50)")
    g.add_argument("--no-progress", action="store_true", default=None)
    g = run.add_argument_group("group (LLM presets)")
    g.add_argument("--group-size", type=int, help="completions per group")
    g.add_argument("--group", metavar="S=N,...", help="custom group of registered samplers, "
                   "e.g. on_policy=4,neighborhood=2 (replaces the preset's)")
    g.add_argument("--sampler-option", action="append", metavar="S.KEY=VALUE",
                   help="a sampler's option, e.g. neighborhood.top_k=3 (repeatable)")
    g.add_argument("--top-k", type=int, help="parents from the top k, for every sampler "
                   "that picks parents")
    g = run.add_argument_group("policy and training (LLM presets)")
    g.add_argument("--model", help="registered policy (smollm2-135m-instruct, tiny-random, "
                   "a plugin's), HF id or local folder")
    g.add_argument("--engine", help="generation engine: hf (default), openvino (CPU), vllm "
                   "(GPU), a plugin's")
    add_endpoint_flags(g)
    g.add_argument("--no-train", dest="train", action="store_false", default=None,
                   help="sample only, even with a training preset (MiGrATe's mix, no GRPO)")
    g.add_argument("--device", choices=("auto", "cpu", "cuda"), help="default cpu")
    g.add_argument("--dtype", help="float32 (default), bfloat16, float16")
    g.add_argument("--lora-rank", type=int)
    g.add_argument("--lora-alpha", type=int)
    g.add_argument("--lora-targets", metavar="M,...", help="modules, e.g. q_proj,v_proj")
    g.add_argument("--init-adapter", metavar="FILE[:STUDY]", help="start the adapter from "
                   "another study's last checkpoint (same model and LoRA shape)")
    g.add_argument("--adaptive-mix", action="store_true", default=None, help="move the "
                   "group's slots to the samplers that find more (a [adaptive_mix] table "
                   "in --config sets its options)")
    g.add_argument("--learning-rate", type=float)
    g.add_argument("--steps-per-group", type=int, help="GRPO mu")
    g.add_argument("--temperature", type=float)
    g.add_argument("--max-new-tokens", type=int)
    _add_executor(run.add_argument_group("evaluation"))
    return run


def _add_executor(g: Any) -> None:
    g.add_argument("--executor", help="serial (default), process, ray, ...")
    g.add_argument("--executor-option", action="append", metavar="KEY=VALUE",
                   help="an executor option, e.g. workers=4 or timeout=30 (repeatable; "
                   "--help-executor lists them)")
    g.add_argument("--help-executor", action="store_true", help="list the executor's options")
