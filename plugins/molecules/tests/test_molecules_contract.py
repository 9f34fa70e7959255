"""The core's task contract, for every task of the plugin; and discovery through the
entry point."""

from __future__ import annotations

from pathlib import Path

import pytest
from migrate_opt_molecules.docking.task import DockstringTask
from migrate_opt_molecules.objectives import OsimertinibMPOTask, QEDTask, SimilarityTask
from migrate_opt_molecules.testing import FAKE

from migrate_opt import Task, registry
from migrate_opt.testing.contracts import TaskContract

GOOD = 'Here is my molecule: ["CC(=O)Nc1ccc(O)cc1"]'


class _Good:
    @pytest.fixture
    def good_completion(self) -> str:
        return GOOD


class TestQEDContract(_Good, TaskContract):
    @pytest.fixture
    def task(self) -> Task:
        return QEDTask()


class TestSimilarityContract(_Good, TaskContract):
    @pytest.fixture
    def task(self) -> Task:
        return SimilarityTask(drug="aripiprazole")


class TestOsimertinibContract(_Good, TaskContract):
    @pytest.fixture
    def task(self) -> Task:
        return OsimertinibMPOTask()


class TestDockstringContract(_Good, TaskContract):
    @pytest.fixture
    def task(self, tmp_path: Path) -> Task:
        return DockstringTask(target="ABL1", backend=FAKE,
                              cache_path=str(tmp_path / "cache.sqlite"))


EXPECTED = {"dockstring", "qed", "similarity", "osimertinib-mpo"}


def test_tasks_found_through_the_entry_point() -> None:
    reg = registry()
    assert EXPECTED <= set(reg.names("task"))
    for name in EXPECTED:
        entry = reg.entry("task", name)
        assert entry.distribution == "migrate-opt-molecules"
        assert entry.description


def test_created_by_name_with_cli_style_options(tmp_path: Path) -> None:
    reg = registry()
    task = reg.create("task", "dockstring", target="drd2", objective="paper", dock_timeout=30.0,
                      cpus=1, parallel=1, backend=FAKE,
                      cache_path=str(tmp_path / "c.sqlite"))
    assert task.target == "DRD2" and task.settings()["dock_timeout"] == 30.0
    sim = reg.create("task", "similarity", drug="albuterol")
    assert sim.settings()["drug"] == "albuterol"


def test_html_draws_the_molecule() -> None:
    for task in (QEDTask(), DockstringTask(backend=FAKE, cache=False)):
        svg = task.html("c1ccccc1O")
        assert svg is not None and svg.startswith("<svg")
        assert task.html("C1CC") is None
