"""An adaptive group mix: slots move to the samplers that have been finding good solutions.

The paper tunes alpha/beta/gamma per domain and finds that the best mix differs. Here the
generating samplers of a group share its slots by what they earned: a member *hits* when it
is new (not a replay, not a repeat) and its reward would have entered the top-k of all
records stored before its iteration. Each sampler's hit rate is smoothed with a Beta(1, 1)
prior, every sampler keeps ``floor`` slots so none starves, and the rest of the group is
split in proportion to the rates (largest remainder, ties by the order given).

Everything is computed from the stored groups and records, so a resumed run allocates
exactly as an uninterrupted one, and the allocation of any past iteration can be shown.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError
from ..values import Record


@dataclass(frozen=True)
class AdaptiveMixConfig:
    """How slots are reallocated among a group's generating samplers."""

    floor: int = 1
    """Slots every adapted sampler keeps, whatever it earned."""
    top_k: int = 5
    """A new member hits when it would enter the top-k of the records stored before it."""
    window: int | None = None
    """Only the last ``window`` iterations count (None: the whole run)."""
    fixed: tuple[str, ...] = ("greedy",)
    """Samplers that keep their count: replays find nothing new, so they would only lose
    slots they hold for the training signal."""

    def __post_init__(self) -> None:
        for name in ("floor", "top_k"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < (name == "top_k"):
                raise ConfigError(f"adaptive mix {name} must be an integer >= "
                                  f"{int(name == 'top_k')}, got {value!r}")
        if self.window is not None and (isinstance(self.window, bool) or self.window < 1):
            raise ConfigError(f"adaptive mix window must be >= 1 or None, got {self.window!r}")
        if isinstance(self.fixed, str):
            object.__setattr__(self, "fixed", (self.fixed,))
        object.__setattr__(self, "fixed", tuple(self.fixed))


SLOT_TAG = "mix_slot"
"""Tag on each member of an adaptive group: the sampler whose slot it filled (a sampler that
falls back to on-policy proposals still earns, or loses, for its own slot)."""


def hits_and_trials(
    groups: Iterable[tuple[int, Sequence[Mapping[str, Any]]]],
    records: Iterable[Record],
    samplers: Sequence[str],
    config: AdaptiveMixConfig,
    before: int | None = None,
) -> dict[str, tuple[int, int]]:
    """sampler -> (hits, trials) over the stored groups (of iterations < ``before``)."""
    scored = sorted((r.iteration, r.score) for r in records if r.score is not None)
    stored = list(groups)
    last = max((it for it, _ in stored), default=-1) if before is None else before - 1
    first = last - config.window + 1 if config.window else -math.inf
    tally = {s: [0, 0] for s in samplers}
    for iteration, members in stored:
        if not first <= iteration <= last:
            continue
        bar = _kth_best([s for it, s in scored if it < iteration], config.top_k)
        for m in members:
            slot = (m.get("tags") or {}).get(SLOT_TAG, m.get("source"))
            if slot not in tally or m.get("prompt") is None:
                continue
            tally[slot][1] += 1
            reward = m.get("reward")
            tally[slot][0] += int(
                reward is not None and not m.get("repeat") and reward > bar
            )
    return {s: (h, t) for s, (h, t) in tally.items()}


def _kth_best(scores: list[float], k: int) -> float:
    return sorted(scores, reverse=True)[k - 1] if len(scores) >= k else -math.inf


def allocate(size: int, rates: Mapping[str, float], floor: int) -> dict[str, int]:
    """Split ``size`` slots: ``floor`` each, the rest in proportion to ``rates``."""
    names = list(rates)
    if floor * len(names) > size:
        raise ConfigError(
            f"an adaptive mix of {len(names)} samplers with floor {floor} needs at least "
            f"{floor * len(names)} slots, the group has {size}: lower the floor or grow the group"
        )
    spare = size - floor * len(names)
    total = sum(rates.values())
    shares = {n: spare * rates[n] / total if total > 0 else spare / len(names) for n in names}
    counts = {n: floor + math.floor(shares[n]) for n in names}
    left = size - sum(counts.values())
    by_remainder = sorted(names, key=lambda n: (-(shares[n] - math.floor(shares[n])),
                                                 names.index(n)))
    for n in by_remainder[:left]:
        counts[n] += 1
    return counts


def adaptive_composition(
    size: int,
    samplers: Sequence[str],
    groups: Iterable[tuple[int, Sequence[Mapping[str, Any]]]],
    records: Iterable[Record],
    config: AdaptiveMixConfig = AdaptiveMixConfig(),
    before: int | None = None,
) -> dict[str, int]:
    """The slots of the next group (or of iteration ``before``) among ``samplers``."""
    tally = hits_and_trials(groups, records, samplers, config, before)
    rates = {s: (h + 1) / (t + 2) for s, (h, t) in tally.items()}
    return allocate(size, rates, config.floor)
