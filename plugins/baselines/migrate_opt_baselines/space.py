"""How a library optimizer sees a task's solutions: a categorical pool (a finite list of
candidates) or a continuous box (the task's ``encode``) whose points the task decodes to
the nearest valid solution."""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

import numpy as np

from migrate_opt import ConfigError, Record, SearchSpace

from .base import Requirement

SPACE_MODES = ("auto", "box", "pool")
BOUND_SAMPLES = 512
"""Solutions encoded to find the box's bounds (the encoding itself declares none)."""


def requirements(mode: str) -> list[Requirement]:
    """Operators a library adapter needs in ``mode``."""
    if mode == "box":
        return [("encode",), ("sample", "pool")]
    if mode == "pool":
        return [("pool",)]
    return [("encode", "pool")]


class Encoding(ABC):
    """The adapter's view of the space."""

    kind: str

    @abstractmethod
    def decode(self, point: Any) -> str | None:
        """The solution at a library point (before canonicalisation)."""

    @abstractmethod
    def point_of(self, record: Record) -> Any | None:
        """The library point of a stored record (to tell it on resume), if it has one."""

    def jsonable(self, point: Any) -> Any:
        return point


class BoxEncoding(Encoding):
    """Points are real vectors in ``[lower, upper]``; the task decodes them."""

    kind = "box"

    def __init__(self, space: SearchSpace, lower: np.ndarray, upper: np.ndarray) -> None:
        self.space = space
        self.lower = lower
        self.upper = upper

    @property
    def dimension(self) -> int:
        return len(self.lower)

    def decode(self, point: Any) -> str | None:
        return self.space.decode([float(v) for v in point])

    def point_of(self, record: Record) -> list[float] | None:
        raw = record.tags.get("x")
        if not (isinstance(raw, list) and len(raw) == self.dimension):
            raw = self.space.encode(record.solution)
        if raw is None or len(raw) != self.dimension:
            return None
        return np.clip(np.asarray(raw, dtype=float), self.lower, self.upper).tolist()

    def jsonable(self, point: Any) -> list[float]:
        return [float(v) for v in point]


class PoolEncoding(Encoding):
    """Points are the candidates themselves."""

    kind = "pool"

    def __init__(self, choices: Sequence[str]) -> None:
        self.choices = tuple(choices)
        self._index = set(self.choices)

    def decode(self, point: Any) -> str | None:
        return str(point)

    def point_of(self, record: Record) -> str | None:
        return record.solution if record.solution in self._index else None


def make_encoding(
    space: SearchSpace, mode: str, max_pool: int, seed: int, owner: str
) -> Encoding:
    """The encoding for ``mode``; ``auto`` prefers the continuous box when there is one."""
    if mode not in SPACE_MODES:
        raise ConfigError(f"{owner}: space must be one of {', '.join(SPACE_MODES)}, got {mode!r}")
    if mode == "box" or (mode == "auto" and space.supports("encode")):
        lower, upper = box_bounds(space, random.Random(seed))
        return BoxEncoding(space, lower, upper)
    pool = space.pool() or ()
    if not pool:
        raise ConfigError(f"{owner}: the search space's pool is empty")
    if len(pool) > max_pool:  # a fixed random subset keeps the library's work bounded
        picks = random.Random(seed).sample(range(len(pool)), max_pool)
        return PoolEncoding([pool[i] for i in picks])  # never materialise a huge lazy pool
    return PoolEncoding(list(pool))


def box_bounds(space: SearchSpace, rng: random.Random) -> tuple[np.ndarray, np.ndarray]:
    """Per-coordinate bounds of encoded solutions, widened by 5%: the encoding promises no
    range, so it is measured on a sample of the pool (or of random solutions)."""
    pool = space.pool()
    if pool:
        picks = [pool[rng.randrange(len(pool))] for _ in range(BOUND_SAMPLES)]
    else:
        picks = space.sample(rng, BOUND_SAMPLES)
    vectors = [v for v in (space.encode(s) for s in picks) if v is not None]
    if not vectors:
        raise ConfigError("the search space encodes none of its own solutions")
    data = np.asarray(vectors, dtype=float)
    lower, upper = data.min(axis=0), data.max(axis=0)
    margin = np.maximum((upper - lower) * 0.05, 1e-6)
    return lower - margin, upper + margin
