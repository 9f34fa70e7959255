"""The shared-prompt GRPO pass equals the full pass: log-probs, loss, gradients and the
updater's steps, for every loss option, on the tiny random model."""

from __future__ import annotations

import copy
from dataclasses import replace

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("peft")

from migrate_opt import PromptSpec  # noqa: E402
from migrate_opt.grpo import GRPOConfig, GRPOUpdater  # noqa: E402
from migrate_opt.policy import bf16_base, hf_train  # noqa: E402
from migrate_opt.policy.bf16_base import native_bf16  # noqa: E402
from migrate_opt.policy.hf import LoRAConfig  # noqa: E402
from migrate_opt.policy.tiny import tiny_policy  # noqa: E402
from migrate_opt.values import Member  # noqa: E402

PROMPT = "give two words as a list, then stop"
OTHER = "vary this answer please"
SYSTEM = "be brief"
SPEC = PromptSpec(system=SYSTEM)
TOL = {"rtol": 1e-4, "atol": 1e-5}


class FullPassPolicy:
    """The same policy scored the old way: one full forward pass per row."""

    def __init__(self, policy):
        self._policy = policy

    def __getattr__(self, name):
        return getattr(self._policy, name)

    def token_logprobs(self, batch, distributions=None):
        return hf_train.full_logprobs(self._policy.model, batch, distributions)


ALL = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def _policy(targets=("q_proj", "v_proj"), **options):
    policy = tiny_policy(seed=0, lora=LoRAConfig(rank=4, alpha=8, target_modules=targets),
                         **options)
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():  # B starts at 0 in peft: move it so the adapter matters
        for p in policy.trainable_parameters():
            p.add_(torch.randn(p.shape, generator=gen) * 0.3)
    return policy


def _members(policy):
    """Sampled members of different lengths (one from another prompt), a re-tokenised
    replay, and one with no valid solution."""
    gens = policy.generate([PROMPT] * 3 + [OTHER], replace(SPEC, max_new_tokens=10), seed=2)
    members = [
        Member("on_policy" if i < 3 else "neighborhood", g.text, ("w",),
               prompt=PROMPT if i < 3 else OTHER, token_ids=g.token_ids,
               behaviour_logprobs=g.logprobs, reward=r, repeat=i == 2)
        for i, (g, r) in enumerate(zip(gens, (0.9, 0.1, 0.5, 0.7), strict=True))
    ]  # fmt: skip
    members.append(Member("greedy", '["cat", "dog"]', ("cat",), reward=0.8))
    members.append(Member("on_policy", "nothing", (), prompt=PROMPT, reward=None))
    return members


def _grads(policy):
    return [p.grad.clone() for p in policy.trainable_parameters()]


@pytest.mark.parametrize("targets", [("q_proj", "v_proj"), ALL])
def test_shared_prompt_logprobs_and_gradients_equal_the_full_pass(targets):
    policy = _policy(targets)
    batch = policy.encode(PROMPT, SYSTEM, _members(policy))
    assert len(set(batch.completion_mask.sum(dim=1).tolist())) > 1  # padding is exercised
    weights = torch.linspace(-1, 1, batch.completion_length)
    results = []
    for score in (hf_train.shared_prompt_logprobs, hf_train.full_logprobs):
        policy.model.zero_grad(set_to_none=True)
        logp = score(policy.model, batch)
        ((logp * weights * batch.completion_mask).sum()).backward()
        results.append((logp.detach(), _grads(policy)))
    (shared, g_shared), (full, g_full) = results
    mask = batch.completion_mask.bool()
    torch.testing.assert_close(shared[mask], full[mask], **TOL)
    assert (shared[~mask] == 0).all()
    assert any(g.abs().sum() > 0 for g in g_full)
    for a, b in zip(g_shared, g_full, strict=True):
        # float32 sums in another order: compare each gradient to its own norm
        assert float((a - b).norm()) <= 1e-5 * float(b.norm()) + 1e-7


def test_the_monitors_kl_is_exact_over_the_vocabulary_at_every_completion_token():
    """The updater's KL to base (its first step: the policy that sampled the group) is
    sum_v p log(p / q) of the next-token distributions, averaged over the completion tokens,
    worked out here from full passes with the adapter on and off. Off-prompt members are
    only contexts to it, so it holds for them too; the k3 sample estimate does not."""
    policy = _policy()
    members = _members(policy)
    # The member with no valid solution is masked: the step leaves it out of its batch.
    batch = policy.encode(PROMPT, SYSTEM, [m for m in members if m.reward is not None])
    real = batch.completion_mask.bool()
    with torch.no_grad():
        logits = policy.model(input_ids=batch.input_ids,
                              attention_mask=batch.attention_mask).logits
        with policy.model.disable_adapter():
            base_logits = policy.model(input_ids=batch.input_ids,
                                       attention_mask=batch.attention_mask).logits
    at = slice(batch.prompt_length - 1, -1)  # the positions that predict completion tokens
    p = torch.softmax(logits[:, at][real].double(), -1)
    q = torch.softmax(base_logits[:, at][real].double(), -1)
    by_hand = float((p * (p.log() - q.log())).sum(-1).mean())
    assert by_hand > 1e-3  # the adapter was moved: there is a KL to measure
    metrics = GRPOUpdater(GRPOConfig(learning_rate=1e-3)).step(policy, PROMPT, SPEC, members)
    assert metrics[0]["kl"] == pytest.approx(by_hand, rel=1e-4)
    assert metrics[1]["kl"] != metrics[0]["kl"]  # measured again after the first step


def test_a_one_token_completion_is_scored_from_the_prompt_alone():
    policy = _policy()
    eos = policy.eos_ids[0]
    batch = policy.encode(PROMPT, SYSTEM, [Member("on_policy", "", (), token_ids=(eos,)),
                                           Member("on_policy", "", (), token_ids=(eos,))])
    assert batch.completion_length == 1
    torch.testing.assert_close(hf_train.shared_prompt_logprobs(policy.model, batch),
                               hf_train.full_logprobs(policy.model, batch), **TOL)


LOSS_OPTIONS = [
    {},
    {"advantage": "std"},
    {"loss_aggregation": "token-mean"},
    {"kl_coef": 0.1},
    {"off_policy": "truncated-is", "is_truncation": 1.5},
    {"invalid": 0.0},
    {"repeat_reward": "zero"},
    {"advantage": "max@k", "max_k": 3},
    {"lazy_penalty": 0.4},
    {"lr_decay_steps": 1, "steps_per_group": 3},
    {"steps_per_group": 3, "clip_low": 0.05, "clip_high": 0.05, "learning_rate": 1e-2},
]


@pytest.mark.parametrize("options", LOSS_OPTIONS, ids=lambda o: ",".join(o) or "default")
def test_updater_steps_equal_the_full_pass_for_every_loss_option(options):
    config = GRPOConfig(**{"learning_rate": 1e-3, **options})
    shared = _policy()
    full = copy.deepcopy(shared)
    members = _members(shared)
    shared_metrics = GRPOUpdater(config).step(shared, PROMPT, SPEC, members)
    full_metrics = GRPOUpdater(config).step(FullPassPolicy(full), PROMPT, SPEC, members)
    assert len(shared_metrics) == config.steps_per_group
    for a, b in zip(shared_metrics, full_metrics, strict=True):
        assert a["skipped"] == b["skipped"] == 0.0
        for key in ("loss", "grad_norm", "kl", "clip_fraction", "ratio_mean"):
            assert a[key] == pytest.approx(b[key], rel=1e-4, abs=1e-6), key
    after_shared, after_full = shared.state_dict(), full.state_dict()
    moved = any(not torch.equal(after_full[k], v) for k, v in _policy().state_dict().items())
    assert moved
    for k, v in after_shared.items():
        torch.testing.assert_close(v, after_full[k], **TOL)


# -- the frozen base in bf16 -----------------------------------------------------------------
BF16_LOGP_MEAN = 0.1
"""Largest mean |log-prob| difference between the bf16-base and the float32 pass, in nats.
Measured: 0.05 (max 0.7) on this tiny random model, whose logits are unusually peaked;
0.03 (max 0.13) on SmolLM2-135M."""
BF16_GRAD_COSINE = 0.95
"""Smallest cosine between the two passes' adapter gradients (measured: 0.963-0.996 over
ten sampled groups of this tiny random model, 0.9995 on SmolLM2-135M; a pass that dropped
the adapter's or the base's contribution scores far lower)."""

BF16_STEP_COSINE = 0.9
"""Smallest cosine between the two adapters' moves after two AdamW steps."""


def _scored(policy, batch, weights):
    policy.model.zero_grad(set_to_none=True)
    logp = policy.token_logprobs(batch)
    ((logp * weights * batch.completion_mask).sum()).backward()
    return logp.detach(), torch.cat([g.reshape(-1) for g in _grads(policy)])


@pytest.mark.skipif(not native_bf16(), reason="this CPU has no native bf16 units")
def test_bf16_base_logprobs_and_gradients_stay_within_tolerance_of_float32():
    exact, fast = _policy(ALL), _policy(ALL, train_precision="bfloat16")
    assert (exact.train_precision, fast.train_precision) == ("float32", "bfloat16")
    batch = exact.encode(PROMPT, SYSTEM, _members(exact))
    weights = torch.linspace(-1, 1, batch.completion_length)
    (logp, grad), (logp16, grad16) = _scored(exact, batch, weights), _scored(fast, batch, weights)
    mask = batch.completion_mask.bool()
    assert 0 < float((logp - logp16)[mask].abs().mean()) < BF16_LOGP_MEAN
    assert float(torch.nn.functional.cosine_similarity(grad, grad16, dim=0)) > BF16_GRAD_COSINE
    # only the frozen base changed precision: the adapter and its gradients stay float32
    assert all(p.dtype == torch.float32 for p in fast.trainable_parameters())
    assert grad16.dtype == torch.float32
    assert not any("forward" in vars(m) for m in fast.model.modules())  # restored after


@pytest.mark.skipif(not native_bf16(), reason="this CPU has no native bf16 units")
def test_bf16_base_updater_step_stays_within_tolerance_of_float32():
    config = GRPOConfig(learning_rate=1e-3, steps_per_group=2)
    exact, fast = _policy(ALL), _policy(ALL, train_precision="bfloat16")
    members = _members(exact)
    a = GRPOUpdater(config).step(exact, PROMPT, SPEC, members)
    b = GRPOUpdater(config).step(fast, PROMPT, SPEC, members)
    for x, y in zip(a, b, strict=True):
        assert x["loss"] == pytest.approx(y["loss"], abs=0.02)
        assert x["grad_norm"] == pytest.approx(y["grad_norm"], rel=0.15)
    start = _policy(ALL).state_dict()

    def moved(policy):
        return torch.cat([(v - start[k]).reshape(-1) for k, v in policy.state_dict().items()])

    # AdamW divides by each element's own moment, so the steps agree less than the gradients
    cos = torch.nn.functional.cosine_similarity(moved(exact), moved(fast), dim=0)
    assert float(cos) > BF16_STEP_COSINE


def test_bf16_base_without_bf16_units_falls_back_to_float32_with_one_warning(
        monkeypatch, caplog):
    monkeypatch.setattr(bf16_base, "native_bf16", lambda: False)
    with caplog.at_level("WARNING"):
        policy = tiny_policy(seed=0, train_precision="bfloat16")
    assert policy.train_precision == "float32"
    warned = [r for r in caplog.records if "train_precision bfloat16" in r.message]
    assert len(warned) == 1 and "training in float32" in warned[0].message
    assert tiny_policy(seed=0).train_precision == "float32"  # tiny trains fp32 by default


def test_the_reference_pass_keeps_the_base_models_prompt_and_scores_as_a_full_pass():
    policy = _policy(ALL, train_precision="float32")
    batch = policy.encode(PROMPT, SYSTEM, _members(policy))
    other = policy.encode(OTHER, SYSTEM, _members(policy))
    with torch.no_grad(), policy.reference():
        first, kept = policy.token_logprobs(batch), policy._reference_kept
        again = policy.token_logprobs(batch)
        assert policy._reference_kept is kept  # the prompt was not forwarded again
        full = hf_train.full_logprobs(policy.model, batch)  # the base, prompt recomputed
        elsewhere = policy.token_logprobs(other)
        assert policy._reference_kept[0] != kept[0]  # another prompt: forwarded anew
        elsewhere_full = hf_train.full_logprobs(policy.model, other)
    mask, other_mask = batch.completion_mask.bool(), other.completion_mask.bool()
    assert torch.equal(first, again)
    assert torch.allclose(first[mask], full[mask], **TOL)
    assert torch.allclose(elsewhere[other_mask], elsewhere_full[other_mask], **TOL)
    with torch.no_grad():  # outside the reference the adapter counts: scores differ
        adapted = policy.token_logprobs(batch)
    assert not torch.allclose(adapted[mask], first[mask], **TOL)
