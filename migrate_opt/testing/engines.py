"""``EngineContract``: checks every generation engine must pass, run through the tiny
random policy (``migrate_opt.policy.tiny``) with its adapter perturbed so that it matters:
the engine samples from an ``EngineModel`` alone (what the policy hands it); the same seed
samples the same completions; behaviour log-probs are finite, one per sampled token and
near the torch model's own; the engine follows the live adapter; stop strings and
``max_new_tokens`` are honoured; prompts of different lengths share one call.

Also importable from ``migrate_opt.testing.contracts``. Subclass it and provide ``engine``;
state how far your log-probs may be from the torch model's::

    class TestMine(EngineContract):
        logprob_max_gap = 1e-3

        @pytest.fixture
        def engine(self):
            return MyEngine()

torch is imported only when a check runs (this module is importable without it)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import pytest

from ..engines import Engine, EngineModel
from ..policy.base import Generation, SamplingConfig
from ..task.prompt_spec import PromptSpec
from ..values import Member

GREEDY = SamplingConfig(temperature=0.0)
SYSTEM = "be brief"
SPEC = PromptSpec(system=SYSTEM, max_new_tokens=16)
GROUP = ("give a word",) * 4 + ("list two words, then a number please",) * 3 + ("one",)
"""A group like MiGrATe's: members sharing the task prompt, members sharing a parent's
prompt, one prompt alone (three lengths)."""


def perturb(policy: Any, seed: int, scale: float = 0.5) -> None:
    """Adds seeded noise to the adapter (a fresh LoRA adapter changes nothing)."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in policy.trainable_parameters():
            p.add_(torch.randn(p.shape, generator=gen) * scale)


def logprob_gaps(policy: Any, prompts: Sequence[str], gens: Sequence[Generation],
                 system: str | None = SYSTEM) -> list[float]:
    """|behaviour log-prob - the torch model's| of every sampled token."""
    import torch

    gaps: list[float] = []
    for prompt, g in zip(prompts, gens, strict=True):
        member = Member("on_policy", g.text, (), prompt=prompt, token_ids=g.token_ids,
                        behaviour_logprobs=g.logprobs)
        with torch.no_grad():
            scored = policy.token_logprobs(policy.encode(prompt, system, [member]))[0]
        gaps += (scored[: len(g.logprobs)] - torch.tensor(g.logprobs)).abs().tolist()
    return gaps


class EngineContract:
    """Subclass and provide the ``engine`` fixture."""

    logprob_max_gap: float = 1e-4
    """Largest |behaviour log-prob - the torch model's| allowed on one token, in nats."""
    logprob_mean_gap: float = 1e-4
    """Largest mean of those gaps over the sampled tokens."""
    draws_like_hf: bool = True
    """The engine draws exactly the ``hf`` engine's tokens for a seed (it runs the shared
    decode loop on logits close enough to torch's)."""

    @pytest.fixture
    def engine(self) -> Engine:
        raise NotImplementedError("provide an `engine` fixture returning an Engine")

    @pytest.fixture
    def policy(self, engine: Engine) -> Any:
        from ..policy.tiny import tiny_policy

        policy = tiny_policy(seed=0, engine=engine)
        perturb(policy, seed=1)
        return policy

    @staticmethod
    def generate(policy: Any, prompts: Sequence[str] = GROUP, spec: PromptSpec = SPEC,
                 **kw: Any) -> list[Generation]:
        return list(policy.generate(list(prompts), spec, **{"seed": 7, **kw}))

    def test_samples_from_an_engine_model_alone(self, engine: Engine, policy: Any) -> None:
        from ..engines.decode import DecodeSpec

        model = policy.engine_model  # all an engine gets: never the policy itself
        assert isinstance(model, EngineModel)
        rows = [policy.prompt_ids(p, SYSTEM) for p in GROUP]
        spec = DecodeSpec(max_new_tokens=5, eos_ids=model.eos_ids,
                          pad_id=model.tokenizer.pad_token_id, seed=7)
        sampled = engine.generate(model, rows, spec)
        assert len(sampled) == len(rows)
        for s in sampled:
            assert 0 < len(s.token_ids) <= 5 and len(s.logprobs) in (0, len(s.token_ids))
        assert [s.token_ids for s in engine.generate(model, rows, spec)] == [
            s.token_ids for s in sampled]

    def test_the_same_seed_samples_the_same_completions(self, policy: Any) -> None:
        a, b = self.generate(policy), self.generate(policy)
        assert a == b
        other = self.generate(policy, seed=8)
        assert [g.token_ids for g in other] != [g.token_ids for g in a]

    def test_logprobs_are_finite_one_per_token_and_near_the_torch_model(self, policy: Any
                                                                        ) -> None:
        gens = self.generate(policy)
        for g in gens:
            assert len(g.logprobs) == len(g.token_ids) > 0
            assert all(math.isfinite(lp) and lp <= 1e-5 for lp in g.logprobs)
        gaps = logprob_gaps(policy, GROUP, gens)
        assert max(gaps) <= self.logprob_max_gap
        assert sum(gaps) / len(gaps) <= self.logprob_mean_gap

    def test_draws_what_the_hf_engine_draws(self, policy: Any) -> None:
        if not self.draws_like_hf:
            pytest.skip("this engine draws its own tokens")
        from ..engines.hf import HFEngine

        ours = self.generate(policy)
        policy.engine = HFEngine()
        assert [g.token_ids for g in ours] == [g.token_ids for g in self.generate(policy)]

    def test_follows_the_live_adapter(self, policy: Any) -> None:
        before_state = policy.state_dict()
        before = self.generate(policy, sampling=GREEDY)
        perturb(policy, seed=2)
        after = self.generate(policy, sampling=GREEDY)
        assert [g.token_ids for g in after] != [g.token_ids for g in before]
        gaps = logprob_gaps(policy, GROUP, after)  # scored by the changed adapter
        assert sum(gaps) / len(gaps) <= self.logprob_mean_gap
        policy.load_state_dict(before_state)
        assert [g.token_ids for g in self.generate(policy, sampling=GREEDY)] == [
            g.token_ids for g in before]

    def test_max_new_tokens_is_honoured(self, policy: Any) -> None:
        for limit in (1, 5):
            gens = self.generate(policy, spec=replace(SPEC, max_new_tokens=limit))
            lengths = [len(g.token_ids) for g in gens]
            assert all(0 < n <= limit for n in lengths) and limit in lengths

    def test_a_stop_string_ends_the_completion_at_the_token_that_completes_it(
            self, policy: Any) -> None:
        free = self.generate(policy)
        decode = policy.tokenizer.decode
        i, g = next((i, g) for i, g in enumerate(free) if len(g.text) >= 6)
        stop = g.text[2:5]
        stopped = self.generate(policy, spec=replace(SPEC, stop=(stop,)))
        ids = list(free[i].token_ids)
        k = next(k for k in range(1, len(ids) + 1)
                 if stop in decode(ids[:k], skip_special_tokens=True))
        assert stopped[i].token_ids == tuple(ids[:k]) and stop in stopped[i].text
        assert len(stopped[i].logprobs) == k
        for s, f in zip(stopped, free, strict=True):  # nobody runs past the stop string
            assert s.token_ids == f.token_ids[: len(s.token_ids)]
            assert stop not in decode(list(s.token_ids[:-1]), skip_special_tokens=True)

    def test_prompts_of_different_lengths_in_one_call(self, policy: Any) -> None:
        together = self.generate(policy, sampling=GREEDY)
        for prompt in dict.fromkeys(GROUP):
            (alone,) = self.generate(policy, [prompt], sampling=GREEDY)
            for g, p in zip(together, GROUP):
                if p == prompt:
                    assert g.token_ids == alone.token_ids
                    gaps = [abs(x - y) for x, y in zip(g.logprobs, alone.logprobs)]
                    assert max(gaps) <= max(self.logprob_max_gap, 1e-4)


__all__ = ["EngineContract", "GROUP", "logprob_gaps", "perturb"]
