"""Reliability, measured with real processes: kill -9 a running study once it holds a
chosen number of records and resume it; read the storage (show, report) while a run
writes. The machinery is migrate_opt.testing.reliability; benchmarks/reliability.py runs
it large for the notes."""

import pytest

from migrate_opt.testing import reliability as rel
from migrate_opt.testing.concurrent_reads import concurrent_readers


def assert_nothing_lost(t, kills, budget):
    assert not t.problems, t.problems
    assert t.kills == kills, t
    assert (t.records_lost, t.records_changed, t.duplicates, t.gaps, t.groups_missing) == (
        0, 0, 0, 0, 0), t
    assert t.final_evaluations == t.studies * budget, t  # every study completed its budget


def test_kill9_at_random_points_then_resume(tmp_path):
    t = rel.kill_trials(tmp_path, kills=3, budget=100, seed=1)
    assert_nothing_lost(t, 3, 100)
    assert t.kills_mid_run == 3, "every kill comes after a stored group, before the end"


@pytest.mark.slow
def test_kill9_many_times(tmp_path):
    t = rel.kill_trials(tmp_path, kills=25, budget=150, seed=7)
    assert_nothing_lost(t, 25, 150)
    assert t.kills_mid_run == 25


def test_concurrent_readers_see_consistent_snapshots(tmp_path):
    t = concurrent_readers(tmp_path, budget=100, readers=1)
    assert not t.errors, t.errors
    assert t.inconsistent == 0 and t.final_evaluations == 100, t
    assert t.reads >= 3 and t.cli_reads >= 1, t


@pytest.mark.slow
def test_concurrent_readers_many(tmp_path):
    t = concurrent_readers(tmp_path, budget=600, readers=2)
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
    t = rel.kill_trials(tmp_path, kills=2, budget=1000, seed=2, command=rel.cli_command())
    assert_nothing_lost(t, 2, 1000)
    assert t.kills_mid_run == 2, t


@pytest.mark.slow
def test_kill9_the_cli_many_times(tmp_path):
    _needs_optimizer("ga")
    t = rel.kill_trials(tmp_path, kills=20, budget=1500, seed=3, command=rel.cli_command())
    assert_nothing_lost(t, 20, 1500)
    assert t.kills_mid_run == 20, t


def test_kill9_after_a_group_past_the_checkpoint_resumes_as_uninterrupted(tmp_path):
    # Checkpoints come every 3 groups: the kill lands after a group stored past the last
    # one, so the resume must replay that group's GRPO step from its stored members.
    t = rel.kill_past_checkpoint(tmp_path, groups=8, every=3, delay=0.03)
    assert not t.problems, t.problems
    assert t.killed
    last, checkpoint = t.at_kill
    assert 0 <= checkpoint < last < 7, t.at_kill
    assert len(t.uninterrupted) > 8
    assert t.resumed == t.uninterrupted
    assert t.checkpoints_equal
