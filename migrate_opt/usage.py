"""Token usage: what sampling a group cost, summed from its members, shown by ``show``,
the report and the progress bar.

A member's ``usage`` holds the tokens of the request that sampled it: an endpoint reports
one request's prompt and completion tokens together, so the first member of each request
carries them and the others carry zeros; the sum over a group is exact. ``cost`` is there
when the policy had prices (per million tokens) and is priced when sampled, so a study
resumed against another endpoint keeps each part's own price."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float | None = None
    """Priced share only; None when no member was priced."""

    @classmethod
    def of(cls, stored: Any) -> Usage:
        """From a member's stored ``usage``; a study file is untrusted, so anything but
        finite non-negative numbers counts as nothing."""
        if not isinstance(stored, Mapping):
            return cls()

        def number(key: str) -> float | None:
            v = stored.get(key)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v < 1e18:
                return None
            return float(v)

        return cls(int(number("prompt_tokens") or 0), int(number("completion_tokens") or 0),
                   number("cost"))

    def __add__(self, other: Usage) -> Usage:
        costs = [c for c in (self.cost, other.cost) if c is not None]
        return Usage(self.prompt_tokens + other.prompt_tokens,
                     self.completion_tokens + other.completion_tokens,
                     sum(costs) if costs else None)

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"prompt_tokens": self.prompt_tokens,
                               "completion_tokens": self.completion_tokens}
        if self.cost is not None:
            out["cost"] = self.cost
        return out

    def line(self) -> str:
        """``prompt 1,234 + completion 5,678 tokens, cost 0.0123``."""
        text = (f"prompt {self.prompt_tokens:,} + completion {self.completion_tokens:,} "
                "tokens")
        return text + ("" if self.cost is None else f", cost {self.cost:.4f}")


def request_usage(prompt_tokens: int, completion_tokens: int,
                  prices: tuple[float, float] | None) -> dict[str, Any]:
    """A member's stored usage; ``prices`` are (prompt, completion) per million tokens."""
    out: dict[str, Any] = {"prompt_tokens": prompt_tokens,
                           "completion_tokens": completion_tokens}
    if prices is not None:
        out["cost"] = (prompt_tokens * prices[0] + completion_tokens * prices[1]) / 1e6
    return out


def members_usage(members: Iterable[Any]) -> Usage:
    """Summed over members (objects with ``usage`` or stored dicts)."""
    total = Usage()
    for m in members:
        stored = m.get("usage") if isinstance(m, Mapping) else getattr(m, "usage", None)
        total = total + Usage.of(stored)
    return total


def study_usage(groups: Sequence[tuple[int, Sequence[Any]]]) -> Usage:
    """Summed over a study's stored groups."""
    total = Usage()
    for _, members in groups:
        total = total + members_usage(members)
    return total
