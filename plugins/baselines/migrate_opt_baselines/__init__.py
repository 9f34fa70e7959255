"""Non-LLM baselines behind migrate-opt's ask/tell: random search, a genetic algorithm on
the task's own mutation/crossover operators, and adapters to Optuna (TPE, GP) and
Nevergrad that search a categorical pool or a continuous encoding of the task's solutions.

Each is an :class:`migrate_opt.Optimizer`, so ``migrate_opt.run`` and the benchmark harness
treat them like ``Migrate``; each refuses a task whose search space lacks an operator it
needs, naming the operator."""

from .base import SearchBaseline
from .genetic import GAConfig, GeneticAlgorithm
from .nevergrad_adapter import NevergradConfig, NevergradOptimizer
from .optuna_adapter import OptunaConfig, OptunaOptimizer
from .random_search import RandomSearch, RandomSearchConfig

__all__ = [
    "GAConfig", "GeneticAlgorithm", "NevergradConfig", "NevergradOptimizer", "OptunaConfig",
    "OptunaOptimizer", "RandomSearch", "RandomSearchConfig", "SearchBaseline",
]
