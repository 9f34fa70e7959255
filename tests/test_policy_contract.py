"""The policy contracts on the tiny HF policy (trainable) and the scripted policy."""

from __future__ import annotations

import pytest

from migrate_opt.testing import ScriptedPolicy
from migrate_opt.testing.policies import PolicyContract, TrainablePolicyContract


class TestScriptedPolicy(PolicyContract):
    honours_response_prefix = False
    samples_tokens = False

    @pytest.fixture
    def policy(self):
        return ScriptedPolicy(fn=lambda prompt, rng: f'["{prompt[:3]}{rng.randint(0, 99)}"]')


class TestTinyHFPolicy(TrainablePolicyContract):
    @pytest.fixture
    def policy(self):
        pytest.importorskip("torch")
        pytest.importorskip("peft")
        from migrate_opt.policy.tiny import tiny_policy
        from migrate_opt.testing.engines import perturb

        policy = tiny_policy(seed=0)
        perturb(policy, seed=1)  # the adapter must be in play
        return policy

    def detokenize(self, policy, token_ids):
        return policy.tokenizer.decode(list(token_ids), skip_special_tokens=True)
