"""Random search: new solutions drawn from the task's search space (its sampler, or its
candidate pool)."""

from __future__ import annotations

from dataclasses import dataclass

from migrate_opt import ConfigError, Member

from .base import Requirement, SearchBaseline


@dataclass(frozen=True)
class RandomSearchConfig:
    """Settings of random search."""

    batch_size: int = 8
    """Solutions proposed per ask."""
    tries: int = 20
    """Draws per wanted solution before giving up on finding a new one."""

    def __post_init__(self) -> None:
        if self.batch_size < 1 or self.tries < 1:
            raise ConfigError("random-search: batch_size and tries must be >= 1")


class RandomSearch(SearchBaseline):
    """Uniform random solutions, never repeating one already evaluated."""

    name = "random-search"
    config_class = RandomSearchConfig
    config: RandomSearchConfig

    def requirements(self) -> list[Requirement]:
        return [("sample", "pool")]

    def _ask(self) -> list[Member]:
        n = self.batch(self.config.batch_size)
        return [self.member(s) for s in self.fresh(self.drawer(self.rng()), n,
                                                   self.config.tries)]
