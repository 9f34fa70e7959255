"""Every baseline passes the optimizer contract on the toy task."""

from __future__ import annotations

import pytest

from migrate_opt import create
from migrate_opt.testing.contracts import OptimizerContract
from migrate_opt.testing.optimizers import PoolToyTask


def factory(name: str, **options):  # type: ignore[no-untyped-def]
    return lambda task, **kw: create("optimizer", name, task, **kw, **options)


class TestRandomSearch(OptimizerContract):
    @pytest.fixture
    def make(self):  # type: ignore[no-untyped-def]
        return factory("random-search")


class TestGeneticAlgorithm(OptimizerContract):
    @pytest.fixture
    def make(self):  # type: ignore[no-untyped-def]
        return factory("ga", population_size=8, offspring_size=8)


class TestGeneticAlgorithmGenerational(OptimizerContract):
    """Generational replacement (two elites), so the population comes from the last
    generation's records."""

    @pytest.fixture
    def make(self):  # type: ignore[no-untyped-def]
        return factory("ga", population_size=8, offspring_size=8, elitism=2)


class TestOptunaTPE(OptimizerContract):
    resume_exact = False

    @pytest.fixture
    def make(self):  # type: ignore[no-untyped-def]
        return factory("optuna-tpe")


class TestOptunaTPEPool(OptimizerContract):
    resume_exact = False

    @pytest.fixture
    def make(self):  # type: ignore[no-untyped-def]
        return factory("optuna-tpe", space="pool", max_pool=1000)

    @pytest.fixture
    def task(self):  # type: ignore[no-untyped-def]
        return PoolToyTask(target_seed=3, length=6)


class TestRandomSearchPool(OptimizerContract):
    @pytest.fixture
    def make(self):  # type: ignore[no-untyped-def]
        return factory("random-search")

    @pytest.fixture
    def task(self):  # type: ignore[no-untyped-def]
        return PoolToyTask(target_seed=3, length=6)


class TestOptunaGP(OptimizerContract):
    resume_exact = False
    budget = 12
    improve_budget = 24

    @pytest.fixture
    def make(self):  # type: ignore[no-untyped-def]
        return factory("optuna-gp", n_startup_trials=4, batch_size=4)


class TestNevergrad(OptimizerContract):
    resume_exact = False

    @pytest.fixture
    def make(self):  # type: ignore[no-untyped-def]
        return factory("nevergrad")
