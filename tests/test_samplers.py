import random

import pytest

from migrate_opt import MemoryDatabase, Record
from migrate_opt.samplers import (
    Greedy,
    Islands,
    Neighborhood,
    OnPolicy,
    Opro,
    SamplerContext,
)
from migrate_opt.testing import ToyTask
from migrate_opt.testing.contracts import SamplerContract


@pytest.mark.parametrize("cls", [OnPolicy, Greedy, Neighborhood, Opro, Islands])
class TestBuiltinSamplers(SamplerContract):
    @pytest.fixture
    def sampler(self, cls):
        return cls()


def ctx(db, iteration=0, top_k=3, seed=0):
    return SamplerContext(ToyTask(), db, random.Random(seed), iteration, top_k)


@pytest.fixture
def db():
    d = MemoryDatabase()
    d.add([Record(f"{i:04d}", i / 10, completion=f'["{i:04d}"]') for i in range(6)])
    d.add([Record("9999", None)])
    return d


def test_greedy_replays_top_distinct_with_scores(db):
    props = Greedy().propose(ctx(db), 3)
    assert [p.replay.solution for p in props] == ["0005", "0004", "0003"]
    assert [p.replay.score for p in props] == [0.5, 0.4, 0.3]


def test_greedy_on_small_database_gives_fewer():
    d = MemoryDatabase()
    d.add([Record("0001", 0.1)])
    assert len(Greedy().propose(ctx(d), 4)) == 1


def test_neighborhood_parent_is_uniform_among_top_k(db):
    parents = {
        Neighborhood().propose(ctx(db, seed=s, top_k=2), 1)[0].tags["parent"]
        for s in range(50)
    }
    assert parents == {"0005", "0004"}


def test_neighborhood_shares_one_parent_per_group(db):
    props = Neighborhood().propose(ctx(db, top_k=3), 5)
    assert len({p.tags["parent"] for p in props}) == 1
    assert len({p.prompt for p in props}) == 1
    assert props[0].tags["parent"] in props[0].prompt


def test_empty_database_falls_back_to_on_policy():
    for cls in (Neighborhood, Opro):
        props = cls().propose(ctx(MemoryDatabase()), 2)
        assert [p.source for p in props] == ["on_policy", "on_policy"]
        assert props[0].prompt == ToyTask().prompt()


def test_opro_lists_worst_to_best(db):
    prompt = Opro(history=3).propose(ctx(db, top_k=1), 1)[0].prompt
    assert prompt.index("0003") < prompt.index("0004") < prompt.index("0005")
    assert "0002" not in prompt


def test_islands_rotate_and_tag():
    d = MemoryDatabase()
    d.add([Record("1111", 0.9, tags={"island": 0}), Record("2222", 0.1, tags={"island": 1})])
    s = Islands(islands=2, migrate_every=10)
    p0 = s.propose(ctx(d, iteration=0), 2)
    p1 = s.propose(ctx(d, iteration=1), 2)
    assert p0[0].tags == {"island": 0, "parent": "1111"}
    assert p1[0].tags == {"island": 1, "parent": "2222"}
    # after migrate_every iterations the global elite joins every island
    late = {s.propose(ctx(d, iteration=11, seed=k), 1)[0].tags["parent"] for k in range(30)}
    assert late == {"1111", "2222"}

