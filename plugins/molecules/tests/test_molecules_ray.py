"""The docking task evaluated as Ray tasks through the core's ``ray`` executor (slow:
starting Ray takes a while on a busy machine)."""

from __future__ import annotations

from pathlib import Path

import pytest
from migrate_opt_molecules.docking.task import DockstringTask
from migrate_opt_molecules.testing import FAKE

from migrate_opt import create

pytestmark = pytest.mark.slow


def test_docking_task_runs_as_ray_tasks(tmp_path: Path) -> None:
    pytest.importorskip("ray")
    task = DockstringTask(backend=FAKE, parallel=1,
                          cache_path=str(tmp_path / "cache.sqlite"))
    with create("executor", "ray", timeout=120, local_cpus=2) as executor:
        evs = executor.evaluate(task, ["CCO", "c1ccccc1", "C1CC", "CCN"])
    assert [e.score is None for e in evs] == [False, False, True, False]
    assert evs[1].info["vina"] == -1.5  # the fake backend's score, computed in a worker
    # the workers wrote to the shared cache: this process docks nothing
    again = task.evaluate(["CCO", "c1ccccc1"])
    assert all(e.info["cached"] for e in again) and task.engine.dockings == 0
