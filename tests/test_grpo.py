"""GRPO: the maths against hand-computed values, then the updater on the tiny policy."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("peft")

from migrate_opt import PromptSpec  # noqa: E402
from migrate_opt.configs import config_from  # noqa: E402
from migrate_opt.errors import ConfigError  # noqa: E402
from migrate_opt.grpo import (  # noqa: E402
    STD_EPS,
    GRPOConfig,
    GRPOUpdater,
    advantages,
    grpo_loss,
    learning_rate_for,
    next_token_kl,
    truncated_is_weights,
)
from migrate_opt.policy.hf import LoRAConfig  # noqa: E402
from migrate_opt.policy.tiny import tiny_policy  # noqa: E402
from migrate_opt.values import Member  # noqa: E402

PROMPT = "give numbers"
SPEC = PromptSpec()
SHORT = PromptSpec(max_new_tokens=8)


# -- advantages ----------------------------------------------------------------------------
def test_advantages_subtract_the_group_mean():
    assert advantages([1.0, 2.0, 3.0]) == [-1.0, 0.0, 1.0]


def test_std_advantages_divide_by_the_sample_std():
    scale = 1 + STD_EPS  # rewards 1, 2, 3: sample std 1
    assert advantages([1.0, 2.0, 3.0], "std") == pytest.approx([-1 / scale, 0, 1 / scale])


def test_masked_rewards_stay_out_of_the_group_stats():
    assert advantages([1.0, None, 3.0, None]) == [-1.0, None, 1.0, None]


def test_fewer_than_two_valid_rewards_give_zero_advantages():
    assert advantages([None, 5.0]) == [None, 0.0]
    assert advantages([2.0, 2.0, 2.0], "std") == [0.0, 0.0, 0.0]


def test_unknown_advantage_mode_is_refused():
    with pytest.raises(ConfigError, match="advantage"):
        advantages([1.0, 2.0], "rank")


# -- the loss ------------------------------------------------------------------------------
def _example():
    """Two completions, old log-probs 0: ratios [1.5, 1.0, 0.5] (A=+1) and [0.7, 1.1, pad]
    (A=-1). Row 0 is clipped above at 1.28 on its first token; row 1 below at 0.8."""
    f64 = {"dtype": torch.float64}
    logp = torch.log(torch.tensor([[1.5, 1.0, 0.5], [0.7, 1.1, 1.0]], **f64)).requires_grad_()
    old = torch.zeros(2, 3, **f64)
    adv = torch.tensor([1.0, -1.0], **f64)
    mask = torch.tensor([[1.0, 1.0, 1.0], [1.0, 1.0, 0.0]], **f64)
    return logp, old, adv, mask


ROW0 = -(1.28 + 1.0 + 0.5)  # A=+1: -min(r, clip(r)) per token
ROW1 = 0.8 + 1.1  # A=-1: -min(-r, -clip(r)) = max(r, clip(r))


def test_sequence_mean_loss_matches_hand_computation():
    logp, old, adv, mask = _example()
    loss, stats = grpo_loss(logp, old, adv, mask, 0.2, 0.28, "sequence-mean")
    assert float(loss.detach()) == pytest.approx((ROW0 / 3 + ROW1 / 2) / 2)
    assert stats["clip_fraction"] == pytest.approx(2 / 5)
    assert stats["kl"] == 0.0


def test_token_mean_loss_matches_hand_computation():
    logp, old, adv, mask = _example()
    loss, _ = grpo_loss(logp, old, adv, mask, 0.2, 0.28, "token-mean")
    assert float(loss.detach()) == pytest.approx((ROW0 + ROW1) / 5)


def test_clipped_tokens_get_no_gradient_and_others_do():
    logp, old, adv, mask = _example()
    loss, _ = grpo_loss(logp, old, adv, mask, 0.2, 0.28, "token-mean")
    loss.backward()
    grad = logp.grad
    assert grad[0, 0] == 0 and grad[1, 0] == 0  # clipped above (A>0) and below (A<0)
    # unclipped: d(-A r)/d logp / 5 = -A r / 5
    assert float(grad[0, 2]) == pytest.approx(-0.5 / 5)
    assert float(grad[1, 1]) == pytest.approx(1.1 / 5)
    assert grad[1, 2] == 0  # padding


def test_a_fully_masked_row_leaves_the_loss_unchanged():
    logp, old, adv, mask = _example()
    base, _ = grpo_loss(logp, old, adv, mask, 0.2, 0.28, "sequence-mean")
    logp3 = torch.cat([logp.detach(), torch.full((1, 3), 5.0, dtype=logp.dtype)])
    mask3 = torch.cat([mask, torch.zeros(1, 3, dtype=mask.dtype)])
    adv3 = torch.cat([adv, torch.tensor([10.0], dtype=adv.dtype)])
    loss, stats = grpo_loss(logp3, torch.zeros_like(logp3), adv3, mask3, 0.2, 0.28)
    assert float(loss.detach()) == pytest.approx(float(base.detach()))
    assert stats["clip_fraction"] == pytest.approx(2 / 5)


def test_importance_weights_scale_each_token():
    logp, old, adv, mask = _example()
    weights = torch.tensor([[2.0, 1.0, 1.0], [1.0, 0.5, 1.0]], dtype=logp.dtype)
    loss, _ = grpo_loss(logp, old, adv, mask, 0.2, 0.28, "sequence-mean", is_weights=weights)
    row0 = -(2 * 1.28 + 1.0 + 0.5) / 3
    row1 = (0.8 + 0.5 * 1.1) / 2
    assert float(loss.detach()) == pytest.approx((row0 + row1) / 2)


def test_truncated_is_weights_are_clipped_detached_and_row_selective():
    logp = torch.log(torch.tensor([[4.0, 0.5], [4.0, 0.5]])).requires_grad_()
    behaviour = torch.zeros(2, 2)
    w = truncated_is_weights(logp, behaviour, torch.tensor([True, False]), 2.0)
    assert w.flatten().tolist() == pytest.approx([2.0, 0.5, 1.0, 1.0])
    assert not w.requires_grad


def test_k3_kl_term_matches_hand_computation():
    f64 = {"dtype": torch.float64}
    logp = torch.zeros(1, 2, requires_grad=True, **f64)
    ref = torch.full((1, 2), math.log(2.0), **f64)
    mask = torch.ones(1, 2, **f64)
    adv = torch.zeros(1, **f64)
    loss, stats = grpo_loss(logp, logp.detach(), adv, mask, 0.2, 0.28, ref_logp=ref, kl_coef=0.5)
    k3 = 2.0 - math.log(2.0) - 1.0
    assert stats["kl"] == pytest.approx(k3)
    assert float(loss.detach()) == pytest.approx(0.5 * k3)


def test_next_token_kl_by_hand_and_where_the_sample_estimate_fails():
    policy = torch.log(torch.tensor([[0.5, 0.25, 0.25], [1 - 2e-9, 1e-9, 1e-9]]))
    base = torch.log(torch.tensor([[0.25, 0.5, 0.25], [0.5, 0.25, 0.25]]))
    first = 0.5 * math.log(2.0) + 0.25 * math.log(0.5)
    second = (1 - 2e-9) * math.log((1 - 2e-9) / 0.5) + 2e-9 * math.log(1e-9 / 0.25)
    assert next_token_kl(policy, base) == pytest.approx((first + second) / 2, rel=1e-5)
    assert next_token_kl(base, base) == 0.0
    assert next_token_kl(policy[:0], base[:0]) == 0.0
    # A token the policy would not sample (a completion from another prompt): its k3
    # sample estimate exp(ref - logp) - (ref - logp) - 1 is 2.5e8, the KL is log 2.
    delta = float(base[1, 1] - policy[1, 1])
    assert math.exp(delta) - delta - 1 > 1e8
    assert next_token_kl(policy[1:], base[1:]) == pytest.approx(math.log(2.0), rel=1e-5)


# -- config --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "field,value",
    [
        ("learning_rate", 0.0),
        ("steps_per_group", 0),
        ("clip_low", 1.0),
        ("clip_high", -0.1),
        ("kl_coef", -1.0),
        ("advantage", "rank"),
        ("loss_aggregation", "sum"),
        ("invalid", "drop"),
        ("invalid", float("nan")),
        ("repeat_reward", "half"),
        ("off_policy", "is"),
        ("is_truncation", 0.5),
        ("max_grad_norm", 0.0),
        ("weight_decay", -0.1),
    ],
)
def test_config_rejects_bad_values_naming_the_field(field, value):
    with pytest.raises(ConfigError, match=field):
        GRPOConfig(**{field: value})


def test_config_defaults_are_the_measured_small_model_ones_and_paper_is_the_reference():
    c = GRPOConfig()
    assert c.learning_rate is None  # chosen from the model by the measured rule
    assert (c.steps_per_group, c.clip_low, c.clip_high, c.kl_coef) == (2, 0.2, 0.28, 0.0)
    p = GRPOConfig.paper()
    assert (p.learning_rate, p.steps_per_group, p.advantage, p.clip_high) == (
        5e-5, 2, "none", 0.28)
    assert GRPOConfig(invalid=0.0).invalid == 0.0


@pytest.mark.parametrize("lr", [0.0, -1e-4, 0.5, float("nan"), True, "1e-4"])
def test_a_learning_rate_that_cannot_work_is_refused(lr):
    with pytest.raises(ConfigError, match="learning_rate"):
        GRPOConfig(learning_rate=lr)


def test_max_kl_must_be_positive_or_none():
    assert GRPOConfig(max_kl=None).max_kl is None
    with pytest.raises(ConfigError, match="max_kl"):
        GRPOConfig(max_kl=0.0)


def test_config_from_a_table_names_unknown_fields():
    assert config_from(GRPOConfig, {"learning_rate": 1e-4}, "grpo").learning_rate == 1e-4
    assert config_from(GRPOConfig, None, "grpo") is None
    with pytest.raises(ConfigError, match="unknown grpo setting.*lr; known: "):
        config_from(GRPOConfig, {"lr": 1e-4}, "grpo")
    with pytest.raises(ConfigError, match="table"):
        config_from(GRPOConfig, ["learning_rate"], "grpo")  # type: ignore[arg-type]


def test_learning_rate_rule_scales_with_the_hidden_size():
    from migrate_opt.grpo.config import LR_REFERENCE, LR_REFERENCE_HIDDEN

    assert learning_rate_for(LR_REFERENCE_HIDDEN) == pytest.approx(LR_REFERENCE)
    # Tinker's exponent: a 3B Llama (hidden 3072) gets about a quarter of SmolLM2's rate.
    ratio = learning_rate_for(3072) / learning_rate_for(576)
    assert ratio == pytest.approx((576 / 3072) ** 0.781)
    with pytest.raises(ConfigError, match="hidden_size"):
        learning_rate_for(0)


# -- rewards -------------------------------------------------------------------------------
def _member(reward, *, replay=False, repeat=False, completion="1 2 3"):
    m = Member("greedy" if replay else "on_policy", completion, ("x",),
               prompt=None if replay else PROMPT, reward=reward)  # fmt: skip
    m.repeat = repeat
    return m


def test_rewards_apply_invalid_and_repeat_policies():
    members = [_member(None), _member(0.7, repeat=True), _member(0.9, replay=True, repeat=True)]
    assert GRPOUpdater().rewards(members) == [None, 0.7, 0.9]
    zero = GRPOUpdater(GRPOConfig(invalid=-1.0, repeat_reward="zero"))
    assert zero.rewards(members) == [-1.0, 0.0, 0.9]


# -- the updater on the tiny policy ----------------------------------------------------------
@pytest.fixture
def policy():
    return tiny_policy(seed=0)


def _params(policy):
    return {n: p.detach().clone() for n, p in policy.model.named_parameters()}


def test_a_step_moves_the_adapter_and_not_the_base(policy):
    before = _params(policy)
    members = [_member(r, completion=c) for r, c in [(0.0, "a b"), (1.0, "1 2"), (0.5, "x")]]
    # A gentle step: a large one collapses at once and clips every token of the second.
    metrics = GRPOUpdater(GRPOConfig(learning_rate=1e-3)).step(policy, PROMPT, SPEC, members)
    assert len(metrics) == 2 and metrics[0]["skipped"] == 0.0
    assert metrics[0]["n_valid"] == 3 and metrics[0]["reward_mean"] == pytest.approx(0.5)
    assert metrics[1]["ratio_mean"] != pytest.approx(1.0, abs=1e-7)  # the policy moved
    for name, p in policy.model.named_parameters():
        moved = not torch.equal(p, before[name])
        assert moved == ("lora_" in name), name


def test_equal_rewards_skip_the_step(policy):
    before = _params(policy)
    members = [_member(0.5), _member(0.5), _member(None)]
    metrics = GRPOUpdater().step(policy, PROMPT, SPEC, members)
    assert len(metrics) == 1 and metrics[0]["skipped"] == 1.0 and metrics[0]["n_valid"] == 2
    assert all(torch.equal(p, before[n]) for n, p in policy.model.named_parameters())


def test_kl_is_zero_against_the_untrained_adapter_then_grows(policy):
    members = [_member(0.0, completion="a b"), _member(1.0, completion="1 2")]
    updater = GRPOUpdater(GRPOConfig(learning_rate=1e-2, kl_coef=0.1, steps_per_group=2))
    metrics = updater.step(policy, PROMPT, SPEC, members)
    assert metrics[0]["kl"] == pytest.approx(0.0, abs=1e-7)  # LoRA starts as the identity
    assert metrics[1]["kl"] > 0


def test_the_default_learning_rate_follows_the_policy_hidden_size(policy):
    members = [_member(0.0, completion="a b"), _member(1.0, completion="1 2")]
    metrics = GRPOUpdater().step(policy, PROMPT, SPEC, members)
    assert policy.hidden_size == 64
    assert metrics[0]["learning_rate"] == pytest.approx(learning_rate_for(64))


def test_kl_to_base_is_monitored_without_a_kl_term(policy):
    members = [_member(0.0, completion="a b"), _member(1.0, completion="1 2")]
    metrics = GRPOUpdater(GRPOConfig(learning_rate=1e-2)).step(policy, PROMPT, SPEC, members)
    assert metrics[0]["kl"] == pytest.approx(0.0, abs=1e-7) and metrics[1]["kl"] > 0
    off = GRPOUpdater(GRPOConfig(learning_rate=1e-2, monitor_kl=False))
    assert all(m["kl"] == 0.0 for m in off.step(policy, PROMPT, SPEC, members))


def test_a_kl_past_max_kl_is_flagged_and_warned_once(policy, caplog):
    members = [_member(0.0, completion="a b"), _member(1.0, completion="1 2 3 4")]
    updater = GRPOUpdater(GRPOConfig(learning_rate=5e-2, steps_per_group=3, max_kl=1e-6))
    with caplog.at_level("WARNING", logger="migrate_opt.grpo"):
        first = updater.step(policy, PROMPT, SPEC, members)
        second = updater.step(policy, PROMPT, SPEC, members)
    assert first[0]["kl_exceeded"] == 0.0  # the untrained adapter is the base model
    assert first[-1]["kl_exceeded"] == 1.0 and second[0]["kl_exceeded"] == 1.0
    assert sum("past max_kl" in r.message for r in caplog.records) == 1
    unbounded = GRPOUpdater(GRPOConfig(learning_rate=5e-2, steps_per_group=3, max_kl=None))
    assert all(m["kl_exceeded"] == 0.0 for m in unbounded.step(policy, PROMPT, SPEC, members))


def test_optimizer_state_round_trips(policy):
    members = [_member(0.0, completion="a b"), _member(1.0, completion="1 2")]
    updater = GRPOUpdater(GRPOConfig(learning_rate=1e-2, steps_per_group=1))
    updater.step(policy, PROMPT, SPEC, members)
    state = updater.state_dict()
    assert state["state"]  # AdamW moments exist
    resumed = GRPOUpdater(GRPOConfig(learning_rate=1e-2, steps_per_group=1))
    resumed.load_state_dict(state)
    assert resumed.state_dict() == state  # kept until the optimizer exists
    resumed.step(policy, PROMPT, SPEC, members)
    steps = [s["step"] for s in resumed.state_dict()["state"].values()]
    assert all(float(s) == 2 for s in steps)  # continued from step 1, not restarted


def test_a_policy_without_training_hooks_is_refused():
    from migrate_opt.policy.base import Policy

    class Fixed(Policy):
        def generate(self, prompts, spec=None, **kw):
            return []

    with pytest.raises(ConfigError, match="cannot be trained"):
        GRPOUpdater().step(Fixed(), PROMPT, SPEC, [_member(0.0), _member(1.0)])


def test_grpo_raises_the_frequency_of_rewarded_tokens():
    """Reward the share of tokens containing a digit; GRPO must make them more frequent.

    Adapters on o and down too: with q and v only, the tiny random net learns erratically."""
    lora = LoRAConfig(rank=8, alpha=16, target_modules=("q_proj", "v_proj", "o_proj", "down_proj"))
    policy = tiny_policy(seed=0, lora=lora)
    vocab = policy.tokenizer.convert_ids_to_tokens(list(range(len(policy.tokenizer))))
    digits = {i for i, t in enumerate(vocab) if any(c.isdigit() for c in t)}

    def share(gens):
        tokens = [t for g in gens for t in g.token_ids]
        return sum(t in digits for t in tokens) / len(tokens)

    before = share(policy.generate([PROMPT] * 32, SHORT, seed=999))
    updater = GRPOUpdater(GRPOConfig(learning_rate=3e-2))
    for it in range(12):
        members = []
        for g in policy.generate([PROMPT] * 12, SHORT, seed=it):
            m = Member("on_policy", g.text, (), prompt=PROMPT, token_ids=g.token_ids,
                       behaviour_logprobs=g.logprobs)  # fmt: skip
            m.reward = sum(t in digits for t in g.token_ids) / len(g.token_ids)
            members.append(m)
        updater.step(policy, PROMPT, SPEC, members)
    after = share(policy.generate([PROMPT] * 32, SHORT, seed=999))
    assert after > before + 0.3, (before, after)
