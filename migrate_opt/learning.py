"""Is the policy learning? Per iteration, the mean reward of the on-policy members (what the
policy itself now samples from the task prompt, apart from what the search kept), the
per-token KL to the base model, and how many solutions the group evaluated for the first
time (a policy that learns by repeating what it found falls to 0). The progress bar,
``migrate-opt show``, the HTML report and the benchmarks all read them from here."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .values import Member, user_value

ON_POLICY = "on_policy"


def on_policy_reward(members: Iterable[Member | Mapping[str, Any]]) -> float | None:
    """Mean reward of the valid on-policy members (None when there is none)."""
    rewards = []
    for m in members:
        source, reward = (m.source, m.reward) if isinstance(m, Member) else (
            m.get("source"), m.get("reward"))
        if source == ON_POLICY and reward is not None:
            rewards.append(float(reward))
    return sum(rewards) / len(rewards) if rewards else None


def iteration_kl(steps: Sequence[Mapping[str, Any]]) -> float | None:
    """The KL to base of one iteration: at its first GRPO step, the policy that sampled the
    group (None when the step was skipped or no KL was measured)."""
    if not steps or steps[0].get("skipped") or "kl" not in steps[0]:
        return None
    return float(steps[0]["kl"])


@dataclass
class LearningCurve:
    """Per iteration of a study, in order."""

    iterations: list[int] = field(default_factory=list)
    on_policy_reward: list[float | None] = field(default_factory=list)
    kl: list[float | None] = field(default_factory=list)
    kl_exceeded: int = 0
    """GRPO steps whose KL to base was past the run's ``max_kl`` (collapse)."""
    new_solutions: list[int] = field(default_factory=list)
    """Solutions each group evaluated for the first time (its other members repeated known
    ones, or failed)."""

    def summary(self, window: int = 5) -> dict[str, float | None]:
        """Mean on-policy reward of the first and last ``window`` iterations, last KL."""
        return {"reward_first": _mean(self.on_policy_reward[:window]),
                "reward_last": _mean(self.on_policy_reward[-window:]),
                "kl_last": next((k for k in reversed(self.kl) if k is not None), None)}


def learning_curve(db: Any) -> LearningCurve:
    """The study's curve from its groups and training metrics (a Database); rewards read
    as the objective the user gave (un-negated in a minimized study)."""
    steps: dict[int, list[Mapping[str, Any]]] = {}
    exceeded = 0
    for m in db.metrics():
        steps.setdefault(int(m["iteration"]), []).append(m)
        exceeded += int(float(m.get("kl_exceeded", 0.0)) > 0)
    curve = LearningCurve(kl_exceeded=exceeded)
    first_seen = Counter(r.iteration for r in db.records())  # warm starts: iteration -1
    direction = db.settings().get("direction", "maximize")
    for iteration, members in db.groups():
        curve.iterations.append(iteration)
        curve.new_solutions.append(first_seen.get(iteration, 0))
        curve.on_policy_reward.append(user_value(on_policy_reward(members), direction))
        mine = sorted(steps.get(iteration, []), key=lambda m: int(m.get("step", 0)))
        curve.kl.append(iteration_kl(mine))
    return curve


def _mean(values: Sequence[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return sum(vals) / len(vals) if vals else None
