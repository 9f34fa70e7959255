"""What every search baseline shares: refusing a task that lacks an operator, per-iteration
random streams (so a resumed run asks what an uninterrupted one would), novelty filtering,
and turning solutions into group members."""

from __future__ import annotations

import dataclasses
import logging
import random
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from migrate_opt import ConfigError, Database, Member, Optimizer, SearchSpace, Task

log = logging.getLogger(__name__)

Requirement = tuple[str, ...]
"""Operators of which at least one must be available (``("sample", "pool")``)."""


class SearchBaseline(Optimizer):
    """An optimizer that proposes solutions through the task's :class:`SearchSpace`.

    Subclasses set ``name`` and ``config_class`` and implement ``_ask``; options passed to
    the constructor build the config (a frozen dataclass), so
    ``create("optimizer", "ga", task, population_size=32)`` works."""

    name = "baseline"
    config_class: ClassVar[type]

    def __init__(
        self,
        task: Task,
        *,
        database: Database | None = None,
        seed: int = 0,
        budget: int | None = None,
        config: Any = None,
        **options: Any,
    ) -> None:
        super().__init__(task, database=database, seed=seed, budget=budget)
        self.config = build_config(self.config_class, config, options, self.name)
        self.space = self._check_space(task)
        self._prepare()

    def _prepare(self) -> None:
        """Build what the optimizer needs once config and space are known."""

    # -- requirements --------------------------------------------------------------------
    def requirements(self) -> list[Requirement]:
        """Operators this optimizer (with its config) needs from the search space."""
        return []

    def _check_space(self, task: Task) -> SearchSpace:
        space = task.search_space()
        if space is None:
            raise ConfigError(
                f"optimizer {self.name!r} needs a search space, and task {task.name!r} has "
                "none (its search_space() returned None): implement SearchSpace for the task, "
                "or compare with an LLM method instead"
            )
        for need in self.requirements():
            if not any(space.supports(op) for op in need):
                alternatives = " or ".join(repr(op) for op in need)
                raise ConfigError(
                    f"optimizer {self.name!r} needs the SearchSpace operator {alternatives}, "
                    f"which task {task.name!r} does not provide: implement "
                    f"{type(space).__name__}.{need[0]}, or pick another optimizer"
                )
        return space

    def settings(self) -> dict[str, Any]:
        return {**super().settings(), "config": dataclasses.asdict(self.config)}

    # -- helpers for subclasses ----------------------------------------------------------
    def rng(self) -> random.Random:
        """This iteration's random stream: a function of seed and iteration only, so a run
        resumed from its database makes the same choices as an uninterrupted one."""
        return random.Random(f"{self.name}:{self.seed}:{self.iteration}")

    def batch(self, size: int) -> int:
        """How many new solutions to propose: ``size``, or fewer near the budget's end."""
        remaining = self.remaining
        return size if remaining is None else min(size, remaining)

    def drawer(self, rng: random.Random) -> Callable[[], str | None]:
        """A function drawing one random solution: the space's sampler, else its pool."""
        if self.space.supports("sample"):
            return lambda: self.space.sample(rng, 1)[0]
        pool = self.space.pool()
        if pool is None:
            raise ConfigError(f"{self.name}: the search space has neither sample nor pool")
        return lambda: pool[rng.randrange(len(pool))]

    def canonical(self, solution: str | None) -> str | None:
        if solution is None:
            return None
        try:
            return self.task.canonicalize(solution)
        except Exception:  # an operator's output the task cannot read is just invalid
            return None

    def fresh(self, make: Callable[[], str | None], n: int, tries: int) -> list[str]:
        """Up to ``n`` distinct valid solutions never evaluated before, calling ``make`` at
        most ``n * tries`` times (a small space may simply be used up)."""
        out: list[str] = []
        for _ in range(n * tries):
            if len(out) >= n:
                break
            s = self.canonical(make())
            if s is not None and s not in out and self.database.get(s) is None:
                out.append(s)
        if len(out) < n:
            log.debug("%s: found %d of %d new solutions", self.name, len(out), n)
        return out

    def member(self, solution: str | None, tags: Mapping[str, Any] | None = None) -> Member:
        """A group member holding one solution; ``None`` makes an invalid member."""
        tags = dict(tags or {})
        if solution is None:
            return Member(source=self.name, completion="", solutions=(),
                          error="the search space gave no valid solution", tags=tags)
        return Member(source=self.name, completion=self.task.render([solution]),
                      solutions=(solution,), tags=tags)


def build_config(cls: type, config: Any, options: Mapping[str, Any], owner: str) -> Any:
    """``config`` itself, or ``cls(**options)`` with a clear error on unknown options."""
    if config is not None:
        if options:
            raise ConfigError(f"{owner}: give either config or options, not both")
        if not isinstance(config, cls):
            raise ConfigError(f"{owner}: config must be a {cls.__name__}, got {config!r}")
        return config
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(options) - fields)
    if unknown:
        raise ConfigError(
            f"{owner}: unknown option(s) {', '.join(unknown)}; "
            f"known options: {', '.join(sorted(fields))}"
        )
    return cls(**options)
