"""``PolicyContract`` and ``TrainablePolicyContract``: checks every policy must pass.

``PolicyContract`` checks the :class:`migrate_opt.policy.base.Policy` protocol: one
Generation per prompt, its text, token ids and log-probs consistent, a seed reproduces,
bad input is a ConfigError. ``TrainablePolicyContract`` adds what the GRPO updater drives
(:class:`migrate_opt.grpo.updater.TrainablePolicy`): ``encode`` and ``token_logprobs``
agree with the behaviour log-probs, ``reference()`` disables the adapter, and a GRPO step
moves ``trainable_parameters`` (the adapter, all of ``state_dict``) while the base stays.

Also importable from ``migrate_opt.testing.contracts``. Subclass and provide ``policy``::

    class TestMine(PolicyContract):
        @pytest.fixture
        def policy(self):
            return MyPolicy()

torch is imported only when a trainable check runs."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import pytest

from ..errors import ConfigError
from ..policy.base import Generation, Policy
from ..task.prompt_spec import PromptSpec
from ..values import Member

PROMPTS = ("give a word", "list two words, then a number please", "one", "give a word")
SYSTEM = "be brief"
SPEC = PromptSpec(system=SYSTEM, max_new_tokens=8)


def as_member(g: Generation, prompt: str, reward: float | None = None) -> Member:
    return Member("on_policy", g.text, (), prompt=prompt, token_ids=g.token_ids,
                  behaviour_logprobs=g.logprobs, reward=reward)


class PolicyContract:
    """Subclass and provide the ``policy`` fixture."""

    honours_response_prefix: bool = True
    """Returned texts start with the response prefix (a scripted policy returns whole
    answers instead)."""
    samples_tokens: bool = True
    """Generations carry the sampled token ids and their log-probs."""

    @pytest.fixture
    def policy(self) -> Policy:
        raise NotImplementedError("provide a `policy` fixture returning a Policy")

    def detokenize(self, policy: Any, token_ids: Sequence[int]) -> str | None:
        """The text of ``token_ids`` (None: the policy has no tokenizer to check with)."""
        return None

    @staticmethod
    def generate(policy: Policy, prompts: Sequence[str] = PROMPTS, spec: PromptSpec = SPEC,
                 **kw: Any) -> list[Generation]:
        return policy.generate(list(prompts), spec, **{"seed": 3, **kw})

    def test_one_consistent_generation_per_prompt(self, policy: Policy) -> None:
        assert policy.generate([]) == []
        gens = self.generate(policy, spec=replace(SPEC, response_prefix='["'))
        assert len(gens) == len(PROMPTS)
        for g in gens:
            assert isinstance(g, Generation) and isinstance(g.text, str)
            assert len(g.token_ids) == len(g.logprobs)
            assert all(isinstance(t, int) for t in g.token_ids)
            assert all(math.isfinite(lp) and lp <= 1e-5 for lp in g.logprobs)
            if self.samples_tokens:
                assert 0 < len(g.token_ids) <= 8
            if self.honours_response_prefix:
                assert g.text.startswith('["')
            text = self.detokenize(policy, g.token_ids)
            if text is not None:
                assert g.text == '["' + text

    def test_a_seed_reproduces_its_generations(self, policy: Policy) -> None:
        a, b = self.generate(policy), self.generate(policy)
        assert a == b
        if self.samples_tokens:
            assert [g.token_ids for g in self.generate(policy, seed=4)] != [
                g.token_ids for g in a]

    @pytest.mark.parametrize("bad", [{"prompts": "one"}, {"max_new_tokens": 0},
                                     {"max_new_tokens": 2.5}, {"prompts": ["one", None]}])
    def test_bad_input_is_a_config_error(self, policy: Policy, bad: dict[str, Any]) -> None:
        kw = dict(bad)  # parameters are shared between subclasses: never mutate them
        prompts = kw.pop("prompts", ["one"])
        with pytest.raises(ConfigError):
            policy.generate(prompts, PromptSpec(**kw))


class TrainablePolicyContract(PolicyContract):
    """Subclass and provide the ``policy`` fixture (a policy the GRPO updater trains)."""

    logprob_tolerance: float = 1e-3
    """Largest |behaviour log-prob - ``token_logprobs``| on a token, in nats (the default
    sampling: temperature 1, top_p 1). The tiny policy's cached decode and its training
    forward pass differ by up to 8e-4 in float32 on a token."""

    def _scored(self, policy: Any) -> tuple[Any, list[Generation]]:
        gens = self.generate(policy, [PROMPTS[0]] * 4)
        return policy.encode(PROMPTS[0], SYSTEM, [as_member(g, PROMPTS[0]) for g in gens]), gens

    def test_token_logprobs_score_what_was_sampled(self, policy: Any) -> None:
        import torch

        batch, gens = self._scored(policy)
        with torch.no_grad():
            scored = policy.token_logprobs(batch)
        assert scored.shape[0] == len(gens)
        assert scored.shape[1] >= max(len(g.token_ids) for g in gens)
        assert bool(torch.isfinite(scored).all())
        for row, g in zip(scored, gens):
            gaps = (row[: len(g.logprobs)] - torch.tensor(g.logprobs)).abs()
            assert float(gaps.max()) <= self.logprob_tolerance

    def test_reference_gives_the_adapter_disabled_logprobs(self, policy: Any) -> None:
        import torch

        batch, _ = self._scored(policy)
        with torch.no_grad():
            with policy.reference():
                reference = policy.token_logprobs(batch)
            before = policy.token_logprobs(batch)
            gen = torch.Generator().manual_seed(5)
            for p in policy.trainable_parameters():
                p.add_(torch.randn(p.shape, generator=gen).to(p) * 0.5)
            after = policy.token_logprobs(batch)
            with policy.reference():
                assert torch.allclose(policy.token_logprobs(batch), reference, atol=1e-6)
            assert torch.equal(policy.token_logprobs(batch), after)  # the adapter is back
        assert not torch.allclose(after, before)  # the adapter is in play outside it
        assert not torch.allclose(reference, before)

    def test_a_grpo_step_moves_the_adapter_and_not_the_base(self, policy: Any) -> None:
        import torch

        from ..grpo import GRPOConfig, GRPOUpdater

        params = policy.trainable_parameters()
        assert params and all(p.requires_grad for p in params)
        # The adapter only: exactly what the checkpointed state holds.
        assert sum(p.numel() for p in params) == sum(
            v.numel() for v in policy.state_dict().values())
        batch, gens = self._scored(policy)
        with torch.no_grad(), policy.reference():
            base_before = policy.token_logprobs(batch)
        before = [p.detach().clone() for p in params]
        members = [as_member(g, PROMPTS[0], r) for g, r in zip(gens, (0.0, 1.0, 0.0, 1.0))]
        GRPOUpdater(GRPOConfig(learning_rate=1e-2)).step(policy, PROMPTS[0], SPEC, members)
        assert any(not torch.equal(a, p) for a, p in zip(before, params))
        with torch.no_grad(), policy.reference():
            assert torch.allclose(policy.token_logprobs(batch), base_before, atol=1e-6)


__all__ = ["PolicyContract", "TrainablePolicyContract"]
