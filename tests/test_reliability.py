"""Reliability, measured with real processes: kill -9 a running study at random points and
resume it; read the storage (show, report) while a run writes. The machinery lives in
benchmarks/reliability.py, which also prints the figures for the notes."""

import importlib.util
import sys
from pathlib import Path

import pytest

HARNESS = Path(__file__).resolve().parents[1] / "benchmarks" / "reliability.py"


def _load():
    spec = importlib.util.spec_from_file_location("migrate_opt_reliability_harness", HARNESS)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while defined
    spec.loader.exec_module(module)
    return module


rel = _load()


def assert_nothing_lost(t, kills, budget):
    assert not t.problems, t.problems
    assert t.kills == kills, t
    assert (t.records_lost, t.records_changed, t.duplicates, t.gaps, t.groups_missing) == (
        0, 0, 0, 0, 0), t
    assert t.final_evaluations == t.studies * budget, t  # every study completed its budget


def test_kill9_at_random_points_then_resume(tmp_path):
    t = rel.kill_trials(tmp_path, kills=3, budget=100, seed=1)
    assert_nothing_lost(t, 3, 100)
    assert t.kills_mid_run >= 1, "no kill landed while records were being written"


@pytest.mark.slow
def test_kill9_many_times(tmp_path):
    t = rel.kill_trials(tmp_path, kills=25, budget=150, seed=7)
    assert_nothing_lost(t, 25, 150)
    assert t.kills_mid_run >= 10


def test_concurrent_readers_see_consistent_snapshots(tmp_path):
    t = rel.concurrent_readers(tmp_path, budget=100, readers=1)
    assert not t.errors, t.errors
    assert t.inconsistent == 0 and t.final_evaluations == 100, t
    assert t.reads >= 3 and t.cli_reads >= 1, t


@pytest.mark.slow
def test_concurrent_readers_many(tmp_path):
    t = rel.concurrent_readers(tmp_path, budget=600, readers=2)
    assert not t.errors and t.inconsistent == 0 and t.final_evaluations == 600, t
    assert t.cli_reads >= 6, t


def test_the_checker_notices_loss_change_and_duplicates():
    before = [[0, "a", 0.5, 0, True], [1, "b", 0.1, 0, True]]
    journal = [[2, "c", 0.2, 1]]
    t = rel.Tally()
    rel.check([[0, "a", 0.5, 0, True], [1, "b", 0.9, 0, True]], before, journal, t)
    assert (t.records_lost, t.records_changed) == (1, 1)
    t = rel.Tally()
    rel.check([[0, "a", 0.5, 0, True], [2, "a", 0.5, 1, False]], [], [], t)
    assert (t.duplicates, t.gaps, t.groups_missing) == (1, 1, 1)
    t = rel.Tally()
    rel.check(before + [[2, "c", 0.2, 1, True]], before, journal, t)
    assert (t.records_lost, t.records_changed, t.duplicates, t.gaps) == (0, 0, 0, 0)
    assert t.records_checked == 3


def _needs_optimizer(name):
    from migrate_opt.registry import registry

    if name not in registry().names("optimizer"):
        pytest.skip(f"optimizer {name!r} is not installed (pip install -e plugins/baselines)")


def test_kill9_the_cli_then_resume_it(tmp_path):
    """The same through `migrate-opt run` and `migrate-opt resume` (a genetic algorithm on
    the toy task: no model to load)."""
    _needs_optimizer("ga")
    t = rel.kill_trials(tmp_path, kills=2, budget=1000, seed=2, max_wait=3.0,
                        command=rel.cli_command())
    assert_nothing_lost(t, 2, 1000)
    assert t.kills_mid_run >= 1, t


@pytest.mark.slow
def test_kill9_the_cli_many_times(tmp_path):
    _needs_optimizer("ga")
    t = rel.kill_trials(tmp_path, kills=20, budget=1500, seed=3, command=rel.cli_command())
    assert_nothing_lost(t, 20, 1500)
    assert t.kills_mid_run >= 8, t
