"""What the contract does not cover: refusals naming the missing operator, option
validation, the GA's population read back from the database, the adapters' spaces."""

from __future__ import annotations

import pytest
from migrate_opt_baselines import GAConfig, GeneticAlgorithm

from migrate_opt import ConfigError, MemoryDatabase, Record, create, run
from migrate_opt.testing import ToyTask
from migrate_opt.testing.optimizers import PoolToyTask


@pytest.mark.parametrize("name", ["ga"])
def test_ga_refuses_a_space_without_mutation_naming_it(name: str) -> None:
    with pytest.raises(ConfigError, match="'mutate'"):
        create("optimizer", name, PoolToyTask())


@pytest.mark.parametrize("name", ["optuna-tpe", "nevergrad"])
def test_adapters_refuse_a_box_without_an_encoding(name: str) -> None:
    with pytest.raises(ConfigError, match="'encode'"):
        create("optimizer", name, PoolToyTask(), space="box")


def test_ga_without_crossover_does_not_need_it() -> None:
    with pytest.raises(ConfigError, match="'crossover'"):
        create("optimizer", "ga", _without("crossover"))
    opt = create("optimizer", "ga", _without("crossover"), crossover_rate=0.0, budget=30)
    run(opt, progress=False)
    assert opt.n_evaluations == 30


def _without(operator: str) -> ToyTask:
    """The toy task whose space lacks ``operator`` (reset to the SearchSpace default)."""
    from migrate_opt import SearchSpace

    class Task(ToyTask):
        def search_space(self):  # type: ignore[no-untyped-def]
            base = type(super().search_space())
            cls = type(f"No{operator}", (base,), {operator: getattr(SearchSpace, operator)})
            return cls(len(self.target))

    return Task(target_seed=1, length=6)


@pytest.mark.parametrize(
    "options, word",
    [
        ({"population_size": 1}, "population_size"),
        ({"mutation_rate": 1.5}, "mutation_rate"),
        ({"elitism": 99}, "elitism"),
        ({"poulation_size": 8}, "unknown option"),
    ],
)
def test_ga_options_are_validated(options: dict, word: str) -> None:
    with pytest.raises(ConfigError, match=word):
        create("optimizer", "ga", ToyTask(), **options)


def test_nevergrad_unknown_optimizer_suggests_names() -> None:
    with pytest.raises(ConfigError, match="did you mean"):
        create("optimizer", "nevergrad", ToyTask(), optimizer="NGOp")


def test_ga_population_is_read_from_the_database() -> None:
    db = MemoryDatabase()
    db.add([Record(solution=f"{i:04d}", score=i / 10, iteration=0) for i in range(6)],
           group=(0, []))
    db.add([Record(solution=f"9{i:03d}", score=0.01 * i, iteration=1) for i in range(4)],
           group=(1, []))
    ga = GeneticAlgorithm(ToyTask(), database=db, config=GAConfig(population_size=4, elitism=2))
    population = [r.solution for r in ga.population()]
    # two elites overall, then the best children of the last generation
    assert population == ["0005", "0004", "9003", "9002"]
    steady = GeneticAlgorithm(ToyTask(), database=db, config=GAConfig(population_size=4))
    assert [r.solution for r in steady.population()] == ["0005", "0004", "0003", "0002"]


def test_ga_breeds_from_the_population_only() -> None:
    """With only mutation of one digit, every child is one edit away from a parent."""
    opt = create("optimizer", "ga", ToyTask(), population_size=4, offspring_size=4,
                 crossover_rate=0.0, budget=40)
    first = opt.ask()
    opt.tell(first, opt.task.evaluate(first.solutions))
    parents = {r.solution for r in opt.population()}
    children = opt.ask().solutions
    assert children
    for child in children:
        assert min(sum(a != b for a, b in zip(child, p)) for p in parents) == 1


def test_adapter_points_are_kept_in_record_tags() -> None:
    opt = create("optimizer", "optuna-tpe", ToyTask(), budget=8)
    run(opt, progress=False)
    for record in opt.database.records():
        x = record.tags["x"]
        assert len(x) == 4 and opt.task.search_space().decode(x) == record.solution


def test_adapter_learns_stored_records_on_resume() -> None:
    db = MemoryDatabase()
    run(create("optimizer", "random-search", ToyTask(), database=db, budget=20),
        progress=False)
    opt = create("optimizer", "optuna-tpe", ToyTask(), database=db, budget=28)
    run(opt, progress=False)
    told = [t for t in opt.study.trials if t.state.name == "COMPLETE"]
    assert len(told) >= 28  # the 20 stored records, then its own
    assert opt.n_evaluations == 28


def test_pool_is_cut_to_max_pool() -> None:
    opt = create("optimizer", "optuna-tpe", PoolToyTask(), space="pool", max_pool=50)
    assert len(opt.encoding.choices) == 50
    group = opt.ask()
    assert set(group.solutions) <= set(opt.encoding.choices)
