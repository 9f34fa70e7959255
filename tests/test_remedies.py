"""The remedies for narrowing (docs/method.md, "Long runs"): max@k credit, graded lazy
penalties and a decaying learning rate, against hand-worked values and on the tiny model."""

from __future__ import annotations

import math

import pytest

from migrate_opt import PromptSpec
from migrate_opt.errors import ConfigError
from migrate_opt.grpo import GRPOConfig, GRPOUpdater
from migrate_opt.grpo.math import advantages, max_at_k_advantages
from migrate_opt.grpo.updater import lazy_rewards
from migrate_opt.values import Member


# -- max@k ---------------------------------------------------------------------------------
def test_max_at_1_is_reward_minus_mean():
    assert max_at_k_advantages([1.0, 2.0, 3.0, 4.0], 1) == [-1.5, -0.5, 0.5, 1.5]


def test_max_at_2_by_hand():
    # Pairs holding each sample: 1 -> {2,3,4} mean 3; 2 -> {2,3,4} mean 3; 3 -> {3,3,4}
    # mean 10/3; 4 -> 4. The baseline (max@2 of the group) is 40/12.
    got = max_at_k_advantages([1.0, 2.0, 3.0, 4.0], 2)
    assert got == pytest.approx([3 - 10 / 3, 3 - 10 / 3, 0.0, 4 - 10 / 3])
    assert sum(got) == pytest.approx(0.0)


def test_max_at_k_order_does_not_matter_and_masks_stay_out():
    got = max_at_k_advantages([4.0, None, 1.0, 3.0], 3)  # k capped at 2 valid - ... n - 1
    # Valid 1, 3, 4 with k = 2: 1 -> {3, 4} mean 3.5; 3 -> {3, 4} 3.5; 4 -> 4; baseline 11/3.
    assert got == pytest.approx([4 - 11 / 3, None, 3.5 - 11 / 3, 3.5 - 11 / 3])


def test_max_at_k_trains_only_above_the_lowest_members():
    # The best member gets the largest credit; all members tied at the bottom share it.
    got = max_at_k_advantages([0.0, 0.0, 0.0, 1.0], 2)
    assert got[3] > 0 and got[0] == got[1] == got[2] < 0


def test_max_at_k_is_an_advantage_mode():
    assert advantages([1.0, 2.0, 3.0, 4.0], "max@k", k=2) == max_at_k_advantages(
        [1.0, 2.0, 3.0, 4.0], 2)
    assert advantages([None, 5.0], "max@k") == [None, 0.0]


# -- lazy penalties ------------------------------------------------------------------------
def _member(reward, *, solutions=("w",), repeat=False, parent=None, replay=False):
    tags = {"parent": parent} if parent else {}
    return Member("neighborhood", "", solutions if reward is not None or replay else (),
                  prompt=None if replay else "p", reward=reward, repeat=repeat, tags=tags)


def test_lazy_members_are_graded_below_every_valid_reward():
    members = [
        _member(0.2), _member(0.6),                                 # new, valid: kept
        _member(None),                                              # no answer
        _member(0.2, solutions=("a",), repeat=True, parent="a"),    # the parent again
        _member(0.6, repeat=True),                                  # a stored word again
        _member(0.9, replay=True),                                  # a replay keeps its score
    ]
    # Valid 0.2, 0.6 and the replay's 0.9: floor 0.2, span 0.7; penalty 0.4 puts them at
    # 0.2 - 0.28, 0.2 - 0.21, 0.2 - 0.14.
    assert lazy_rewards(members, 0.4) == pytest.approx([0.2, 0.6, -0.08, -0.01, 0.06, 0.9])


def test_an_all_lazy_group_still_ranks_no_answer_below_a_repeat():
    got = lazy_rewards([_member(None), _member(0.5, repeat=True)], 1.0)
    assert got == pytest.approx([-1.0, -0.5])  # floor 0, span falls back to 1


def test_the_updater_uses_lazy_rewards_when_set():
    members = [_member(0.2), _member(0.6), _member(None)]
    assert GRPOUpdater(GRPOConfig(lazy_penalty=0.5)).rewards(members) == pytest.approx(
        [0.2, 0.6, 0.0])
    assert GRPOUpdater(GRPOConfig()).rewards(members) == [0.2, 0.6, None]


# -- settings that cannot work -------------------------------------------------------------
@pytest.mark.parametrize(("options", "words"), [
    ({"lazy_penalty": 1.5}, "lazy_penalty"),
    ({"lazy_penalty": 0.0}, "lazy_penalty"),
    ({"lazy_penalty": True}, "lazy_penalty"),
    ({"lazy_penalty": 0.4, "invalid": -1.0}, "leave invalid"),
    ({"lazy_penalty": 0.4, "repeat_reward": "zero"}, "leave invalid"),
    ({"lr_decay_steps": 0}, "lr_decay_steps"),
    ({"lr_decay_steps": 2.5}, "lr_decay_steps"),
    ({"max_k": 0, "advantage": "max@k"}, "max_k"),
    ({"max_k": 4}, 'advantage="max@k"'),
])
def test_unworkable_remedy_settings_are_refused(options, words):
    with pytest.raises(ConfigError, match=words):
        GRPOConfig(**options)


# -- the decaying rate on the tiny model ---------------------------------------------------
def test_the_rate_decays_with_the_step_count_and_resumes_from_it():
    torch = pytest.importorskip("torch")
    pytest.importorskip("peft")
    from migrate_opt.policy.tiny import tiny_policy

    policy = tiny_policy(seed=0)
    gens = policy.generate(["give numbers"] * 3, PromptSpec(max_new_tokens=6), seed=1)
    members = [Member("on_policy", g.text, ("w",), prompt="give numbers", token_ids=g.token_ids,
                      behaviour_logprobs=g.logprobs, reward=r)
               for g, r in zip(gens, (0.1, 0.5, 0.9), strict=True)]
    config = GRPOConfig(learning_rate=1e-3, lr_decay_steps=2, steps_per_group=2)
    first, spec = GRPOUpdater(config), PromptSpec()
    rates = [m["learning_rate"] for m in first.step(policy, "give numbers", spec, members)]
    assert rates == pytest.approx([1e-3, 1e-3 / math.sqrt(1.5)])
    resumed = GRPOUpdater(config)
    resumed.load_state_dict(first.state_dict())
    later = [m["learning_rate"] for m in resumed.step(policy, "give numbers", spec, members)]
    assert later == pytest.approx([1e-3 / math.sqrt(2.0), 1e-3 / math.sqrt(2.5)])
    assert all(torch.isfinite(p).all() for p in policy.trainable_parameters())
