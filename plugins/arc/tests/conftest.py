"""Fixtures shared by the ARC plugin tests."""

from __future__ import annotations

import pytest
from migrate_opt_arc import ArcProblem, ArcTask, Pair
from migrate_opt_arc.sandbox import SandboxConfig


def _grid(*rows: str) -> tuple[tuple[int, ...], ...]:
    return tuple(tuple(int(c) for c in row) for row in rows)


@pytest.fixture(scope="session")
def flip_problem() -> ArcProblem:
    """A hand-made task whose rule is 'flip upside down', with two test inputs."""
    return ArcProblem(
        "flip",
        train=(Pair(_grid("12", "34"), _grid("34", "12")),
               Pair(_grid("5", "6", "7"), _grid("7", "6", "5"))),
        test=(Pair(_grid("89", "01"), _grid("01", "89")), Pair(_grid("1", "2"), _grid("2", "1"))),
    )


@pytest.fixture(scope="session")
def flip_task(flip_problem: ArcProblem) -> ArcTask:
    return ArcTask.from_problem(flip_problem, SandboxConfig(timeout=1.0))
