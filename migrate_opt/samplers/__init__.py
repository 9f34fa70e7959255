"""Samplers propose the members of a group. They never call the model, so they are cheap
to test: they return prompts to generate from, or known records to replay.

Samplers read history from the database (as Optuna's samplers read storage), so a resumed
run behaves like an uninterrupted one."""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from dataclasses import dataclass

from ..errors import ConfigError
from ..storage import Database
from ..task import Task
from ..values import Proposal, Record


@dataclass(frozen=True)
class SamplerContext:
    """What a sampler may look at for one iteration."""

    task: Task
    database: Database
    rng: random.Random
    iteration: int


class Sampler(ABC):
    """Proposes ``n`` members of a group."""

    name: str = "sampler"

    @abstractmethod
    def propose(self, ctx: SamplerContext, n: int) -> list[Proposal]: ...


def _fresh(ctx: SamplerContext, n: int) -> list[Proposal]:
    """On-policy proposals; every sampler falls back to these on an empty database."""
    return [Proposal("on_policy", prompt=ctx.task.prompt()) for _ in range(n)]


class OnPolicy(Sampler):
    """alpha: samples from the canonical task prompt (exploration)."""

    name = "on_policy"

    def propose(self, ctx: SamplerContext, n: int) -> list[Proposal]:
        return _fresh(ctx, n)


class Greedy(Sampler):
    """beta: replays the ``n`` best distinct past solutions with their stored scores
    (exploitation; they cost no evaluation). Fewer when the database holds fewer."""

    name = "greedy"

    def propose(self, ctx: SamplerContext, n: int) -> list[Proposal]:
        return [Proposal(self.name, replay=r) for r in ctx.database.top(n)]


def _check_top_k(top_k: int) -> int:
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise ConfigError(f"top_k must be an integer >= 1, got {top_k!r}")
    return top_k


class Neighborhood(Sampler):
    """gamma: one parent drawn uniformly from the top-k; the task's neighbourhood prompt
    asks for variations of it (local search)."""

    name = "neighborhood"

    def __init__(self, top_k: int = 1) -> None:
        """``top_k``: the parent is drawn uniformly from the ``top_k`` best records."""
        self.top_k = _check_top_k(top_k)

    def propose(self, ctx: SamplerContext, n: int) -> list[Proposal]:
        parents = ctx.database.top(self.top_k)
        if not parents:
            return _fresh(ctx, n)
        parent = ctx.rng.choice(parents)
        prompt = ctx.task.neighborhood_prompt(parent)
        return [
            Proposal(self.name, prompt=prompt, tags={"parent": parent.solution})
            for _ in range(n)
        ]


class Opro(Sampler):
    """OPRO: the top ``history`` past solutions, worst to best with scores, in the prompt."""

    name = "opro"

    def __init__(self, history: int = 10) -> None:
        if history < 1:
            raise ConfigError(f"opro history must be >= 1, got {history}")
        self.history = history

    def propose(self, ctx: SamplerContext, n: int) -> list[Proposal]:
        best = ctx.database.top(self.history)
        if not best:
            return _fresh(ctx, n)
        prompt = ctx.task.opro_prompt(list(reversed(best)))
        return [Proposal(self.name, prompt=prompt) for _ in range(n)]


class Islands(Sampler):
    """The "evo" variant: records belong to islands (tagged at proposal time); each
    iteration works on one island in turn, drawing the parent from that island's top-k plus
    an elite archive of migrants (the global best) once ``migrate_every`` iterations passed.
    State lives in the records' tags, so resume needs nothing else."""

    name = "islands"

    def __init__(
        self, islands: int = 4, migrate_every: int = 5, elite: int = 1, top_k: int = 1
    ) -> None:
        """``top_k``: the parent is drawn from the island's ``top_k`` best records."""
        if islands < 1 or migrate_every < 1 or elite < 0:
            raise ConfigError("islands and migrate_every must be >= 1, elite >= 0")
        self.top_k = _check_top_k(top_k)
        self.islands = islands
        self.migrate_every = migrate_every
        self.elite = elite

    def population(self, ctx: SamplerContext, island: int) -> list[Record]:
        # Scanning all records is fine: islands is used with budgets of ~1k evaluations.
        members = [
            r for r in ctx.database.records()
            if r.score is not None and r.tags.get("island") == island
        ]
        if ctx.iteration >= self.migrate_every and self.elite:
            members += ctx.database.top(self.elite)
        unique = {r.solution: r for r in members}
        return sorted(unique.values(), key=lambda r: (-(r.score or 0.0), r.seq))[: self.top_k]

    def propose(self, ctx: SamplerContext, n: int) -> list[Proposal]:
        island = ctx.iteration % self.islands
        parents = self.population(ctx, island)
        tags = {"island": island}
        if not parents:
            return [
                Proposal(self.name, prompt=ctx.task.prompt(), tags=tags) for _ in range(n)
            ]
        parent = ctx.rng.choice(parents)
        prompt = ctx.task.neighborhood_prompt(parent)
        return [
            Proposal(self.name, prompt=prompt, tags={**tags, "parent": parent.solution})
            for _ in range(n)
        ]


BUILTIN_SAMPLERS: dict[str, type[Sampler]] = {
    cls.name: cls for cls in (OnPolicy, Greedy, Neighborhood, Opro, Islands)
}
