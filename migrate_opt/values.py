"""Value types shared by tasks, samplers, databases and optimizers."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Evaluation:
    """The black box's verdict on one solution."""

    score: float | None
    """Higher is better; ``None`` marks an invalid solution (reason in ``info``)."""
    info: Mapping[str, Any] = field(default_factory=dict)
    """Anything the task wants to keep (sub-scores, error reason, outputs)."""
    solved: bool = False
    """True when the task knows this is an optimal solution."""

    def __post_init__(self) -> None:
        if self.score is not None:
            if isinstance(self.score, bool) or not isinstance(self.score, (int, float)):
                raise TypeError(f"score must be a float or None, got {self.score!r}")
            if not math.isfinite(self.score):
                raise ValueError(f"score must be finite or None, got {self.score!r}")
            object.__setattr__(self, "score", float(self.score))

    @classmethod
    def invalid(cls, reason: str, **info: Any) -> Evaluation:
        return cls(None, {"error": reason, **info})


@dataclass(frozen=True)
class Record:
    """One evaluated solution, as stored in a database (one row per unique solution)."""

    solution: str
    """Canonical form: the dedup key."""
    score: float | None
    info: Mapping[str, Any] = field(default_factory=dict)
    solved: bool = False
    source: str = ""
    """Sampler (or optimizer) that proposed it first: on_policy, neighborhood, warm_start..."""
    iteration: int = 0
    completion: str | None = None
    """The model output it came from, replayed when the record re-enters a group."""
    tags: Mapping[str, Any] = field(default_factory=dict)
    """Sampler bookkeeping (island, parent)."""
    created: float = field(default_factory=time.time)
    seq: int = -1
    """Insertion order (evaluation number, 0-based); assigned by the database."""


@dataclass(frozen=True)
class Proposal:
    """What a sampler asks for: a prompt to generate from, or a known record to replay."""

    source: str
    prompt: str | None = None
    replay: Record | None = None
    tags: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if (self.prompt is None) == (self.replay is None):
            raise ValueError("a Proposal carries exactly one of prompt or replay")


@dataclass
class Member:
    """One completion of a group and what became of it."""

    source: str
    completion: str
    solutions: tuple[str, ...]
    """Canonical, valid solutions parsed from the completion (empty: invalid)."""
    prompt: str | None = None
    """The prompt it was generated from (None for replays)."""
    token_ids: tuple[int, ...] | None = None
    behaviour_logprobs: tuple[float, ...] | None = None
    error: str | None = None
    tags: Mapping[str, Any] = field(default_factory=dict)
    reward: float | None = None
    """Best score among its solutions; set by ``tell``."""
    repeat: bool = False
    """Generated, but every solution was already in the database (a free repeat)."""
    usage: Mapping[str, Any] | None = None
    """Tokens (and cost) of sampling it, when the policy reports them (migrate_opt.usage)."""

    @property
    def is_replay(self) -> bool:
        return self.prompt is None


@dataclass(frozen=True)
class Candidate:
    """A solution that needs a black-box evaluation."""

    solution: str
    index: int


@dataclass
class Group:
    """What ``ask`` returns: the members of one iteration and the candidates to evaluate."""

    optimizer_id: str
    iteration: int
    members: list[Member]
    pending: tuple[Candidate, ...]
    known: dict[str, Record]
    """Solutions in the group that the database already holds (free)."""
    source_of: dict[str, Member] = field(default_factory=dict)
    """First member proposing each pending solution."""
    timings: dict[str, float] = field(default_factory=dict)
    told: bool = False

    @property
    def solutions(self) -> list[str]:
        return [c.solution for c in self.pending]

    def __len__(self) -> int:
        return len(self.members)
