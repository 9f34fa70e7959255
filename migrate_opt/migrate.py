"""MiGrATe: an LLM proposes candidates; after every group its LoRA adapter takes a GRPO
step on a mix of on-policy samples, replays of the best past solutions and neighbourhood
variations of them (METHOD.md)."""

from __future__ import annotations

import dataclasses
import io
import logging
import random
import time
from collections.abc import Mapping
from typing import Any

from .errors import ConfigError
from .optimizer import Optimizer, member_from_dict
from .policy.base import Policy, SamplingConfig, Updater
from .presets import Method, method
from .registry import create, registry
from .samplers import Sampler, SamplerContext
from .storage import Database
from .task import Task
from .values import Group, Member, Proposal, Record

log = logging.getLogger(__name__)

DEFAULT_MODEL = "smollm2-135m-instruct"


class Migrate(Optimizer):
    """The MiGrATe optimizer (and, through ``method``, every LLM baseline of the paper:
    random, ns, opro, grpo, grpo-greedy, migrate, migrate-opro, migrate-evo)."""

    name = "migrate"

    def __init__(
        self,
        task: Task,
        *,
        policy: Policy | str = DEFAULT_MODEL,
        method: Method | str = "migrate",
        group_size: int | None = None,
        top_k: int | None = None,
        grpo: Any = None,
        sampling: SamplingConfig = SamplingConfig(),
        updater: Updater | None = None,
        samplers: Mapping[str, Sampler] | None = None,
        database: Database | None = None,
        seed: int = 0,
        budget: int | None = None,
    ) -> None:
        super().__init__(task, database=database, seed=seed, budget=budget)
        self.method = _resolve_method(method, task, group_size, top_k)
        self.policy = _resolve_policy(policy)
        self.sampling = sampling
        self.samplers = _resolve_samplers(self.method, samplers or {})
        self.grpo = grpo
        self.updater = updater
        if self.training and self.updater is None:
            from .grpo import GRPOConfig, GRPOUpdater

            self.grpo = grpo if grpo is not None else GRPOConfig()
            self.updater = GRPOUpdater(self.grpo)
        self._restore()
        self.database.set_settings(self.settings())

    @property
    def training(self) -> bool:
        return self.method.train and self.policy.trainable

    def settings(self) -> dict[str, Any]:
        return {
            **super().settings(),
            "method": self.method.name,
            "group": dict(self.method.group.composition),
            "top_k": self.method.group.top_k,
            "train": self.method.train,
            "sampling": dataclasses.asdict(self.sampling),
            "grpo": _as_dict(self.grpo),
            **self.policy.describe(),
        }

    # -- ask -----------------------------------------------------------------------------
    def _ask(self) -> list[Member]:
        ctx = SamplerContext(
            task=self.task,
            database=self.database,
            rng=random.Random(f"{self.seed}:{self.iteration}"),
            iteration=self.iteration,
            top_k=self.method.group.top_k,
        )
        proposals = [
            p
            for name, n in self.method.group.composition.items()
            for p in self.samplers[name].propose(ctx, n)
        ]
        # Replays can fall short (an empty or small database): on-policy samples fill the
        # group to its size, so with no history the whole group is on-policy (METHOD.md).
        missing = self.method.group.size - len(proposals)
        proposals += [Proposal("on_policy", prompt=self.task.prompt())] * max(missing, 0)
        return self._realise(proposals)

    def _realise(self, proposals: list[Proposal]) -> list[Member]:
        """Generate completions for prompt proposals; turn replays into members."""
        prompts = [p.prompt for p in proposals if p.prompt is not None]
        start = time.perf_counter()
        generations = iter(
            self.policy.generate(
                prompts,
                system=self.task.system_prompt,
                sampling=self.sampling,
                max_new_tokens=self.sampling.max_new_tokens or self.task.max_new_tokens,
                seed=(self.seed * 1_000_003 + self.iteration) % 2**63,
                response_prefix=self.task.response_prefix,
                stop=self.task.stop,
                grammar=self.task.answer_grammar,
            )
            if prompts
            else []
        )
        self._generate_seconds = time.perf_counter() - start
        members = []
        for p in proposals:
            if p.replay is not None:
                members.append(self._replay_member(p, p.replay))
                continue
            g = next(generations)
            solutions, error = self.parse(g.text)
            members.append(
                Member(
                    source=p.source, completion=g.text, solutions=solutions, prompt=p.prompt,
                    token_ids=g.token_ids or None, behaviour_logprobs=g.logprobs or None,
                    error=error, tags=dict(p.tags),
                )
            )
        return members

    def _replay_member(self, p: Proposal, r: Record) -> Member:
        completion = r.completion or self.task.render([r.solution])
        return Member(source=p.source, completion=completion, solutions=(r.solution,),
                      tags=dict(p.tags))

    def parse(self, completion: str) -> tuple[tuple[str, ...], str | None]:
        """Canonical, distinct, valid solutions of a completion, and why there are none."""
        return parse_completion(self.task, completion)

    def ask(self) -> Group:
        self._generate_seconds = 0.0
        group = super().ask()
        group.timings["generate"] = self._generate_seconds
        return group

    # -- learn ---------------------------------------------------------------------------
    def _after_tell(self, group: Group, records: list[Record]) -> None:
        if not self.training:
            return
        start = time.perf_counter()
        self._train(group.iteration, group.members)
        middle = time.perf_counter()
        self._save_checkpoint(group.iteration)
        group.timings["train"] = middle - start
        group.timings["checkpoint"] = time.perf_counter() - middle

    def _train(self, iteration: int, members: list[Member]) -> None:
        assert self.updater is not None
        metrics = self.updater.step(self.policy, self.task.prompt(), self.task.system_prompt,
                                    members, self.task.response_prefix)
        self.database.log_metrics(iteration, metrics)

    def _save_checkpoint(self, iteration: int) -> None:
        """Adapter and optimizer state after ``iteration`` (replaces the previous one)."""
        self.database.save_checkpoint(iteration, self._checkpoint_bytes())

    def _checkpoint_bytes(self) -> bytes:
        import torch

        assert self.updater is not None
        buf = io.BytesIO()
        torch.save(
            {"policy": self.policy.state_dict(), "updater": self.updater.state_dict()}, buf
        )
        return buf.getvalue()

    def _restore(self) -> None:
        """Resume: load the latest checkpoint, then redo the update of any group that was
        stored but whose update was interrupted (its records are never re-evaluated)."""
        if not self.training:
            return
        done = -1
        checkpoint = self.database.load_checkpoint()
        if checkpoint is not None:
            import torch

            done, blob = checkpoint
            state = torch.load(io.BytesIO(blob), weights_only=False)
            self.policy.load_state_dict(state["policy"])
            assert self.updater is not None
            self.updater.load_state_dict(state["updater"])
        for iteration, members in self.database.groups():
            if iteration > done:
                log.info("redoing the interrupted update of iteration %d", iteration)
                self._train(iteration, [member_from_dict(m) for m in members])
                self._save_checkpoint(iteration)


def _as_dict(config: Any) -> dict[str, Any] | None:
    is_instance = dataclasses.is_dataclass(config) and not isinstance(config, type)
    return dataclasses.asdict(config) if is_instance else None


def _resolve_method(m: Method | str, task: Task, size: int | None, top_k: int | None) -> Method:
    if isinstance(m, Method):
        return m
    size = size or task.default_group_size
    return method(m, size, top_k=top_k or task.default_top_k,
                  overrides=task.group_overrides(size))


def _resolve_policy(policy: Policy | str) -> Policy:
    if isinstance(policy, Policy):
        return policy
    if not isinstance(policy, str):
        raise ConfigError(f"policy must be a Policy or a model name, got {policy!r}")
    from .policy import load_policy

    return load_policy(policy)


def _resolve_samplers(m: Method, given: Mapping[str, Sampler]) -> dict[str, Sampler]:
    samplers = dict(given)
    for name in m.group.composition:
        if name not in samplers:
            samplers[name] = create("sampler", name)
    return samplers


__all__ = ["Migrate", "DEFAULT_MODEL", "parse_completion", "registry"]


def parse_completion(task: Task, completion: str) -> tuple[tuple[str, ...], str | None]:
    """Canonical, distinct, valid solutions of a completion, and why there are none; a
    task parser that raises costs the completion, never the run."""
    try:
        raw = task.parse(completion)
    except Exception as exc:  # a task parser must never kill the run
        return (), f"parser raised {type(exc).__name__}: {exc}"
    canon = []
    for s in raw:
        try:
            c = task.canonicalize(s)
        except Exception:
            c = None
        if c is not None and c not in canon:
            canon.append(c)
    return tuple(canon), None if canon else "no valid solution in the completion"
