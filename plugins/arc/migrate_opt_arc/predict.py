"""ARC test-time prediction: a majority vote over the test outputs of the programs that
solve every training pair, scored per test input as pass@1, pass@2 and oracle."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from migrate_opt import Record

from .sandbox import Grid, as_grid
from .task import ArcTask


@dataclass(frozen=True)
class TestPrediction:
    """The vote for one test input."""

    index: int
    votes: tuple[tuple[Grid, int], ...]
    """Distinct outputs of the candidate programs, most voted first (ties: found first)."""
    pass1: bool
    """The most voted output is right."""
    pass2: bool
    """One of the two most voted outputs is right (ARC's two attempts)."""
    oracle: bool
    """Some evaluated program, candidate or not, produced the right output."""

    def attempts(self, k: int = 2) -> list[Grid]:
        return [grid for grid, _ in self.votes[:k]]


@dataclass(frozen=True)
class Prediction:
    """The prediction of one task; rates are fractions of its test inputs."""

    task_id: str
    tests: tuple[TestPrediction, ...]
    candidates: int
    """Programs that solve every training pair (the voters)."""
    programs: int
    """Programs considered (records with a valid score)."""

    @property
    def pass1(self) -> float:
        return _rate(t.pass1 for t in self.tests)

    @property
    def pass2(self) -> float:
        return _rate(t.pass2 for t in self.tests)

    @property
    def oracle(self) -> float:
        return _rate(t.oracle for t in self.tests)


def _rate(flags: Iterable[bool]) -> float:
    values = list(flags)
    return sum(values) / len(values) if values else 0.0


def is_candidate(task: ArcTask, record: Record) -> bool:
    """Whether a record's program solved every training pair."""
    return record.score is not None and (
        record.solved or record.info.get("train_exact") == len(task.problem.train))


def predict(task: ArcTask, records: Iterable[Record]) -> Prediction:
    """Vote over ``records`` (e.g. ``optimizer.database.records()``) of ``task``."""
    valid = sorted((r for r in records if r.score is not None), key=lambda r: r.seq)
    voters = [r for r in valid if is_candidate(task, r)]
    tests = []
    for i, pair in enumerate(task.problem.test):
        counts: dict[Grid, int] = {}
        for r in voters:
            grid = _test_output(r, i)
            if grid is not None:
                counts[grid] = counts.get(grid, 0) + 1  # dicts keep first-found order
        votes = tuple(sorted(counts.items(), key=lambda kv: -kv[1]))
        truth = pair.output
        top = [g for g, _ in votes[:2]]
        oracle = truth is not None and any(_test_output(r, i) == truth for r in valid)
        tests.append(TestPrediction(i, votes, bool(top) and top[0] == truth,
                                    truth is not None and truth in top, oracle))
    return Prediction(task.problem.task_id, tuple(tests), len(voters), len(valid))


def _test_output(record: Record, index: int) -> Grid | None:
    outputs = record.info.get("test_outputs") or []
    return as_grid(outputs[index]) if index < len(outputs) else None


def prediction_metrics(task: ArcTask, records: Sequence[Record]) -> dict[str, float | int]:
    """The benchmark harness's metric hook for ARC (``metrics =
    "migrate_opt_arc:prediction_metrics"``): pass@1, pass@2 and oracle of the test-time
    vote over the run's records, and how many programs voted."""
    p = predict(task, records)
    return {"pass1": p.pass1, "pass2": p.pass2, "oracle": p.oracle,
            "candidates": p.candidates}
