"""Per-run metrics, computed from the run's database so that a resumed run is measured
like an uninterrupted one.

AUC follows PMO (Gao et al., 2022): the mean of the top-k scores is logged every
``log_every`` evaluations, integrated by the trapezoid rule from 0 at no evaluation,
padded with the last value up to the budget when a run stops early, and divided by the
budget. Invalid solutions count 0, as in PMO."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from migrate_opt import Database, Task
from migrate_opt.learning import learning_curve


def top_k_mean(scores: Sequence[float | None], k: int) -> float:
    """Mean of the ``k`` best scores (fewer when fewer exist; invalid counts 0)."""
    if not scores:
        return 0.0
    top = sorted((s if s is not None else 0.0 for s in scores), reverse=True)[:k]
    return sum(top) / len(top)


def top_k_auc(scores: Sequence[float | None], k: int, budget: int, log_every: int) -> float:
    """PMO's top-k AUC of scores in evaluation order, normalised by ``budget``."""
    n = min(len(scores), budget)
    total, previous, done = 0.0, 0.0, 0
    for idx in range(log_every, n, log_every):
        now = top_k_mean(scores[:idx], k)
        total += log_every * (now + previous) / 2
        previous, done = now, idx
    now = top_k_mean(scores[:n], k)
    total += (n - done) * (now + previous) / 2
    total += (budget - n) * now  # a run that stopped early keeps its last value
    return total / budget


def best_so_far(scores: Sequence[float | None], points: Sequence[int]) -> list[float | None]:
    """Best valid score among the first ``p`` evaluations, for each ``p`` of ``points``
    (beyond the run's end: its final best)."""
    out: list[float | None] = []
    best: float | None = None
    i = 0
    for p in points:
        while i < min(p, len(scores)):
            s = scores[i]
            if s is not None and (best is None or s > best):
                best = s
            i += 1
        out.append(best)
    return out


def log_points(budget: int, log_every: int) -> list[int]:
    return sorted({*range(log_every, budget + 1, log_every), budget})


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
    on_policy_reward: list[float | None] = field(default_factory=list)
    """Per iteration, the mean reward of its valid on-policy members (None: none valid):
    whether the policy itself is learning, apart from what the search kept."""
    kl: list[float | None] = field(default_factory=list)
    """Per iteration, the per-token KL to the base model at its first GRPO step (None: no
    training, or the step was skipped)."""
    kl_exceeded: int = 0
    """GRPO steps whose KL to base was past the configured ``max_kl`` (collapse)."""

    def row(self) -> dict[str, Any]:
        """A flat dict for CSV (without the per-point curves)."""
        d = asdict(self)
        for key in CURVES:
            d.pop(key)
        return d


CURVES = ("curve", "on_policy_reward", "kl")


def measure(
    task: Task, db: Database, *, task_label: str, method: str, seed: int, budget: int,
    log_every: int, stopped: str, seconds: dict[str, float], resumed: bool,
) -> RunMetrics:
    records = db.records()
    scores = [r.score for r in records]
    learned = learning_curve(db)
    best = db.top(1)
    solved_at = next((r.seq + 1 for r in records if r.solved), None)
    empty_members = sum(
        1 for _, members in db.groups() for m in members if not m.get("solutions")
    )
    return RunMetrics(
        task=task_label, method=method, seed=seed, budget=budget, evaluations=len(records),
        iterations=len(db.groups()), stopped=stopped,
        best_score=best[0].score if best else None,
        best_solution=best[0].solution if best else None,
        solved=solved_at is not None, evals_to_solve=solved_at,
        invalid=empty_members + sum(1 for s in scores if s is None),
        top1_auc=top_k_auc(scores, 1, budget, log_every),
        top10_auc=top_k_auc(scores, 10, budget, log_every),
        generate_s=seconds.get("ask", 0.0), train_s=seconds.get("train", 0.0),
        evaluate_s=seconds.get("evaluate", 0.0), total_s=seconds.get("total", 0.0),
        resumed=resumed, curve=best_so_far(scores, log_points(budget, log_every)),
        on_policy_reward=learned.on_policy_reward, kl=learned.kl,
        kl_exceeded=learned.kl_exceeded,
    )
