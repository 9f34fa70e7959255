"""The shared half of the Optuna and Nevergrad adapters: the library proposes points, the
task decodes them into solutions, and each point is told the score of its solution.

The library's history is rebuilt from the database (each record's point is kept in its
tags), so a resumed run tells the library everything an uninterrupted one had told it.
Library random state is not in the database, so a resumed run is equivalent but not
identical."""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from typing import Any

from migrate_opt import ConfigError, Group, Member, Record

from .base import Requirement, SearchBaseline
from .space import SPACE_MODES, Encoding, make_encoding, requirements


@dataclass(frozen=True)
class AdapterConfig:
    """Settings every library adapter has."""

    batch_size: int = 8
    """Points asked from the library per ask (its parallel workers)."""
    space: str = "auto"
    """``box`` (the task's encoding, decoded to the nearest solution), ``pool`` (a
    categorical choice among the task's candidates) or ``auto`` (box when available)."""
    max_pool: int = 2000
    """A larger pool is cut to a fixed random subset of this size."""

    def __post_init__(self) -> None:
        if self.batch_size < 1 or self.max_pool < 2:
            raise ConfigError("batch_size must be >= 1 and max_pool >= 2")
        if self.space not in SPACE_MODES:
            raise ConfigError(f"space must be one of {', '.join(SPACE_MODES)}, got {self.space!r}")


class LibraryAdapter(SearchBaseline):
    """Drives an external ask/tell optimizer. Subclasses implement the ``_library_*``
    hooks."""

    config: AdapterConfig

    def _prepare(self) -> None:
        self.encoding: Encoding = make_encoding(
            self.space, self.config.space, self.config.max_pool, self.seed, self.name
        )
        self._library_start()
        self._asked: list[tuple[Any, Member]] = []
        self._synced = 0

    def requirements(self) -> list[Requirement]:
        return requirements(self.config.space)

    def _ask(self) -> list[Member]:
        self._sync()
        for handle, _ in self._asked:  # a group asked but never told
            self._library_drop(handle)
        self._asked = []
        for _ in range(self.batch(self.config.batch_size)):
            handle, point = self._library_ask()
            solution = self.canonical(self.encoding.decode(point))
            member = self.member(solution, {"x": self.encoding.jsonable(point)})
            self._asked.append((handle, member))
        return [m for _, m in self._asked]

    def _after_tell(self, group: Group, records: list[Record]) -> None:
        kept = {id(m) for m in group.members}
        for handle, member in self._asked:
            if id(member) in kept:
                self._library_tell(handle, member.reward)
            else:  # cut by the budget: never evaluated
                self._library_drop(handle)
        self._asked = []
        self._synced = len(self.database)

    def _sync(self) -> None:
        """Tell the library about records it has not seen (resume, warm starts)."""
        if len(self.database) <= self._synced:
            return
        for record in self.database.records()[self._synced:]:
            point = self.encoding.point_of(record)
            if point is not None:
                self._library_add(point, record.score)
        self._synced = len(self.database)

    # -- library hooks -------------------------------------------------------------------
    @abstractmethod
    def _library_start(self) -> None:
        """Build the library optimizer over ``self.encoding``."""

    @abstractmethod
    def _library_ask(self) -> tuple[Any, Any]:
        """``(handle, point)`` of one new library suggestion."""

    @abstractmethod
    def _library_tell(self, handle: Any, score: float | None) -> None:
        """Report a suggestion's score (None: invalid)."""

    @abstractmethod
    def _library_drop(self, handle: Any) -> None:
        """Forget a suggestion that was never evaluated."""

    @abstractmethod
    def _library_add(self, point: Any, score: float | None) -> None:
        """Tell a point the library never suggested (a stored record)."""
