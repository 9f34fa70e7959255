"""Registers the baselines as migrate-opt optimizers."""

from __future__ import annotations

from migrate_opt import hookimpl

from .genetic import GeneticAlgorithm
from .nevergrad_adapter import NevergradOptimizer
from .optuna_adapter import OptunaGP, OptunaTPE
from .random_search import RandomSearch


@hookimpl
def register_optimizers(register) -> None:  # type: ignore[no-untyped-def]
    register("random-search", RandomSearch,
             description="uniform random solutions from the task's search space")
    register("ga", GeneticAlgorithm,
             description="genetic algorithm on the task's mutation/crossover operators")
    register("optuna-tpe", OptunaTPE, description="Optuna TPE over a pool or an encoding")
    register("optuna-gp", OptunaGP, description="Optuna GP sampler over a pool or an encoding")
    register("nevergrad", NevergradOptimizer,
             description="a Nevergrad optimizer (NGOpt by default) over a pool or an encoding")
