"""PUCT parents over a hand-built tree: scores worked out by hand, lineage blocking, and a
sampler whose state lives in storage."""

import random

import pytest

from migrate_opt import MemoryDatabase, Record
from migrate_opt.errors import ConfigError
from migrate_opt.samplers import SamplerContext
from migrate_opt.samplers.puct import EXPANSION_TAG, Puct, Tree, choose_parents, puct_scores
from migrate_opt.testing import ToyTask
from migrate_opt.testing.contracts import SamplerContract

# A (0.5) -> C (0.6) -> D (0.9), and B (0.8) alone. A was expanded twice (C and a repeat),
# C once (D).
RECORDS = [
    Record("aaaa", 0.5),
    Record("bbbb", 0.8),
    Record("cccc", 0.6, tags={"parent": "aaaa"}),
    Record("dddd", 0.9, tags={"parent": "cccc"}),
    Record("eeee", None, tags={"parent": "aaaa"}),  # invalid: not a node
]
EXPANSIONS = {"aaaa": 2, "cccc": 1}


def tree():
    return Tree.from_history(RECORDS, EXPANSIONS)


def test_visits_and_q_propagate_up_the_chain():
    t = tree()
    assert dict(t.visits()) == {"aaaa": 3, "cccc": 1}
    assert t.best_descendant() == {"aaaa": 0.9, "bbbb": 0.8, "cccc": 0.9, "dddd": 0.9}


def test_scores_by_hand():
    # Rank prior over D, B, C, A: 4/10, 3/10, 2/10, 1/10; scale = 0.9 - 0.5; T = 3, so the
    # bonus is 1.0 * 0.4 * sqrt(4) = 0.8 times P / (1 + n).
    scores = puct_scores(tree(), c=1.0)
    assert scores == pytest.approx(
        {"dddd": 0.9 + 0.8 * 0.4, "bbbb": 0.8 + 0.8 * 0.3,
         "cccc": 0.9 + 0.8 * 0.2 / 2, "aaaa": 0.9 + 0.8 * 0.1 / 4}
    )


def test_parents_come_from_distinct_lineages():
    # With c = 0 the scores are Q alone: D, C and A tie at 0.9 above B, but C and A are in D's
    # lineage, so the second parent is B.
    assert choose_parents(tree(), 2, c=0.0) == ["dddd", "bbbb"]
    assert choose_parents(tree(), 4, c=1.0) == ["dddd", "bbbb"]


def ctx(db, iteration=0):
    return SamplerContext(task=ToyTask(), database=db, rng=random.Random(0),
                          iteration=iteration)


def filled():
    db = MemoryDatabase()
    db.add(RECORDS[:4])
    members = [{"tags": {EXPANSION_TAG: s}} for s, n in EXPANSIONS.items() for _ in range(n)]
    db.add([], group=(0, members))
    return db


def test_sampler_reads_the_tree_from_storage_and_tags_its_members():
    props = Puct().propose(ctx(filled()), 3)
    assert [p.tags[EXPANSION_TAG] for p in props] == ["dddd", "bbbb", "dddd"]
    assert all(p.tags["parent"] == p.tags[EXPANSION_TAG] and p.prompt for p in props)


def test_expansions_stored_with_a_group_change_the_next_choice():
    db = filled()
    first = Puct(parents=1).propose(ctx(db), 4)
    assert {p.tags[EXPANSION_TAG] for p in first} == {"dddd"}
    db.add([], group=(1, [{"tags": dict(p.tags)} for p in first]))
    # D now has 4 visits: 0.9 + 0.4*sqrt(8)*0.4/5 < B's 0.8 + 0.4*sqrt(8)*0.3.
    again = Puct(parents=1).propose(ctx(db, 1), 1)
    assert again[0].tags[EXPANSION_TAG] == "bbbb"


@pytest.mark.parametrize("bad", [{"c": -1}, {"c": float("nan")}, {"parents": 0}, {"parents": 1.5}])
def test_bad_options_are_refused(bad):
    with pytest.raises(ConfigError, match="puct"):
        Puct(**bad)


class TestPuctContract(SamplerContract):
    @pytest.fixture
    def sampler(self):
        return Puct()
