"""The entropic leave-one-out advantage, checked against values worked out by hand."""

import math

import pytest

from migrate_opt.grpo.entropic import BETA_MAX, adaptive_beta, entropic_advantages, tilted_kl


def close(xs, ys):
    assert len(xs) == len(ys)
    for x, y in zip(xs, ys):
        assert (x is None and y is None) or x == pytest.approx(y, abs=1e-9)


def test_fixed_beta_by_hand():
    # beta = ln 2: e = exp(beta (r - 1)) = (1/2, 1/2, 1); w_0 = (1/2) / mean(1/2, 1) = 2/3,
    # w_2 = 1 / mean(1/2, 1/2) = 2; A = w - 1.
    close(entropic_advantages([0.0, 0.0, 1.0], beta=math.log(2)), [-1 / 3, -1 / 3, 1.0])


def test_masked_members_take_no_part():
    close(entropic_advantages([None, 0.0, 0.0, 1.0], beta=math.log(2)), [None, -1 / 3, -1 / 3, 1.0])


def test_ties_at_the_top_make_the_target_unreachable():
    # Two of four tied at the top: KL tends to log(4/2) = ln 2 and never reaches it, so beta
    # goes as high as floating point tells the two apart; e -> (0, 0, 1, 1) and
    # w -> (0, 0, 1/mean(0,0,1), ...) = (0, 0, 3, 3).
    assert adaptive_beta([0.0, 0.0, 1.0, 1.0]) > 30
    close(entropic_advantages([0.0, 0.0, 1.0, 1.0]), [-1.0, -1.0, 2.0, 2.0])
    close(entropic_advantages([1.0, 1.0, 0.0]), [1.0, 1.0, -1.0])


def test_adaptive_beta_meets_the_kl_target():
    rewards = [0.1, 0.3, 0.35, 0.9, 0.2]
    beta = adaptive_beta(rewards)
    assert 0 < beta < BETA_MAX
    assert tilted_kl(rewards, beta) == pytest.approx(math.log(2), abs=1e-9)
    adv = entropic_advantages(rewards)
    assert max(adv) == adv[3] > 0
    assert sorted(range(5), key=lambda i: adv[i]) == sorted(range(5), key=lambda i: rewards[i])


def test_adaptive_advantages_ignore_reward_scale_and_shift():
    rewards = [0.1, 0.3, 0.35, 0.9, 0.2]
    close(entropic_advantages(rewards), entropic_advantages([10 * r + 3 for r in rewards]))


def test_nothing_to_prefer_gives_zeros():
    close(entropic_advantages([0.5, 0.5, 0.5]), [0.0, 0.0, 0.0])
    close(entropic_advantages([None, 0.5]), [None, 0.0])


def test_two_members_give_all_credit_to_the_better():
    close(entropic_advantages([0.2, 0.7]), [-1.0, 1.0])


def test_a_bad_beta_is_refused():
    with pytest.raises(ValueError, match="beta"):
        entropic_advantages([0.0, 1.0, 0.5], beta=-1.0)


def test_grpo_config_takes_the_entropic_mode():
    from migrate_opt.errors import ConfigError
    from migrate_opt.grpo import GRPOConfig, advantages

    GRPOConfig(advantage="entropic", entropic_beta=2.0)
    with pytest.raises(ConfigError, match="only applies"):
        GRPOConfig(entropic_beta=2.0)
    with pytest.raises(ConfigError, match="entropic_beta"):
        GRPOConfig(advantage="entropic", entropic_beta=float("inf"))
    close(advantages([0.0, 0.0, 1.0], "entropic", math.log(2)), [-1 / 3, -1 / 3, 1.0])
