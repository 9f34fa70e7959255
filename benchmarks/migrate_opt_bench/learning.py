"""Does the GRPO update make the policy learn? Runs (or resumes) the learning grid through
the comparison harness, then writes ``learning.json``, ``learning.md`` and
``learning.png``: per configuration and task, the on-policy mean reward per iteration and
the KL to base, against the same seeds with no updates.

    MIGRATE_OPT_THREADS=1 python benchmarks/learning.py [--report-only]

A gain is the mean on-policy reward of the last quarter of iterations minus that of the
first quarter, per run; ``lift`` is a configuration's gain minus its untrained twin's on
the same task and seed. The chosen default is the configuration with the largest mean lift
over both tasks among those whose mean last-iteration KL stays under ``--max-kl``.
Unfinished runs are listed; a partial grid says so in its status."""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import warnings
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from migrate_opt_bench.config import BenchmarkConfig, MethodSpec
from migrate_opt_bench.config_file import load_config
from migrate_opt_bench.result_files import command_line, write_markdown_and_json
from migrate_opt_bench.runner import run_cell, run_grid

HERE = Path(__file__).resolve().parent.parent  # benchmarks/
CONFIG = HERE / "configs" / "learning.toml"
OUT = HERE / "results" / "learning"
UNTRAINED = "untrained"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", default=str(CONFIG))
    p.add_argument("--out", default=str(OUT))
    p.add_argument("--workers", type=int, default=None)
    p.add_argument("--max-kl", type=float, default=1.0,
                   help="a default must keep its last-iteration KL to base under this")
    p.add_argument("--report-only", action="store_true", help="only report finished runs")
    return p.parse_args(argv)


def gain(curve: list[float | None]) -> float | None:
    """Mean of the last quarter of iterations minus the first quarter (None values out)."""
    q = max(len(curve) // 4, 1)
    first = [v for v in curve[:q] if v is not None]
    last = [v for v in curve[-q:] if v is not None]
    if len(curve) < 4 or not first or not last:
        return None
    return statistics.fmean(last) - statistics.fmean(first)


def settings(m: MethodSpec) -> dict[str, Any]:
    """The configuration a method trains with (LoRA and GRPO fields as given)."""
    config = dict(m.config)
    policy = config.pop("policy", {})
    lora = policy.get("lora", {}) if isinstance(policy, dict) else {}
    grpo = config.pop("grpo", {})
    return {"method": m.optimizer, "lora": dict(lora), "grpo": dict(grpo),
            **({"options": config} if config else {})}


def _mean(values: Sequence[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return statistics.fmean(vals) if vals else None


def per_config(config: BenchmarkConfig, runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (method, task): gains paired with the untrained twin, KL, best."""
    by_key = {(r["task"], r["method"], r["seed"]): r for r in runs}
    rows = []
    for m in config.methods:
        for t in config.tasks:
            done = [r for s in config.seeds if (r := by_key.get((t.label, m.label, s)))]
            if not done:
                continue
            twins = [by_key.get((t.label, UNTRAINED, r["seed"])) for r in done]
            gains = [gain(r["on_policy_reward"]) for r in done]
            untrained = [gain(w["on_policy_reward"]) if w else None for w in twins]
            lifts = [g - u for g, u in zip(gains, untrained, strict=True)
                     if g is not None and u is not None]
            rows.append({
                "method": m.label, "task": t.label, "config": settings(m), "seeds": len(done),
                "reward_gain": _mean(gains), "untrained_gain": _mean(untrained),
                "lift": _mean(lifts), "lifts": lifts,
                "kl_last": _mean([next((v for v in reversed(r["kl"]) if v is not None), None)
                                  for r in done]),
                "kl_exceeded_steps": sum(r.get("kl_exceeded", 0) for r in done),
                "best_score": _mean([r["best_score"] for r in done]),
                "reward_first": _mean([_mean(r["on_policy_reward"][:5]) for r in done]),
                "reward_last": _mean([_mean(r["on_policy_reward"][-5:]) for r in done]),
                "new_first": _mean([_mean(r.get("new_solutions", [])[:5]) for r in done]),
                "new_last": _mean([_mean(r.get("new_solutions", [])[-5:]) for r in done]),
            })
    return rows


def choose_default(rows: list[dict[str, Any]], max_kl: float) -> dict[str, Any] | None:
    """The trained configuration with the largest mean lift over tasks, its KL in bounds."""
    scores: dict[str, list[float]] = {}
    for r in rows:
        if r["method"] == UNTRAINED or r["lift"] is None:
            continue
        if r["kl_last"] is not None and r["kl_last"] > max_kl:
            scores.setdefault(r["method"], []).append(float("-inf"))
        else:
            scores.setdefault(r["method"], []).append(r["lift"])
    ranked = sorted(((statistics.fmean(v), k) for k, v in scores.items()), reverse=True)
    if not ranked or ranked[0][0] == float("-inf"):
        return None
    best = ranked[0][1]
    mine = [r for r in rows if r["method"] == best]
    return {
        "method": best, "config": mine[0]["config"], "mean_lift": ranked[0][0],
        "reward_gain": _mean([r["reward_gain"] for r in mine]),
        "untrained_gain": _mean([r["untrained_gain"] for r in mine]),
        "kl_last": _mean([r["kl_last"] for r in mine]),
        "seeds": min(r["seeds"] for r in mine), "tasks": [r["task"] for r in mine],
        "per_task": {r["task"]: {k: r[k] for k in ("reward_gain", "untrained_gain", "lift",
                                                   "kl_last", "seeds")} for r in mine},
    }


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    config = load_config(args.config)
    cells = config.cells()
    if args.report_only:
        results = [run_cell(c, args.out) for c in cells
                   if (Path(args.out) / "runs" / f"{c.key}.json").exists()]
    else:
        os.environ.setdefault("MIGRATE_OPT_THREADS", "1")
        results = run_grid(config, args.out, workers=args.workers)
    runs = [r for r in results if "error" not in r]
    finished = {r["key"] for r in runs}
    rows = per_config(config, runs)
    result = {
        "status": "complete" if len(finished) == len(cells) else
        f"partial: {len(finished)} of {len(cells)} runs finished",
        "command": command_line("benchmarks/learning.py", argv),
        "machine": f"{os.cpu_count()}-core {platform.machine()} CPU",
        "load_average": os.getloadavg(), "max_kl": args.max_kl,
        "grid": {"name": config.name, "seeds": list(config.seeds),
                 "tasks": [asdict(t) for t in config.tasks]},
        "default": choose_default(rows, args.max_kl), "configs": rows,
        "unfinished": [c.key for c in cells if c.key not in finished],
        "runs": [{k: r.get(k) for k in ("key", "task", "method", "seed", "iterations",
                                        "best_score", "on_policy_reward", "kl", "kl_exceeded",
                                        "new_solutions", "total_s")} for r in runs],
    }
    out = Path(args.out).parent / "learning"
    write_markdown_and_json(out, markdown(result), result)
    plot(config, runs, out.with_suffix(".png"))
    print(markdown(result))


def _f(v: float | None, digits: int = 3) -> str:
    return "-" if v is None else f"{v:+.{digits}f}" if digits == 3 else f"{v:.{digits}f}"


def markdown(r: dict[str, Any]) -> str:
    lines = [
        "# Learning: does the GRPO update move the policy?", "",
        f"Status: **{r['status']}**. `{r['command']}` on a {r['machine']}, load average "
        f"{', '.join(f'{x:.2f}' for x in r['load_average'])} when written. SmolLM2-135M-"
        "Instruct, on-policy GRPO, group 8, 20 iterations, seeds "
        f"{r['grid']['seeds']}; each run paired with the same task and seed and no updates "
        "(`untrained`).", "",
        "Gain: mean on-policy reward of the last quarter of iterations minus the first "
        "quarter; lift: gain minus the untrained twin's gain (same seed). KL: per-token KL "
        "to the base model at the last trained iteration. New: solutions a group evaluated "
        "for the first time (a policy that learns by repeating what it found falls to 0).",
        "",
        "| task | config | seeds | gain | untrained gain | lift | lift per seed | KL last "
        "| KL>max steps | reward first 5 -> last 5 | new per group first 5 -> last 5 | best |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c in sorted(r["configs"], key=lambda c: (c["task"], -(c["lift"] or -9))):
        lines.append(
            f"| {c['task']} | {c['method']} | {c['seeds']} | {_f(c['reward_gain'])} | "
            f"{_f(c['untrained_gain'])} | {_f(c['lift'])} | "
            f"{', '.join(_f(x) for x in c['lifts'])} | {_f(c['kl_last'], 2)} | "
            f"{c['kl_exceeded_steps']} | {_f(c['reward_first'], 3)} -> "
            f"{_f(c['reward_last'], 3)} | {_f(c['new_first'], 1)} -> "
            f"{_f(c['new_last'], 1)} | {_f(c['best_score'], 3)} |")
    d = r["default"]
    lines += ["", "## Chosen default", ""]
    if d is None:
        lines.append("None: no trained configuration has a lift with its KL in bounds.")
    else:
        lines.append(
            f"`{d['method']}` ({d['config']}): mean lift {d['mean_lift']:+.3f} over "
            f"{', '.join(d['tasks'])}; gain {d['reward_gain']:+.3f} against "
            f"{d['untrained_gain']:+.3f} untrained, KL last {d['kl_last']:.3f}, "
            f"{d['seeds']} seeds.")
    if r["unfinished"]:
        lines += ["", "Unfinished runs (resume with the same command): "
                  + ", ".join(f"`{k}`" for k in r["unfinished"])]
    return "\n".join(lines) + "\n"


def plot(config: BenchmarkConfig, runs: list[dict[str, Any]], path: Path) -> None:
    """Per task: on-policy mean reward, KL to base and new solutions per iteration, mean
    over seeds, one colour per configuration (untrained dashed black)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    tasks = [t.label for t in config.tasks]
    rows = ("on_policy_reward", "kl", "new_solutions")
    fig, axes = plt.subplots(len(rows), len(tasks), figsize=(6 * len(tasks) + 2.5, 10),
                             squeeze=False)
    palette = plt.get_cmap("tab10")
    for col, task in enumerate(tasks):
        for i, m in enumerate(config.methods):
            mine = [r for r in runs if r["task"] == task and r["method"] == m.label]
            for row, key in enumerate(rows):
                curves = [r.get(key) or [] for r in mine]
                if not any(curves) or (key == "kl" and m.label == UNTRAINED):
                    continue
                width = max(len(c) for c in curves)
                data = np.array([[np.nan if v is None else v for v in c]
                                 + [np.nan] * (width - len(c)) for c in curves], dtype=float)
                with warnings.catch_warnings():  # an iteration no seed has (None) is NaN
                    warnings.simplefilter("ignore", RuntimeWarning)
                    mean = np.nanmean(data, axis=0)
                style = ("--", "black") if m.label == UNTRAINED else ("-", palette(i % 10))
                axes[row, col].plot(np.arange(width), mean, style[0], color=style[1],
                                    label=f"{m.label} ({len(mine)})")
        axes[0, col].set_title(task)
        axes[0, col].set_ylabel("on-policy mean reward")
        axes[1, col].set_ylabel("KL to base (per token)")
        axes[1, col].set_yscale("symlog", linthresh=1e-3)
        axes[2, col].set_ylabel("new solutions per group")
        for ax in axes[:, col]:
            ax.set_xlabel("iteration")
            ax.grid(alpha=0.3)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="center right", fontsize=8, title="config (runs)")
    fig.tight_layout(rect=(0, 0, 1 - 2.5 / (6 * len(tasks) + 2.5), 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()
