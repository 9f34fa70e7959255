"""``SearchSpaceContract``: what every ``SearchSpace`` must do for the non-LLM optimizers.
Every operator it says it ``supports`` gives canonical solutions of its task, the same ones
for the same seed, and never raises on a bad input; a pool is distinct and canonical;
``decode(encode(s))`` is a solution; the space pickles (it travels with its task).

Subclass it and provide ``task`` (its ``search_space()`` is checked, and its
``canonicalize`` says what is canonical)::

    class TestMySpace(SearchSpaceContract):
        @pytest.fixture(scope="class")
        def task(self):
            return MyTask()
"""

from __future__ import annotations

import math
import pickle
import random
from collections.abc import Sequence

import pytest

from ..task import SearchSpace, Task

OPERATORS = ("sample", "mutate", "crossover", "pool", "encode")


class SearchSpaceContract:
    """Subclass and provide the ``task`` fixture."""

    n = 8
    """Solutions drawn per check."""

    @pytest.fixture
    def task(self) -> Task:
        raise NotImplementedError("provide a `task` fixture whose search_space() is checked")

    @pytest.fixture
    def space(self, task: Task) -> SearchSpace:
        space = task.search_space()
        assert space is not None, "the task has no search space"
        return space

    def _canonical(self, task: Task, solutions: Sequence[str | None]) -> None:
        for s in solutions:
            assert s is None or task.canonicalize(s) == s, f"not canonical: {s!r}"

    def _seeds(self, space: SearchSpace) -> list[str]:
        if space.supports("sample"):
            return space.sample(random.Random(0), self.n)
        pool = space.pool()
        assert pool, "a space must support sample or have a pool"
        return list(pool[: self.n])

    def test_supports_something(self, space: SearchSpace) -> None:
        assert any(space.supports(op) for op in OPERATORS)
        assert space.supports("sample") or space.supports("pool")

    def test_sample_is_canonical_distinct_and_seeded(self, task: Task,
                                                     space: SearchSpace) -> None:
        if not space.supports("sample"):
            pytest.skip("no sample operator")
        first = space.sample(random.Random(1), self.n)
        assert 0 < len(first) <= self.n and len(set(first)) == len(first)
        self._canonical(task, first)
        assert space.sample(random.Random(1), self.n) == first

    def test_mutate_and_crossover_are_canonical_and_seeded(self, task: Task,
                                                           space: SearchSpace) -> None:
        seeds = self._seeds(space)
        for op in ("mutate", "crossover"):
            if not space.supports(op):
                continue
            def apply(rng: random.Random, op: str = op) -> list[str | None]:
                if op == "mutate":
                    return [space.mutate(s, rng) for s in seeds]
                return [space.crossover(a, b, rng) for a, b in zip(seeds, seeds[1:])]
            out = apply(random.Random(2))
            self._canonical(task, out)
            assert any(s is not None for s in out), f"{op} never made a solution"
            assert apply(random.Random(2)) == out, f"{op} is not reproducible with a seed"

    def test_operators_tolerate_bad_input(self, task: Task, space: SearchSpace) -> None:
        rng = random.Random(3)
        for bad in ("", "\x00", "not a solution ✓", "x" * 2000):
            if space.supports("mutate"):
                self._canonical(task, [space.mutate(bad, rng)])
            if space.supports("crossover"):
                self._canonical(task, [space.crossover(bad, bad, rng)])

    def test_pool_is_distinct_and_canonical(self, task: Task, space: SearchSpace) -> None:
        if not space.supports("pool"):
            pytest.skip("no pool")
        pool = space.pool()
        assert pool is not None and len(pool) > 0
        # A sample of the pool, by index: a large pool may be canonicalised lazily.
        picked = [pool[i] for i in random.Random(4).sample(range(len(pool)), min(200, len(pool)))]
        assert len(set(picked)) == len(picked), "the pool repeats solutions"
        self._canonical(task, picked)

    def test_encode_decode(self, task: Task, space: SearchSpace) -> None:
        if not space.supports("encode"):
            pytest.skip("no encoding")
        for s in self._seeds(space)[:3]:
            v = space.encode(s)
            assert v is not None and len(v) == space.dimension
            assert all(math.isfinite(x) for x in v)
            back = space.decode(v)
            assert back is not None
            self._canonical(task, [back])
        for bad in ([], [math.nan] * space.dimension, [0.0] * (space.dimension + 1)):
            self._canonical(task, [space.decode(bad)])

    def test_pickles(self, task: Task, space: SearchSpace) -> None:
        # round-trips an object this test built, in memory: nothing untrusted is read
        clone = pickle.loads(pickle.dumps(space))
        if space.supports("sample"):
            assert clone.sample(random.Random(5), 3) == space.sample(random.Random(5), 3)
