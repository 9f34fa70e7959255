"""Paired statistics against values worked out by hand."""

import pytest
from migrate_opt_bench.paired import bootstrap_interval, compare, sign_test


def test_sign_test_by_hand():
    # 9 wins, 1 loss: P(X <= 1) = (1 + 10) / 1024, two-sided doubles it.
    assert sign_test(9, 1) == pytest.approx(22 / 1024)
    assert sign_test(5, 5) == 1.0
    assert sign_test(0, 0) == 1.0
    assert sign_test(6, 0) == pytest.approx(2 / 64)


def test_bootstrap_interval_brackets_the_mean_and_is_degenerate_for_constants():
    assert bootstrap_interval([0.5] * 8) == (0.5, 0.5)
    lo, hi = bootstrap_interval([0.1, 0.2, 0.3, 0.4, 0.5])
    assert lo < 0.3 < hi


def run(task, seed, method, auc):
    return {"task": task, "seed": seed, "method": method, "top10_auc": auc}


def test_compare_pairs_cells_and_counts_ties():
    runs = [run("t1", 0, "a", 0.5), run("t1", 0, "b", 0.4),
            run("t1", 1, "a", 0.3), run("t1", 1, "b", 0.3),
            run("t2", 0, "a", 0.1), run("t2", 0, "b", 0.2),
            run("t2", 1, "a", 0.9),  # no partner: not a pair
            run("t3", 0, "a", 0.9), run("t3", 0, "b", 0.0)]  # other family
    s = compare(runs, "a", "b", ["t1", "t2"])
    assert (s["pairs"], s["wins"], s["losses"], s["ties"]) == (3, 1, 1, 1)
    assert s["mean_diff"] == pytest.approx(0.0)
    assert s["p"] == 1.0
