"""Per-run metrics, computed from the run's database so that a resumed run is measured
like an uninterrupted one. Best so far and AUC are ``migrate_opt.metrics`` (the HTML
report uses the same); a task may add its own numbers through a metric hook (the
``metrics`` key of its ``[tasks.<label>]`` table)."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from migrate_opt import ConfigError, Database, Record, Task
from migrate_opt.learning import learning_curve
from migrate_opt.metrics import (
    best_so_far_at,
    evaluations_to_solve,
    log_points,
    top_k_auc,
    top_k_mean,
)
from migrate_opt.report.mix import is_adaptive, slot_counts

__all__ = ["RunMetrics", "best_so_far_at", "log_points", "measure", "top_k_auc", "top_k_mean"]


@dataclass
class RunMetrics:
    """What one (task, method, seed) run measured."""

    task: str
    method: str
    seed: int
    budget: int
    evaluations: int
    """Evaluations actually made (fewer than the budget when the run stopped early)."""
    iterations: int
    stopped: str
    best_score: float | None
    best_solution: str | None
    solved: bool
    evals_to_solve: int | None
    """Evaluations up to and including the first solving one; None when unsolved."""
    invalid: int
    """Proposals with no valid solution plus evaluated solutions scored invalid."""
    top1_auc: float
    top10_auc: float
    generate_s: float
    """Seconds proposing (LLM generation, or the baseline's own model fitting)."""
    train_s: float
    evaluate_s: float
    total_s: float
    resumed: bool = False
    """Times cover only the last session of a run that was interrupted and resumed."""
    curve: list[float | None] = field(default_factory=list)
    """Best-so-far at each of ``log_points(budget, log_every)``."""
    extra: dict[str, Any] = field(default_factory=dict)
    """What the task's metric hook measured (ARC pass@1/pass@2, Semantle guesses...)."""
    on_policy_reward: list[float | None] = field(default_factory=list)
    """Per iteration, the mean reward of its valid on-policy members (None: none valid):
    whether the policy itself is learning, apart from what the search kept."""
    kl: list[float | None] = field(default_factory=list)
    """Per iteration, the per-token KL to the base model at its first GRPO step (None: no
    training, or the step was skipped)."""
    kl_exceeded: int = 0
    """GRPO steps whose KL to base was past the configured ``max_kl`` (collapse)."""
    new_solutions: list[int] = field(default_factory=list)
    """Per iteration, the solutions it evaluated for the first time: a policy that learns by
    repeating what it already found shows here as a fall to zero."""
    mix: dict[str, list[int]] = field(default_factory=dict)
    """Per sampler, the members its slots held in each iteration, for a run with an adaptive
    mix (empty for a fixed one): where the mix moved the group."""
    scores: list[float | None] = field(default_factory=list)
    """Every evaluation's score in order (None: invalid), so any smaller budget can be
    measured from the same run (the budget study reports 100, 250, 500 and 1000)."""

    def row(self) -> dict[str, Any]:
        """A flat dict for CSV (without the per-point curves; the hook's numbers as
        columns)."""
        d = asdict(self)
        for key in CURVES:
            d.pop(key)
        return {**d, **d.pop("extra")}


CURVES = ("curve", "on_policy_reward", "kl", "new_solutions", "mix", "scores")


def measure(
    task: Task, db: Database, *, task_label: str, method: str, seed: int, budget: int,
    log_every: int, stopped: str, seconds: dict[str, float], resumed: bool,
    hook: str | None = None,
) -> RunMetrics:
    records = db.records()
    scores = [r.score for r in records]
    learned = learning_curve(db)
    best = db.top(1)
    solved_at = evaluations_to_solve(records)
    groups = db.groups()
    empty_members = sum(1 for _, members in groups for m in members if not m.get("solutions"))
    return RunMetrics(
        task=task_label, method=method, seed=seed, budget=budget, evaluations=len(records),
        iterations=len(groups), stopped=stopped,
        best_score=best[0].score if best else None,
        best_solution=best[0].solution if best else None,
        solved=solved_at is not None, evals_to_solve=solved_at,
        invalid=empty_members + sum(1 for s in scores if s is None),
        top1_auc=top_k_auc(scores, 1, budget, log_every),
        top10_auc=top_k_auc(scores, 10, budget, log_every),
        generate_s=seconds.get("ask", 0.0), train_s=seconds.get("train", 0.0),
        evaluate_s=seconds.get("evaluate", 0.0), total_s=seconds.get("total", 0.0),
        resumed=resumed, curve=best_so_far_at(scores, log_points(budget, log_every)),
        extra=dict(resolve_hook(hook)(task, records)) if hook else {},
        on_policy_reward=learned.on_policy_reward, kl=learned.kl,
        kl_exceeded=learned.kl_exceeded, new_solutions=learned.new_solutions,
        mix=mix_per_iteration(groups), scores=scores,
    )


def mix_per_iteration(groups: Sequence[tuple[int, Sequence[Mapping[str, Any]]]],
                      ) -> dict[str, list[int]]:
    """sampler -> members of its slots per iteration; empty unless the mix was adaptive."""
    if not is_adaptive(groups):
        return {}
    return {name: [int(n) for _, n in points] for name, points in slot_counts(groups).items()}


def resolve_hook(name: str) -> Callable[[Task, Sequence[Record]], Mapping[str, Any]]:
    """The function a ``package.module:function`` metric hook names (an installed module:
    the config names code, it never carries any)."""
    module, _, attr = name.partition(":")
    try:
        fn = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"metric hook {name!r} not found ({exc}); install the package that "
                          "provides it or fix the name") from exc
    if not callable(fn):
        raise ConfigError(f"metric hook {name!r} is not a function")
    return fn  # type: ignore[no-any-return]
