"""A study file is data: the docking backend (it may name code as ``module:function``), its
limits and the paths it writes come from the person running, never from a stored study."""

from __future__ import annotations

import sys

from migrate_opt_molecules.docking.task import DockstringTask

from migrate_opt import SQLiteDatabase, split_task_options
from migrate_opt.report import write_report


def _planted(tmp_path, monkeypatch) -> tuple[str, object]:
    """An importable module whose import writes a marker: what a stored backend could name."""
    marker = tmp_path / "imported"
    (tmp_path / "planted_backend.py").write_text(
        f"open({str(marker)!r}, 'w').write('x')\n"
        "def dock(smiles, target, workdir, cpus, seed):\n    return -20.0, {}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    return "planted_backend:dock", marker


def test_the_backend_and_docking_limits_are_environment_options() -> None:
    options = {"target": "ABL1", "objective": "paper", "backend": "os:system", "cpus": 64,
               "parallel": 64, "dock_timeout": None, "cache_path": "/x", "tmp_dir": "/y",
               "cache": True, "dock_seed": 3}
    data, environment = split_task_options(DockstringTask, options)
    assert data == {"target": "ABL1", "objective": "paper", "dock_seed": 3}
    assert set(environment) == {"backend", "cpus", "parallel", "dock_timeout", "cache_path",
                                "tmp_dir", "cache"}


def test_a_stored_backend_is_never_imported(tmp_path, monkeypatch) -> None:
    backend, marker = _planted(tmp_path, monkeypatch)
    stored = {"target": "ABL1", "backend": backend, "tmp_dir": str(tmp_path / "w"),
              "cache_path": str(tmp_path / "c.sqlite"), "parallel": 64}
    data, _ = split_task_options(DockstringTask, stored)
    task = DockstringTask(**data)
    default = DockstringTask()
    assert task.docking == default.docking  # nothing of the file's docking set-up survives
    assert task.target == "ABL1"
    assert "planted_backend" not in sys.modules and not marker.exists()


def test_reporting_a_study_that_names_a_backend_imports_nothing(tmp_path, monkeypatch) -> None:
    backend, marker = _planted(tmp_path, monkeypatch)
    path = tmp_path / "dock.db"
    db = SQLiteDatabase(str(path), "dock")
    db.set_settings({**DockstringTask().settings(), "cli": {
        "task": "dockstring", "task_options": {"target": "ABL1", "backend": backend}}})
    db.close()
    write_report(str(path), out_path=str(tmp_path / "dock.html"))
    assert "planted_backend" not in sys.modules and not marker.exists()
