"""The non-LLM search space: a common-word pool, and moves in a neighbor embedding that is
not the scoring one."""

from __future__ import annotations

import pickle
import random

import numpy as np
import pytest
from migrate_opt_semantle import SemantleTask, WordSpace

from migrate_opt.testing.spaces import SearchSpaceContract


@pytest.fixture(scope="module")
def space() -> WordSpace:
    # GloVe neighbors keep this test fast; the default for a GloVe-scored task is MiniLM.
    return SemantleTask(target="computer", neighbors="glove", pool_size=3000).search_space()


def test_pool_is_common_valid_words(space: WordSpace) -> None:
    task = SemantleTask(target="computer")
    pool = space.pool()
    assert 1000 < len(pool) <= 3000 and len(set(pool)) == len(pool)
    assert all(task.canonicalize(w) == w for w in pool)
    assert space.supports("pool") and space.supports("sample") and space.supports("mutate")


def test_sample_is_seeded_and_distinct(space: WordSpace) -> None:
    a = space.sample(random.Random(1), 50)
    assert a == space.sample(random.Random(1), 50) and len(set(a)) == 50
    assert set(a) <= set(space.pool())


def test_mutate_moves_to_a_neighbor(space: WordSpace) -> None:
    rng = random.Random(0)
    moves = {space.mutate("laptop", rng) for _ in range(30)}
    assert "laptop" not in moves and moves <= set(space.neighbors("laptop"))
    assert len(moves) > 2


def test_crossover_lands_between_parents(space: WordSpace) -> None:
    child = space.crossover("king", "woman", random.Random(0))
    assert child in space.pool() and child not in ("king", "woman")


def test_encode_decode_round_trip(space: WordSpace) -> None:
    assert space.dimension == 50
    for word in ("music", "water", "computer"):
        vector = space.encode(word)
        assert vector is not None and len(vector) == 50
        assert space.decode(vector) == word
    assert space.decode([float("nan")] * 50) is None
    assert space.decode([0.0] * 3) is None


def test_default_neighbors_are_not_the_scoring_oracle() -> None:
    assert SemantleTask(oracle="glove").search_space().neighbor_oracle == "minilm"


@pytest.mark.slow
def test_minilm_neighbors_of_a_glove_task() -> None:
    space = SemantleTask(oracle="glove", pool_size=2000).search_space()
    assert space.dimension == 384
    assert space.decode(space.encode("music")) == "music"
    assert len(space.neighbors("music", 5)) == 5


def test_space_pickles_without_its_matrix(space: WordSpace) -> None:
    space.encode("music")
    clone = pickle.loads(pickle.dumps(space))
    assert clone._matrix is None
    assert np.allclose(clone.encode("music"), space.encode("music"))


class TestWordSpaceContract(SearchSpaceContract):
    @pytest.fixture
    def task(self) -> SemantleTask:
        return SemantleTask(target="computer", neighbors="glove", pool_size=3000)


def test_the_old_spelling_of_neighbors_still_works() -> None:
    with pytest.warns(DeprecationWarning, match="neighbors"):
        task = SemantleTask(oracle="glove", neighbours="glove")
    assert task.neighbors == "glove"
