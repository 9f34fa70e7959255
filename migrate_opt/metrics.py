"""The one definition of the numbers every comparison reports, used by the HTML report and
by the benchmark harness alike (so a report and a benchmark table never disagree).

* **best so far**: after each evaluation, the best valid score among the evaluations up to
  it (None before the first valid one).
* **top-k AUC** (PMO, Gao et al. 2022): the mean of the top-k scores is logged every
  ``log_every`` evaluations, integrated by the trapezoid rule from 0 at no evaluation,
  padded with the last value up to the budget when a run stops early, and divided by the
  budget. Invalid solutions count 0, as in PMO, so 1.0 is the best possible for scores in
  [0, 1].
* **evaluations to solve**: evaluations up to and including the first solving one."""

from __future__ import annotations

from collections.abc import Sequence

from .values import Record


def best_so_far(scores: Sequence[float | None]) -> list[float | None]:
    """The best valid score after each evaluation (None until the first valid one)."""
    out: list[float | None] = []
    best: float | None = None
    for s in scores:
        if s is not None and (best is None or s > best):
            best = s
        out.append(best)
    return out


def best_so_far_at(scores: Sequence[float | None], points: Sequence[int]) -> list[float | None]:
    """``best_so_far`` after each of the first ``p`` evaluations, for each ``p`` of
    ``points`` (beyond the run's end: its final best)."""
    curve = best_so_far(scores)
    return [curve[min(p, len(curve)) - 1] if curve and p > 0 else None for p in points]


def improvements(scores: Sequence[float | None]) -> list[tuple[int, float]]:
    """(evaluation number, best so far) where the best improves, carried to the last
    evaluation: the steps of the best-so-far curve."""
    steps: list[tuple[int, float]] = []
    for i, best in enumerate(best_so_far(scores)):
        if best is not None and (not steps or best > steps[-1][1]):
            steps.append((i + 1, best))
    if steps and len(scores) > steps[-1][0]:
        steps.append((len(scores), steps[-1][1]))
    return steps


def top_k_mean(scores: Sequence[float | None], k: int) -> float:
    """Mean of the ``k`` best scores (fewer when fewer exist; invalid counts 0)."""
    if not scores:
        return 0.0
    top = sorted((s if s is not None else 0.0 for s in scores), reverse=True)[:k]
    return sum(top) / len(top)


def top_k_auc(scores: Sequence[float | None], k: int, budget: int, log_every: int = 1) -> float:
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


def log_points(budget: int, log_every: int) -> list[int]:
    """Evaluation counts at which curves are logged: every ``log_every``, and the budget."""
    return sorted({*range(log_every, budget + 1, log_every), budget})


def evaluations_to_solve(records: Sequence[Record]) -> int | None:
    """Evaluations up to and including the first solving one; None when none solved."""
    return next((i + 1 for i, r in enumerate(records) if r.solved), None)
