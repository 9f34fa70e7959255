"""The reward (1 - normalised Hamming distance) and the test-time vote on hand-made data."""

from __future__ import annotations

import pytest
from migrate_opt_arc import ArcTask, predict
from migrate_opt_arc.scoring import pair_score

from migrate_opt import Record


def grid(*rows: str) -> tuple[tuple[int, ...], ...]:
    return tuple(tuple(int(c) for c in row) for row in rows)


def test_exact_match_scores_one() -> None:
    assert pair_score(grid("12", "34"), grid("12", "34")) == 1.0


def test_each_wrong_cell_costs_its_share() -> None:
    assert pair_score(grid("12", "30"), grid("12", "34")) == 0.75
    assert pair_score(grid("00", "00"), grid("12", "34")) == 0.0


def test_larger_output_scores_zero_even_when_it_contains_the_target() -> None:
    assert pair_score(grid("120", "340"), grid("12", "34")) == 0.0


def test_smaller_output_counts_missing_cells_as_wrong() -> None:
    assert pair_score(grid("12"), grid("12", "34")) == 0.5
    assert pair_score(grid("1", "3"), grid("12", "34")) == 0.5


def test_same_size_other_shape_compares_the_overlap() -> None:
    # 1x4 against 2x2: overlap is the first row's 2 cells, of which 1 matches.
    assert pair_score(grid("1900"), grid("12", "34")) == 0.25


def test_no_output_scores_zero() -> None:
    assert pair_score(None, grid("1")) == 0.0


def _record(seq: int, test_outputs: list, solved: bool = True, score: float = 1.0,
            train_exact: int = 2) -> Record:
    return Record(solution=f"p{seq}", score=score, solved=solved, seq=seq,
                  info={"test_outputs": test_outputs, "train_exact": train_exact})


@pytest.fixture
def task(flip_task: ArcTask) -> ArcTask:
    return flip_task


RIGHT = [[[0, 1], [8, 9]], [[2], [1]]]
WRONG_A = [[[8, 9], [0, 1]], [[1], [2]]]
WRONG_B = [[[0, 0], [0, 0]], [[0], [0]]]


def test_majority_wins_pass1(task: ArcTask) -> None:
    records = [_record(0, WRONG_A), _record(1, RIGHT), _record(2, RIGHT)]
    p = predict(task, records)
    assert p.candidates == 3
    assert p.pass1 == p.pass2 == p.oracle == 1.0
    assert p.tests[0].votes[0][1] == 2


def test_second_most_voted_counts_for_pass2_only(task: ArcTask) -> None:
    records = [_record(0, WRONG_A), _record(1, WRONG_A), _record(2, RIGHT)]
    p = predict(task, records)
    assert (p.pass1, p.pass2, p.oracle) == (0.0, 1.0, 1.0)


def test_third_place_is_not_counted(task: ArcTask) -> None:
    records = [_record(0, WRONG_A), _record(1, WRONG_A), _record(2, WRONG_B),
               _record(3, WRONG_B), _record(4, RIGHT)]
    p = predict(task, records)
    assert (p.pass1, p.pass2, p.oracle) == (0.0, 0.0, 1.0)


def test_ties_go_to_the_output_found_first(task: ArcTask) -> None:
    p = predict(task, [_record(1, RIGHT), _record(0, WRONG_A)])
    assert p.tests[0].attempts(1) == [tuple(map(tuple, WRONG_A[0]))]


def test_only_programs_solving_all_training_pairs_vote(task: ArcTask) -> None:
    near = _record(0, RIGHT, solved=False, score=0.9, train_exact=1)
    p = predict(task, [near, _record(1, WRONG_A)])
    assert p.candidates == 1 and p.programs == 2
    assert (p.pass1, p.pass2, p.oracle) == (0.0, 0.0, 1.0)


def test_no_candidate_no_prediction(task: ArcTask) -> None:
    p = predict(task, [_record(0, RIGHT, solved=False, score=0.5, train_exact=0)])
    assert p.candidates == 0 and p.tests[0].votes == ()
    assert p.pass2 == 0.0 and p.oracle == 1.0


def test_each_test_input_is_scored_on_its_own(task: ArcTask) -> None:
    half = [RIGHT[0], WRONG_A[1]]
    p = predict(task, [_record(0, half)])
    assert [t.pass1 for t in p.tests] == [True, False]
    assert p.pass1 == 0.5


def test_invalid_records_and_missing_outputs_are_ignored(task: ArcTask) -> None:
    broken = Record(solution="x", score=None, seq=0, info={"error": "sandbox failure"})
    partial = _record(1, [None, RIGHT[1]])
    p = predict(task, [broken, partial])
    assert p.programs == 1
    assert [t.pass1 for t in p.tests] == [False, True]
