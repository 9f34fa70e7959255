"""An in-memory database: fast, lost when the process ends."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Sequence
from typing import Any

from ..errors import StorageError
from ..values import Record
from .base import Database


def rank_key(r: Record) -> tuple[float, int]:
    """Best first, ties broken by evaluation order."""
    return (-(r.score if r.score is not None else float("-inf")), r.seq)


class MemoryDatabase(Database):
    def __init__(self, path: str | None = None, study: str = "default") -> None:
        self.study = study
        self._records: list[Record] = []
        self._index: dict[str, Record] = {}
        self._groups: list[tuple[int, list[dict[str, Any]]]] = []
        self._metrics: list[dict[str, Any]] = []
        self._checkpoint: tuple[int, bytes] | None = None
        self._settings: dict[str, Any] = {}

    def add(
        self, records: Sequence[Record], group: tuple[int, list[dict[str, Any]]] | None = None
    ) -> list[Record]:
        solutions = [r.solution for r in records]
        clash = [s for s in solutions if s in self._index]
        if clash or len(set(solutions)) != len(solutions):
            raise StorageError(f"solutions already stored: {clash or solutions}")
        stored = [
            dataclasses.replace(r, seq=len(self._records) + i) for i, r in enumerate(records)
        ]
        self._records.extend(stored)
        self._index.update({r.solution: r for r in stored})
        if group is not None:
            self._groups.append((group[0], copy.deepcopy(group[1])))
        return stored

    def get(self, solution: str) -> Record | None:
        return self._index.get(solution)

    def top(self, k: int) -> list[Record]:
        valid = [r for r in self._records if r.score is not None]
        return sorted(valid, key=rank_key)[:k]

    def records(self) -> list[Record]:
        return list(self._records)

    def __len__(self) -> int:
        return len(self._records)

    def groups(self) -> list[tuple[int, list[dict[str, Any]]]]:
        return list(self._groups)

    def log_metrics(self, iteration: int, metrics: Sequence[dict[str, Any]]) -> None:
        self._metrics.extend(
            {"iteration": iteration, "step": i, **m} for i, m in enumerate(metrics)
        )

    def metrics(self) -> list[dict[str, Any]]:
        return list(self._metrics)

    def save_checkpoint(self, iteration: int, state: bytes) -> None:
        self._checkpoint = (iteration, state)

    def load_checkpoint(self) -> tuple[int, bytes] | None:
        return self._checkpoint

    def settings(self) -> dict[str, Any]:
        return dict(self._settings)

    def set_settings(self, settings: dict[str, Any]) -> None:
        self._settings = dict(settings)
