"""A genetic algorithm on the task's own operators: on molecules these are Graph-GA
mutation and crossover, on Semantle word-level ones, on the toy task digit edits.

The population is never kept in memory: each generation it is read back from the database
(the ``elitism`` best solutions ever found, then the best children of the last generation),
so a run resumed from its database breeds exactly what an uninterrupted one would."""

from __future__ import annotations

import random
from dataclasses import dataclass

from migrate_opt import ConfigError, Member, Record

from .base import Requirement, SearchBaseline


@dataclass(frozen=True)
class GAConfig:
    """Settings of the genetic algorithm."""

    population_size: int = 16
    """Parents kept each generation (also the size of the random first generation)."""
    offspring_size: int = 8
    """Children bred (and evaluated) per generation, i.e. per ask."""
    mutation_rate: float = 0.5
    """Probability that a child is mutated after crossover (always, without crossover)."""
    crossover_rate: float = 0.5
    """Probability that a child comes from crossing two parents instead of copying one."""
    elitism: int | None = None
    """Best solutions ever found that always stay in the population; the rest are the best
    children of the last generation. None keeps the best ``population_size`` overall
    (steady state, as in Graph GA)."""
    tournament: int = 2
    """Tournament size of parent selection (1: uniform among the population)."""
    tries: int = 20
    """Breeding attempts per wanted child before filling with random solutions."""

    def __post_init__(self) -> None:
        if self.population_size < 2:
            raise ConfigError(f"ga: population_size must be >= 2, got {self.population_size}")
        if self.offspring_size < 1 or self.tournament < 1 or self.tries < 1:
            raise ConfigError("ga: offspring_size, tournament and tries must be >= 1")
        for name in ("mutation_rate", "crossover_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"ga: {name} must be in [0, 1], got {value}")
        if self.elitism is not None and not 0 <= self.elitism <= self.population_size:
            raise ConfigError(
                f"ga: elitism must be in [0, population_size={self.population_size}], "
                f"got {self.elitism}"
            )

    @property
    def elites(self) -> int:
        return self.population_size if self.elitism is None else self.elitism


class GeneticAlgorithm(SearchBaseline):
    """Tournament selection, crossover and mutation through the task's search space."""

    name = "ga"
    config_class = GAConfig
    config: GAConfig

    def requirements(self) -> list[Requirement]:
        needs: list[Requirement] = [("sample", "pool"), ("mutate",)]
        if self.config.crossover_rate > 0:
            needs.append(("crossover",))
        return needs

    def population(self) -> list[Record]:
        """This generation's parents, read from the database."""
        elites = self.database.top(self.config.elites)
        room = self.config.population_size - len(elites)
        if room <= 0:
            return elites
        taken = {r.solution for r in elites}
        last = self.database.last_iteration()
        children = sorted(
            (r for r in self.database.records()
             if r.iteration == last and r.score is not None and r.solution not in taken),
            key=lambda r: (-(r.score or 0.0), r.seq),
        )[:room]
        population = elites + children
        if len(population) < self.config.population_size:  # a thin generation: top up
            taken |= {r.solution for r in children}
            extra = [r for r in self.database.top(self.config.population_size * 2)
                     if r.solution not in taken]
            population += extra[: self.config.population_size - len(population)]
        return population

    def _ask(self) -> list[Member]:
        rng = self.rng()
        parents = self.population()
        if len(parents) < 2:  # first generation (or nothing valid yet): random solutions
            n = self.batch(self.config.population_size)
            return [self.member(s) for s in self.fresh(self.drawer(rng), n, self.config.tries)]
        n = self.batch(self.config.offspring_size)
        children = self.fresh(lambda: self._breed(parents, rng), n, self.config.tries)
        if len(children) < n:  # the neighborhood is used up: keep exploring at random
            children += self.fresh(self.drawer(rng), n - len(children), self.config.tries)
        return [self.member(s) for s in children]

    def _breed(self, parents: list[Record], rng: random.Random) -> str | None:
        first = self._select(parents, rng)
        child: str | None = first.solution
        crossed = rng.random() < self.config.crossover_rate
        if crossed:
            child = self.space.crossover(first.solution, self._select(parents, rng).solution,
                                         rng)
        if child is not None and (not crossed or rng.random() < self.config.mutation_rate):
            child = self.space.mutate(child, rng)
        return child

    def _select(self, parents: list[Record], rng: random.Random) -> Record:
        entrants = [parents[rng.randrange(len(parents))] for _ in range(self.config.tournament)]
        return max(entrants, key=lambda r: r.score if r.score is not None else float("-inf"))
