"""Value types shared by tasks, samplers, databases and optimizers."""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import ConfigError


@dataclass(frozen=True)
class Evaluation:
    """The black box's verdict on one solution."""

    score: float | None
    """The objective as the black box gives it (higher is better unless the task's
    ``direction`` is ``"minimize"``); ``None`` marks an invalid solution (reason in
    ``info``)."""
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


DIRECTIONS = ("maximize", "minimize")


def check_direction(direction: str) -> str:
    if direction not in DIRECTIONS:
        raise ConfigError(f"direction must be 'maximize' or 'minimize', got {direction!r}")
    return direction


@dataclass(frozen=True, repr=False)
class Record:
    """One evaluated solution, as stored in a database (one row per unique solution)."""

    solution: str
    """Canonical form: the dedup key."""
    score: float | None
    """Higher is better: every optimizer, sampler and database ranks by it. A minimized
    objective is stored negated; :attr:`objective` gives it back as the user gave it."""
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
    direction: str = field(default="maximize", compare=False)
    """The study's direction (stored with the study's settings, not per record): how
    :attr:`objective` reads ``score``."""

    @property
    def objective(self) -> float | None:
        """The objective as the black box gave it (``score`` un-negated when minimizing)."""
        return user_value(self.score, self.direction)

    def __str__(self) -> str:
        return f"{_short(self.solution)}: {_number(self.objective)}" + (
            " (solved)" if self.solved else "")

    def __repr__(self) -> str:  # short, so that print(opt.best(3)) reads
        shown = "objective" if self.direction == "minimize" else "score"
        return (f"Record({_short(self.solution)!r}, {shown}={_number(self.objective)}"
                f"{', solved' if self.solved else ''}, source={self.source!r}, "
                f"iteration={self.iteration})")


def user_value(score: float | None, direction: str) -> float | None:
    """A stored (higher-is-better) score as the objective the user gave."""
    return -score if score is not None and direction == "minimize" else score


def with_direction(records: Sequence[Record], direction: str) -> list[Record]:
    """Stored records marked with their study's direction (kept in the study's settings,
    not per row), so that each shows its objective as the user gave it."""
    if direction == "maximize":
        return list(records)
    return [dataclasses.replace(r, direction=direction) for r in records]


def _number(x: float | None) -> str:
    return "invalid" if x is None else f"{x:.6g}"


def _short(s: str, n: int = 60) -> str:
    flat = " ".join(s.split())
    return flat if len(flat) <= n else flat[: n - 3] + "..."


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

    def __str__(self) -> str:
        shown = ", ".join(_short(s, 24) for s in self.solutions[:6])
        more = f", ... ({len(self.pending)} in all)" if len(self.pending) > 6 else ""
        return (f"group {self.iteration}: {len(self.members)} completions, "
                f"{len(self.pending)} new to evaluate [{shown}{more}]"
                + (" (told)" if self.told else ""))
