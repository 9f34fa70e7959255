"""The maths of the GRPO update: group advantages, importance weights and the clipped
loss, pure functions tested by hand (docs/method.md, step 8). torch is imported inside the
functions so that importing this module stays cheap."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..errors import ConfigError

if TYPE_CHECKING:
    import torch

ADVANTAGE_MODES = ("none", "std", "entropic", "max@k")
AGGREGATIONS = ("sequence-mean", "token-mean")
STD_EPS = 1e-4
"""Added to the group std (as TRL does) so a near-constant group cannot blow up."""

ADVANTAGE_LIMIT = 1e6
"""Largest advantage magnitude the loss sees (see :func:`bounded`)."""


def choice(name: str, value: object, allowed: Sequence[str], extra: str = "") -> None:
    """Refuse ``value`` unless it is one of ``allowed``, naming the options."""
    if value not in allowed:
        options = " or ".join(repr(a) for a in allowed)
        raise ConfigError(f"{name} must be {options}{extra}, got {value!r}")


def advantages(
    rewards: Sequence[float | None], mode: str = "none", beta: float | None = None,
    k: int = 2,
) -> list[float | None]:
    """Group-relative advantages; None rewards (masked members) stay None and are left out
    of the mean and std. Fewer than two valid rewards give zeros: nothing to compare.
    ``beta`` is the fixed beta of the "entropic" mode (None: adaptive); ``k`` the subset
    size of "max@k"."""
    choice("advantage mode", mode, ADVANTAGE_MODES)
    if mode == "entropic":
        from .entropic import entropic_advantages

        return entropic_advantages(rewards, beta)
    if mode == "max@k":
        return max_at_k_advantages(rewards, k)
    valid = [r for r in rewards if r is not None]
    if len(valid) < 2:
        return [None if r is None else 0.0 for r in rewards]
    mean = sum(valid) / len(valid)
    scale = 1.0
    if mode == "std":
        # Sample std (ddof=1), as TRL's torch.std.
        std = math.sqrt(sum((r - mean) ** 2 for r in valid) / (len(valid) - 1))
        scale = std + STD_EPS
    return [None if r is None else (r - mean) / scale for r in rewards]


def bounded(adv: Sequence[float | None]) -> list[float | None]:
    """The group's advantages scaled down together so that none exceeds ADVANTAGE_LIMIT.

    The loss runs in float32 (largest 3.4e38): a raw advantage of 1e100 (a reward the
    "none" mode passes through) would turn it into inf and the adapter into NaN. Scaling
    the whole group keeps the direction of the gradient; at this size its norm is far past
    ``max_grad_norm``, which the step clips to in any case, so the update is the same."""
    top = max((abs(a) for a in adv if a is not None), default=0.0)
    if top <= ADVANTAGE_LIMIT:
        return list(adv)
    factor = ADVANTAGE_LIMIT / top
    return [None if a is None else a * factor for a in adv]


def max_at_k_advantages(rewards: Sequence[float | None], k: int) -> list[float | None]:
    """Credit for the best of k samples rather than the mean (max@k, arXiv 2510.23393).

    The unbiased gradient of E[max of k samples] from n >= k samples weights each sample
    by w_i, the mean of max(S) over the k-subsets S that contain it; the baseline is the
    mean of w (the group's max@k estimate), so the advantages sum to zero. Sorted
    ascending, the sample at rank j (1-based) is the max of C(j-1, k-1) of its subsets and
    r_(m) is the max of C(m-2, k-2) of them for each m > j. k = 1 is plain GRPO (reward
    minus mean); k is capped at n - 1, since at k = n every sample shares the same max and
    nothing is learned. None rewards stay None."""
    if k < 1:
        raise ConfigError(f"max@k needs k >= 1, got {k}")
    valid = sorted((r, i) for i, r in enumerate(rewards) if r is not None)
    n = len(valid)
    out: list[float | None] = [None if r is None else 0.0 for r in rewards]
    if n < 2:
        return out
    k = min(k, n - 1)
    total = math.comb(n - 1, k - 1)
    # Suffix sums of C(m-2, k-2) r_(m), from the top rank down.
    above = [0.0] * (n + 2)
    for m in range(n, 0, -1):
        above[m] = above[m + 1] + _comb(m - 2, k - 2) * valid[m - 1][0]
    weights = [(math.comb(j - 1, k - 1) * valid[j - 1][0] + above[j + 1]) / total
               for j in range(1, n + 1)]
    baseline = sum(weights) / n
    for (_, i), w in zip(valid, weights, strict=True):
        out[i] = w - baseline
    return out


def _comb(n: int, r: int) -> int:
    """C(n, r), 0 where r or n is negative (no such subset)."""
    return math.comb(n, r) if n >= 0 and r >= 0 else 0


def truncated_is_weights(
    logp: torch.Tensor, behaviour: torch.Tensor, rows: torch.Tensor, truncation: float
) -> torch.Tensor:
    """Per-token min(exp(logp - behaviour), truncation) on the selected ``rows`` (bool [B]),
    1 elsewhere; detached: the weights correct the sampling, they are not trained."""
    import torch

    weights = torch.exp(logp.detach() - behaviour).clamp(max=truncation)
    return torch.where(rows[:, None], weights, torch.ones_like(weights))


def grpo_loss(
    logp: torch.Tensor,
    old_logp: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    clip_low: float,
    clip_high: float,
    aggregation: str = "sequence-mean",
    ref_logp: torch.Tensor | None = None,
    kl_coef: float = 0.0,
    is_weights: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """The clipped GRPO objective, negated to be minimised.

    ``logp``, ``old_logp``, ``ref_logp``, ``mask``, ``is_weights``: [B, T] per token;
    ``advantages``: [B]. Rows with an all-zero mask (masked members) are left out entirely.
    The KL term is the k3 estimator exp(ref - logp) - (ref - logp) - 1."""
    import torch

    choice("loss aggregation", aggregation, AGGREGATIONS)
    mask = mask.to(logp.dtype)
    adv = advantages.to(logp.dtype)[:, None]
    ratio = torch.exp(logp - old_logp)
    clipped = ratio.clamp(1 - clip_low, 1 + clip_high)
    per_token = -torch.min(ratio * adv, clipped * adv)
    if is_weights is not None:
        per_token = per_token * is_weights
    kl = torch.zeros_like(logp)
    if ref_logp is not None:
        kl = k3_kl(ref_logp, logp)
        per_token = per_token + kl_coef * kl
    loss = _aggregate(per_token, mask, aggregation)
    is_clipped = ((ratio > 1 + clip_high) & (adv > 0)) | ((ratio < 1 - clip_low) & (adv < 0))
    tokens = mask.sum().clamp(min=1)
    stats = {
        "clip_fraction": float((is_clipped * mask).sum() / tokens),
        "kl": float((kl.detach() * mask).sum() / tokens),
        "ratio_mean": float((ratio.detach() * mask).sum() / tokens),
    }
    return loss, stats


def k3_kl(ref_logp: torch.Tensor, logp: torch.Tensor) -> torch.Tensor:
    """Per token, the k3 sample estimate exp(ref - logp) - (ref - logp) - 1 of the KL to
    the reference: unbiased for tokens the policy sampled from the prompt it is scored
    under, and no KL for others (:func:`next_token_kl`)."""
    import torch

    delta = ref_logp - logp
    return torch.exp(delta) - delta - 1


def next_token_kl(policy: torch.Tensor, base: torch.Tensor) -> float:
    """Mean over positions of KL(policy || base) between next-token distributions, exact
    over the vocabulary; ``policy`` and ``base`` are [N, V] log-probabilities.

    The k3 sample estimate in the loss is a KL only for tokens the policy sampled from the
    prompt it is scored under. MiGrATe scores every member as a completion of the task
    prompt, also the neighbourhood members sampled from other prompts; on those the sample
    estimate is no KL at all and reached 1e5 and beyond in long Semantle runs. The exact
    KL holds for any completion: it only uses them as the contexts it is measured at."""
    import torch

    if policy.numel() == 0:
        return 0.0
    per_position = (torch.exp(policy) * (policy - base)).sum(dim=-1)
    return float(per_position.clamp(min=0.0).mean())


def _aggregate(per_token: torch.Tensor, mask: torch.Tensor, aggregation: str) -> torch.Tensor:
    if aggregation == "token-mean":
        return (per_token * mask).sum() / mask.sum().clamp(min=1)
    lengths = mask.sum(dim=1)
    rows = lengths > 0
    per_sequence = (per_token * mask).sum(dim=1)[rows] / lengths[rows]
    return per_sequence.mean() if per_sequence.numel() else per_token.sum() * 0
