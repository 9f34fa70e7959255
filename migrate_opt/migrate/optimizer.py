"""MiGrATe: an LLM proposes candidates; after every group its LoRA adapter takes a GRPO
step on a mix of on-policy samples, replays of the best past solutions and neighbourhood
variations of them (docs/method.md)."""

from __future__ import annotations

import dataclasses
import logging
import random
import time
from collections.abc import Mapping
from typing import Any

from ..configs import to_mapping
from ..errors import ConfigError
from ..optimizer import Optimizer
from ..policy.base import Policy, SamplingConfig, Updater
from ..samplers import Sampler, SamplerContext
from ..storage import Database
from ..task import Task
from ..values import Group, Member, Proposal, Record
from .config import DEFAULT_MODEL, MigrateConfig, PolicySpec
from .state import AdapterState

log = logging.getLogger(__name__)

TRUNCATED = "cut at max_new_tokens before it ended (not parsed)"


class Migrate(Optimizer):
    """The MiGrATe optimizer, and through its config every LLM baseline of the paper
    (sample, ns, opro, grpo, grpo-greedy, migrate, migrate-opro, migrate-evo).

    The constructor only wires objects; build one by name with
    ``create("optimizer", "migrate", task, ...)``, which resolves the preset, the policy and
    the samplers. It never loads a model and never trains: training state is restored by
    :meth:`restore`, which the first ``ask`` calls when nobody did."""

    name = "migrate"

    def __init__(
        self,
        task: Task,
        *,
        policy: Policy,
        config: MigrateConfig,
        samplers: Mapping[str, Sampler],
        updater: Updater | None = None,
        database: Database | None = None,
        seed: int = 0,
        budget: int | None = None,
    ) -> None:
        super().__init__(task, database=database, seed=seed, budget=budget)
        if not isinstance(policy, Policy):
            raise ConfigError(f"policy must be a Policy, got {policy!r}; build by name with "
                              "create('optimizer', preset, task, policy=NAME)")
        missing = [k for k in config.group if k not in samplers]
        if missing:
            raise ConfigError(f"no sampler object for {', '.join(missing)}; pass samplers=, or "
                              "build with create('optimizer', ...), which creates them")
        if config.train and not policy.trainable and hasattr(policy, "untrainable"):
            raise ConfigError(f"{config.preset!r} trains the policy, and {policy.untrainable}")
        if config.train and (updater is None or not policy.trainable):
            raise ConfigError(
                f"{config.preset!r} trains the policy, and {type(policy).__name__} "
                f"{'cannot be trained' if not policy.trainable else 'has no updater'}: pass "
                "train=False (or an inference-only preset: sample, ns, opro)"
            )
        if not config.train and updater is not None:
            raise ConfigError("an updater was given for a config that does not train")
        self.config = config
        self.policy = policy
        self.samplers = dict(samplers)
        self.updater = updater
        self.prompt_spec = task.prompt_spec()
        """How every prompt is framed and bounded (``sampling.max_new_tokens`` overrides its
        length); built once, passed to every ``generate`` and GRPO step."""
        self._restored = False
        self._adapter: AdapterState | None = None
        """Checkpoints, restore and transfer of the adapter (built by :meth:`restore`)."""

    @property
    def training(self) -> bool:
        return self.config.train

    @property
    def sampling(self) -> SamplingConfig:
        return self.config.sampling

    def settings(self) -> dict[str, Any]:
        from .presets import PRESET_NAMES

        preset = self.config.preset
        sampled = self.policy.describe().get("policy") == "endpoint"  # resume needs one
        return {**super().settings(), "optimizer": preset if preset in PRESET_NAMES else "migrate",
                **({"sampled_from": "endpoint"} if sampled else {})}

    def config_mapping(self) -> dict[str, Any]:
        """The config with what the run resolved: the policy's name and LoRA shape, and the
        learning rate the hidden-size rule chose when none was given; without the engine and
        the device, which are the machine's."""
        cfg = self.config
        described = self.policy.describe()
        policy = PolicySpec.of(to_mapping(cfg.policy) | {
            k: v for k, v in (("name", described.get("model")), ("lora", described.get("lora")))
            if v is not None})
        grpo = cfg.grpo
        if grpo is not None and grpo.learning_rate is None and self.updater is not None:
            rate = getattr(self.updater, "effective_learning_rate", lambda p: None)(self.policy)
            grpo = dataclasses.replace(grpo, learning_rate=rate)
        machine = ("engine", "device")  # the machine's, given again by whoever resumes
        policy_data = {k: v for k, v in to_mapping(policy).items() if k not in machine}
        return {**cfg.to_mapping(), "policy": policy_data, "grpo": to_mapping(grpo)}

    # -- ask -----------------------------------------------------------------------------
    def _ask(self) -> list[Member]:
        if not self._restored:
            self.restore()
        ctx = SamplerContext(
            task=self.task,
            database=self.database,
            rng=random.Random(f"{self.seed}:{self.iteration}"),
            iteration=self.iteration,
        )
        counts = self.composition()
        size = self.config.size
        if self.budget is not None:
            # Nothing past the budget can be evaluated, nor replayed (replays are stored
            # records): a huge group asks no sampler for more than that.
            counts = {name: min(n, self.budget) for name, n in counts.items()}
            size = min(size, self.budget)
        proposals = [
            _slotted(p, name) if self.config.adaptive_mix else p
            for name in self.config.group
            for p in self.samplers[name].propose(ctx, counts[name])
        ]
        # Replays can fall short (an empty or small database): on-policy samples fill the
        # group to its size, so with no history the whole group is on-policy (docs/method.md).
        missing = size - len(proposals)
        proposals += [Proposal("on_policy", prompt=self.task.prompt())] * max(missing, 0)
        return self._realise(self._within_budget(proposals))

    def _within_budget(self, proposals: list[Proposal]) -> list[Proposal]:
        """At most as many fresh generations as the budget can still evaluate: a group of
        99999999 with 4 evaluations left generates 4 completions, not 99999999 (replays
        cost no evaluation and stay)."""
        left = self.remaining
        if left is None or sum(p.prompt is not None for p in proposals) <= left:
            return proposals
        kept = []
        for p in proposals:
            if p.prompt is not None:
                if left == 0:
                    continue
                left -= 1
            kept.append(p)
        return kept

    def composition(self) -> dict[str, int]:
        """Members per sampler for the next group: the config's counts, or with an adaptive
        mix, its allocation among the adapted samplers from what is stored."""
        counts = {name: spec.n for name, spec in self.config.group.items()}
        mix = self.config.adaptive_mix
        if mix is None:
            return counts
        from ..samplers.adaptive_mix import adaptive_composition

        adapted = self.config.adapted_samplers()
        counts.update(adaptive_composition(
            sum(counts[n] for n in adapted), adapted, self.database.groups(),
            self.database.records(), mix,
        ))
        return counts

    def _realise(self, proposals: list[Proposal]) -> list[Member]:
        """Generate completions for prompt proposals; turn replays into members."""
        prompts = [p.prompt for p in proposals if p.prompt is not None]
        start = time.perf_counter()
        generations = iter(
            self.policy.generate(prompts, self.prompt_spec, sampling=self.sampling,
                                 seed=(self.seed * 1_000_003 + self.iteration) % 2**63)
            if prompts
            else []
        )
        self._ask_timings["generate"] = time.perf_counter() - start
        members = []
        for p in proposals:
            if p.replay is not None:
                members.append(self._replay_member(p, p.replay))
                continue
            g = next(generations)
            solutions, error = ((), TRUNCATED) if g.truncated else self.parse(g.text)
            members.append(
                Member(
                    source=p.source, completion=g.text, solutions=solutions, prompt=p.prompt,
                    token_ids=g.token_ids or None, behaviour_logprobs=g.logprobs or None,
                    error=error, tags=dict(p.tags), usage=g.usage,
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

    # -- learn ---------------------------------------------------------------------------
    def _after_tell(self, group: Group, records: list[Record]) -> None:
        if not self.training:
            return
        assert self._adapter is not None  # the first ask restored it
        start = time.perf_counter()
        with self._adapter.step(group.iteration):
            self._train(group.iteration, group.members)
        middle = time.perf_counter()
        self._adapter.save_if_due(group.iteration)
        group.timings["train"] = middle - start
        group.timings["checkpoint"] = time.perf_counter() - middle

    def progress(self, group: Group) -> dict[str, str]:
        """The on-policy mean reward of ``group`` and, when it trained, the KL to base:
        whether the model is learning (docs/method.md)."""
        from ..grpo.monitor import iteration_kl, on_policy_reward
        from ..values import user_value

        reward = user_value(on_policy_reward(group.members), self.direction)
        out = {"on-policy": "-" if reward is None else f"{reward:.3f}"}
        if self.training:
            steps = [m for m in self.database.metrics() if m.get("iteration") == group.iteration]
            kl = iteration_kl(steps)
            exceeded = any(m.get("kl_exceeded") for m in steps)
            out["kl"] = "-" if kl is None else f"{kl:.3f}" + (" (too far!)" if exceeded else "")
        return out

    def _train(self, iteration: int, members: list[Member]) -> None:
        assert self.updater is not None
        metrics = self.updater.step(self.policy, self.task.prompt(), self.prompt_spec, members)
        self.database.log_metrics(iteration, metrics)

    def flush(self) -> None:
        """Write the checkpoint now if groups were trained since the last one (``run``
        calls this when it ends). Nothing is written while a step was cut mid-way."""
        if self.training and self._restored and self._adapter is not None:
            self._adapter.flush()

    def restore(self, *, discard_checkpoint: bool = False) -> None:
        """Resume training state: load the latest checkpoint, then replay the GRPO steps of
        the groups stored after it (checkpoints are written every few groups, and an update
        may have been cut by a crash); their records are never re-evaluated. The first
        ``ask`` calls this when nobody did.

        ``discard_checkpoint=True`` ignores the stored checkpoint and retrains the adapter
        from the stored groups. A checkpoint that cannot be loaded safely raises
        :class:`CheckpointError` before anything is changed."""
        self._restored = True
        if not self.training:
            return
        assert self.updater is not None
        cfg = self.config
        # Built here rather than in __init__: the CLI gives a new study its database after
        # building the optimizer, and nothing reads the adapter state before this.
        self._adapter = AdapterState(
            self.policy, self.updater, self.database, checkpoint_every=cfg.checkpoint_every,
            checkpoint_seconds=cfg.checkpoint_seconds, init_from=cfg.init_adapter)
        try:
            self._adapter.restore(self._train, discard_checkpoint=discard_checkpoint)
        finally:
            # A checkpoint that could not be loaded changed nothing: the next ask tries again.
            self._restored = self._adapter.loaded


def _slotted(p: Proposal, slot: str) -> Proposal:
    from ..samplers.adaptive_mix import SLOT_TAG

    return Proposal(p.source, prompt=p.prompt, replay=p.replay, tags={**p.tags, SLOT_TAG: slot})


__all__ = ["Migrate", "DEFAULT_MODEL", "parse_completion"]


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
