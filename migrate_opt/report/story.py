"""The words of a report: why a run stopped, where its time went, what each group found and
what training did, computed from what the study stored (records, groups, metrics and the
run log ``loop.RUNS_KEY``); nothing here runs the task's code."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..learning import LearningCurve
from ..values import Record

Group = tuple[int, list[dict[str, Any]]]

STOPS = {
    "budget": "the budget was spent",
    "solved": "the task was solved (stop when solved)",
    "stale": "{patience} groups in a row brought no new solution (patience {patience}): "
             "the method kept proposing what was already evaluated",
    "iterations": "it ran the number of groups it was asked for",
    "interrupted": "it was interrupted (Ctrl-C); `migrate-opt resume` goes on from here",
    None: "no stop is recorded: the run is still going, or its process was killed",
}


def stop_reason(run: Mapping[str, Any]) -> str:
    """Why a logged run ended, in words."""
    stopped = run.get("stopped")
    if isinstance(stopped, str) and stopped.startswith("error"):
        return f"it failed: {stopped}"
    text = STOPS.get(stopped, f"stopped: {stopped}")
    return text.format(patience=run.get("patience", "?"))


def short_of_budget(evaluations: int, budget: Any, stopped: Any) -> bool:
    """A run that ended with budget left, for a reason other than solving the task."""
    return isinstance(budget, int) and evaluations < budget and stopped != "solved"


TIME_PARTS = ("generate", "propose", "train", "evaluate", "other")


def time_split(runs: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """Seconds per part over every logged run: generating (the LLM), proposing (a
    baseline's own model), training (GRPO step and checkpoint), evaluating, and the rest."""
    total: dict[str, float] = dict.fromkeys(("total", *TIME_PARTS), 0.0)
    for run in runs:
        s = {k: float(v) for k, v in (run.get("seconds") or {}).items()
             if isinstance(v, (int, float))}
        total["total"] += s.get("total", 0.0)
        total["generate"] += s.get("generate", 0.0)
        total["propose"] += max(s.get("ask", 0.0) - s.get("generate", 0.0), 0.0)
        total["train"] += s.get("train", 0.0) + s.get("checkpoint", 0.0)
        total["evaluate"] += s.get("evaluate", 0.0)
    total["other"] = max(total["total"] - sum(total[k] for k in TIME_PARTS[:-1]), 0.0)
    return total


def duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.1f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


# -- per group ----------------------------------------------------------------------------
def is_sampled(member: Mapping[str, Any]) -> bool:
    """A member the model wrote now (it has sampled tokens), not a replay or a baseline's."""
    return bool(member.get("token_ids")) and member.get("source") != "greedy"


@dataclass
class GroupStats:
    """Per stored group, in iteration order."""

    iterations: list[int] = field(default_factory=list)
    new: list[int] = field(default_factory=list)
    """Solutions the group evaluated for the first time."""
    repeat_rate: list[float | None] = field(default_factory=list)
    """Share of its proposing members (replays left out) that only repeated known ones."""


def group_stats(groups: Sequence[Group], curve: LearningCurve) -> GroupStats:
    new_by_iteration = dict(zip(curve.iterations, curve.new_solutions, strict=True))
    stats = GroupStats()
    for it, members in groups:
        proposing = [m for m in members if m.get("source") != "greedy"]
        stats.iterations.append(it)
        stats.new.append(new_by_iteration.get(it, 0))
        stats.repeat_rate.append(
            sum(bool(m.get("repeat")) for m in proposing) / len(proposing) if proposing
            else None)
    return stats


def window(n: int) -> int:
    """Groups averaged at each end of a run for a first-versus-last sentence."""
    return max(1, min(5, n // 3))


def first_last(values: Sequence[float | int | None]) -> tuple[float, float] | None:
    vals = [float(v) for v in values if v is not None]
    if len(vals) < 2:
        return None
    w = window(len(vals))
    return sum(vals[:w]) / w, sum(vals[-w:]) / w


def trend(name: str, values: Sequence[float | int | None], fmt: str = "{:.1f}") -> str | None:
    """'new per group fell from 6.0 to 1.2 (first and last 5 groups)', or None."""
    pair = first_last(values)
    if pair is None:
        return None
    a, b = pair
    w = window(len([v for v in values if v is not None]))
    ends = "first and last group" if w == 1 else f"mean of the first and last {w} groups"
    shown_a, shown_b = fmt.format(a), fmt.format(b)
    verb = "stayed at" if shown_a == shown_b else ("rose" if b > a else "fell")
    moved = f"{verb} {shown_a}" if verb == "stayed at" else f"{verb} from {shown_a} to {shown_b}"
    return f"{name} {moved} ({ends})"


def training_sentences(stats: GroupStats, curve: LearningCurve, trained: bool) -> list[str]:
    """What the groups found and, when the method trained, what training did, in words."""
    out = [s for s in (
        trend("New solutions per group", stats.new),
        trend("The share of members that only repeated a known solution", stats.repeat_rate,
              "{:.0%}"),
    ) if s]
    if any(r is not None for r in curve.on_policy_reward):
        line = trend("The on-policy mean reward (what the model samples from the task prompt)",
                     curve.on_policy_reward, "{:.3f}")
        if line:
            out.append(line)
    kls = [k for k in curve.kl if k is not None]
    if trained and kls:
        out.append(f"The KL to the base model went from {kls[0]:.3g} at the first step to "
                   f"{kls[-1]:.3g} at the last (largest {max(kls):.3g}): "
                   + ("the adapter moved the model." if max(kls) > 1e-3 else
                      "the adapter barely moved the model."))
    pair = first_last(stats.new)
    if trained and pair and pair[1] < pair[0] / 2:
        out.append("Fewer new solutions per group as training goes on means the model narrowed "
                   "toward what it had already found.")
    return out


def stages(groups: Sequence[Group], n: int = 4) -> list[Group]:
    """Up to ``n`` groups spread over the run (first and last included) that hold members
    the model wrote."""
    written = [(it, ms) for it, ms in groups if any(is_sampled(m) for m in ms)]
    if len(written) <= n:
        return written
    picks = sorted({round(i * (len(written) - 1) / (n - 1)) for i in range(n)})
    return [written[i] for i in picks]


def outcome(member: Mapping[str, Any], iteration: int, by_solution: Mapping[str, Record]
            ) -> str:
    """What became of a member's solutions: new, a repeat, or invalid (and why)."""
    sols = member.get("solutions") or []
    if not sols:
        return str(member.get("error") or "no solution parsed")
    parts = []
    for s in sols:
        r = by_solution.get(s)
        name = s if len(s) <= 40 else s[:37] + "..."
        if r is None:
            parts.append(f"{name}: not evaluated (over the budget)")
        elif r.score is None:
            parts.append(f"{name}: invalid, "
                         f"{str(r.info.get('error', 'no reason stored'))[:120]}")
        else:
            how = "new" if r.iteration == iteration else "a repeat"
            parts.append(f"{name}: {how}, score {r.objective or 0.0:.4f}")
    return "; ".join(parts)
