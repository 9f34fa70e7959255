"""The entropic, leave-one-out advantage: credit that seeks the group's maximum.

Black-box optimisation rewards the best solution found, not the average one. The entropic
objective log E[exp(beta r)] tends to the maximum as beta grows; its gradient weights each
member by w_i = exp(beta r_i) / E[exp(beta r)], with baseline 1 (E[w] = 1). As in
TTT-Discover (arXiv 2601.16175), beta is chosen per group so that the tilted distribution
q_beta(i) ~ exp(beta r_i) sits at KL(q_beta || uniform) = ln 2 from uniform, and the
expectation for member i leaves i out, so a member cannot raise its own baseline.

Pure Python on purpose: a group holds a handful of rewards, and the maths is tested by hand.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

KL_TARGET = math.log(2.0)
"""KL(q_beta || uniform) that the adaptive beta aims for."""
BETA_MAX = 1e6
"""Upper end of the bisection; returned when the target cannot be reached (ties at the top)."""
BISECTION_STEPS = 60
WEIGHT_MAX = 1e6
"""Cap on a weight whose leave-one-out mean underflowed (one member far above the rest at a
large fixed beta); the gradient clip bounds the step in any case."""


def tilted_kl(rewards: Sequence[float], beta: float) -> float:
    """KL(q_beta || uniform) = log n - H(q_beta), with q_beta(i) ~ exp(beta r_i)."""
    top = max(rewards)
    weights = [math.exp(beta * (r - top)) for r in rewards]
    total = sum(weights)
    entropy = -sum(w / total * math.log(w / total) for w in weights if w > 0)
    return math.log(len(rewards)) - entropy


def adaptive_beta(rewards: Sequence[float], target: float = KL_TARGET) -> float:
    """The beta at which ``tilted_kl`` equals ``target``, by bisection on [0, BETA_MAX].

    The KL grows with beta towards log(n / m), m the number of rewards tied at the top; when
    that limit does not exceed the target, the target is out of reach and beta climbs until
    floating point no longer tells the KL from the target (at most BETA_MAX): the weights
    then split the credit among the tied best."""
    lo, hi = 0.0, BETA_MAX
    for _ in range(BISECTION_STEPS):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if tilted_kl(rewards, mid) < target else (lo, mid)
    return hi


def entropic_advantages(
    rewards: Sequence[float | None], beta: float | None = None
) -> list[float | None]:
    """A_i = w_i - 1 with w_i = e_i / mean_{j != i} e_j and e = exp(beta (r - max r)).

    ``beta=None`` picks it per group with :func:`adaptive_beta`. None rewards (masked
    members) stay None and take no part; fewer than two valid rewards, or all equal, give
    zeros (nothing to prefer). With two valid rewards the adaptive target is out of reach and
    the leave-one-out weight of the better one is unbounded, so the advantage falls back to
    +1 / -1: all the credit to the better member, as the limit of the objective says."""
    valid = [r for r in rewards if r is not None]
    if len(valid) < 2 or max(valid) == min(valid):
        return [None if r is None else 0.0 for r in rewards]
    if beta is None and len(valid) == 2:
        best = max(valid)
        return [None if r is None else (1.0 if r == best else -1.0) for r in rewards]
    if beta is not None and (not math.isfinite(beta) or beta < 0):
        raise ValueError(f"entropic beta must be a finite number >= 0, got {beta}")
    b = adaptive_beta(valid) if beta is None else beta
    top = max(valid)
    e = [math.exp(b * (r - top)) for r in valid]
    weights = iter([_loo_weight(e, i) for i in range(len(e))])
    return [None if r is None else next(weights) - 1.0 for r in rewards]


def _loo_weight(e: Sequence[float], i: int) -> float:
    """e_i over the mean of the others, summed directly (no cancellation from total - e_i)."""
    rest = sum(e[j] for j in range(len(e)) if j != i) / (len(e) - 1)
    return e[i] / rest if rest > 0 else WEIGHT_MAX
