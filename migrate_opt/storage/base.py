"""The Database protocol: every record ever evaluated, groups, metrics and checkpoints.

Records are append-only and deduplicated by canonical solution. ``add`` stores the records
of one iteration together with the group they came from in one transaction, before the
policy is updated, so a crash never loses an evaluation."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

from ..values import Record


class Database(ABC):
    """Storage of one study."""

    study: str = "default"

    # -- records -------------------------------------------------------------------------
    @abstractmethod
    def add(
        self, records: Sequence[Record], group: tuple[int, list[dict[str, Any]]] | None = None
    ) -> list[Record]:
        """Append new records (and optionally ``(iteration, members)``) atomically.
        Returns the records with ``seq`` assigned. A solution already stored is an error."""

    @abstractmethod
    def get(self, solution: str) -> Record | None:
        """The record of a canonical solution, if evaluated."""

    @abstractmethod
    def top(self, k: int) -> list[Record]:
        """The ``k`` best valid records, best first (ties: earliest first)."""

    @abstractmethod
    def records(self) -> list[Record]:
        """Every record in evaluation order."""

    @abstractmethod
    def __len__(self) -> int:
        """Number of evaluations stored."""

    def get_many(self, solutions: Sequence[str]) -> dict[str, Record]:
        found = {}
        for s in solutions:
            r = self.get(s)
            if r is not None:
                found[s] = r
        return found

    # -- groups, metrics, checkpoints ----------------------------------------------------
    @abstractmethod
    def groups(self) -> list[tuple[int, list[dict[str, Any]]]]:
        """Stored groups as ``(iteration, members)`` in iteration order."""

    @abstractmethod
    def log_metrics(self, iteration: int, metrics: Sequence[dict[str, Any]]) -> None:
        """Training metrics of one iteration (one dict per optimizer step)."""

    @abstractmethod
    def metrics(self) -> list[dict[str, Any]]:
        """All logged metrics, each with ``iteration`` and ``step`` keys."""

    @abstractmethod
    def save_checkpoint(self, iteration: int, state: bytes) -> None:
        """Replace the latest checkpoint (adapter, optimizer state) with ``state``."""

    @abstractmethod
    def load_checkpoint(self) -> tuple[int, bytes] | None:
        """The latest ``(iteration, state)``, or None."""

    @abstractmethod
    def settings(self) -> dict[str, Any]:
        """The study's settings (task, method, model, seed)."""

    @abstractmethod
    def set_settings(self, settings: dict[str, Any]) -> None: ...

    def last_iteration(self) -> int:
        """The highest iteration with a stored group, or -1."""
        groups = self.groups()
        return groups[-1][0] if groups else -1

    def close(self) -> None:
        pass

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
