"""The one definition of best-so-far, PMO AUC and padding (``migrate_opt.metrics``, used
by the HTML report and the benchmark harness), against hand-computed values."""

from __future__ import annotations

import pytest

from migrate_opt import Record
from migrate_opt.metrics import (
    best_so_far,
    best_so_far_at,
    evaluations_to_solve,
    improvements,
    log_points,
    top_k_auc,
    top_k_mean,
)


def test_top_k_mean_counts_invalid_as_zero_and_uses_what_exists() -> None:
    assert top_k_mean([0.2, None, 0.6], 2) == pytest.approx(0.4)
    assert top_k_mean([None, -1.0], 1) == 0.0
    assert top_k_mean([0.5], 10) == 0.5
    assert top_k_mean([], 3) == 0.0


def test_auc_by_hand() -> None:
    # top-1 after 2 evals: 0.5, after 4: 1.0; trapezoids from 0: 2*(0+0.5)/2 + 2*(0.5+1)/2
    assert top_k_auc([0.5, 0.1, 1.0, 0.0], 1, 4, 2) == pytest.approx((0.5 + 1.5) / 4)


def test_auc_pads_a_run_that_stopped_early() -> None:
    # 2 evals logged every 2, then 2 more evaluations' worth at the last value (0.8)
    assert top_k_auc([0.8, 0.2], 1, 4, 2) == pytest.approx((2 * 0.4 + 2 * 0.8) / 4)


def test_auc_ignores_evaluations_beyond_budget() -> None:
    assert top_k_auc([0.1, 0.1, 1.0], 1, 2, 1) == top_k_auc([0.1, 0.1], 1, 2, 1)


def test_auc_of_a_perfect_first_guess_approaches_one() -> None:
    assert top_k_auc([1.0] * 100, 1, 100, 1) == pytest.approx(0.995)


def test_best_so_far_and_log_points() -> None:
    assert log_points(25, 10) == [10, 20, 25]
    assert best_so_far_at([None, 0.3, 0.2, 0.9], [1, 2, 4, 6]) == [None, 0.3, 0.9, 0.9]
    assert best_so_far([None, 0.3, 0.2, 0.9]) == [None, 0.3, 0.3, 0.9]
    assert best_so_far_at([], [1, 5]) == [None, None]


def test_improvements_are_the_steps_carried_to_the_end() -> None:
    assert improvements([None, 0.3, 0.2, 0.9, 0.1]) == [(2, 0.3), (4, 0.9), (5, 0.9)]
    assert improvements([None, None]) == []


def test_evaluations_to_solve() -> None:
    def rec(seq: int, solved: bool) -> Record:
        return Record(str(seq), 1.0 if solved else 0.1, solved=solved, seq=seq)

    assert evaluations_to_solve([rec(0, False), rec(1, True), rec(2, True)]) == 2
    assert evaluations_to_solve([rec(0, False)]) is None
