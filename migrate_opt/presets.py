"""Group composition and the paper's methods as named presets.

A group is described by how many members each sampler contributes, not by bare Greek
letters: ``GroupConfig({"on_policy": 2, "greedy": 1, "neighborhood": 2}, top_k=1)`` is the
paper's alpha/beta/gamma = 2/1/2."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from .errors import ConfigError


@dataclass(frozen=True)
class GroupConfig:
    """How many completions each sampler contributes to one group."""

    composition: Mapping[str, int]
    """Sampler name -> number of members (completions) per iteration."""
    top_k: int = 1
    """Parents (neighbourhood, islands) are drawn uniformly from the top-k records."""

    def __post_init__(self) -> None:
        comp = dict(self.composition)
        bad = {k: v for k, v in comp.items() if not isinstance(v, int) or v < 0}
        if bad:
            raise ConfigError(f"group counts must be integers >= 0, got {bad}")
        if sum(comp.values()) < 1:
            raise ConfigError("a group needs at least one member")
        if self.top_k < 1:
            raise ConfigError(f"top_k must be >= 1, got {self.top_k}")
        object.__setattr__(self, "composition", {k: v for k, v in comp.items() if v})

    @property
    def size(self) -> int:
        return sum(self.composition.values())


@dataclass(frozen=True)
class Method:
    """A named way of building groups, with or without GRPO training."""

    name: str
    group: GroupConfig
    train: bool = True
    description: str = field(default="", compare=False)


def _migrate_split(n: int) -> tuple[int, int, int]:
    """alpha/beta/gamma for a group of n: one replay, a quarter neighbourhood (rounded up),
    the rest on-policy. Gives the paper's 2/1/2 for n=5 and 11/1/4 for n=16."""
    if n < 3:
        return max(n - 1, 0), 1 if n > 1 else 0, 1
    gamma = math.ceil(n / 4)
    return n - 1 - gamma, 1, gamma


def _presets(n: int) -> dict[str, tuple[dict[str, int], bool, str]]:
    a, b, g = _migrate_split(n)
    return {
        "random": ({"on_policy": n}, False, "inference-only sampling from the task prompt"),
        "ns": ({"neighborhood": n}, False, "inference-only neighbourhood search"),
        "opro": ({"opro": n}, False, "inference-only OPRO (history in the prompt)"),
        "grpo": ({"on_policy": n}, True, "on-policy GRPO"),
        "grpo-greedy": (
            {"on_policy": n - 1, "greedy": 1}, True, "on-policy GRPO plus one replay"
        ),
        "migrate": (
            {"on_policy": a, "greedy": b, "neighborhood": g}, True,
            "MiGrATe: on-policy + replay + neighbourhood, GRPO",
        ),
        "migrate-opro": (
            {"on_policy": a, "greedy": b, "opro": g}, True, "MiGrATe with OPRO prompts"
        ),
        "migrate-evo": (
            {"on_policy": a, "greedy": b, "islands": g}, True, "MiGrATe with island parents"
        ),
    }


METHOD_NAMES = tuple(_presets(8))


def method(
    name: str,
    size: int = 8,
    *,
    top_k: int = 1,
    overrides: Mapping[str, Mapping[str, int]] | None = None,
) -> Method:
    """The preset ``name`` for groups of ``size`` completions.

    ``overrides`` (usually ``task.group_overrides(size)``) replaces a preset's composition, for
    tasks where the paper used a different mix."""
    presets = _presets(size)
    if name not in presets:
        import difflib

        close = difflib.get_close_matches(name, presets, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ConfigError(f"unknown method {name!r}.{hint} Methods: {', '.join(presets)}.")
    if size < 1:
        raise ConfigError(f"group size must be >= 1, got {size}")
    composition, train, description = presets[name]
    if overrides and name in overrides:
        composition = dict(overrides[name])
    return Method(name, GroupConfig(composition, top_k=top_k), train, description)
