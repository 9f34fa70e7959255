"""The LoRA policy on the tiny random model, beyond the policy contracts
(tests/test_policy_contract.py); SmolLM2 behind the ``slow`` marker."""

from __future__ import annotations

import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("peft")

from migrate_opt import PromptSpec, load_policy  # noqa: E402
from migrate_opt.configs import config_from  # noqa: E402
from migrate_opt.engines.decode import Sampled  # noqa: E402
from migrate_opt.errors import ConfigError  # noqa: E402
from migrate_opt.policy.base import SamplingConfig  # noqa: E402
from migrate_opt.policy.hf import HFPolicy, LoRAConfig  # noqa: E402
from migrate_opt.policy.hf_generate import completion  # noqa: E402
from migrate_opt.policy.tiny import tiny_policy  # noqa: E402
from migrate_opt.values import Member  # noqa: E402

PROMPTS = ["give a word", "list two words, then a number please"]
SYSTEM = "be brief"


@pytest.fixture
def policy():
    return tiny_policy(seed=0)


def _perturb_adapter(policy, seed=1):
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in policy.trainable_parameters():
            p.add_(torch.randn(p.shape, generator=gen) * 0.5)


def _member(g, prompt):
    return Member("on_policy", g.text, (), prompt=prompt, token_ids=g.token_ids,
                  behaviour_logprobs=g.logprobs)  # fmt: skip


# -- config --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kw", [{"rank": 0}, {"rank": 2.5}, {"alpha": 0}, {"dropout": 1.0}, {"target_modules": ()}]
)
def test_lora_config_rejects_bad_values(kw):
    with pytest.raises(ConfigError, match="LoRA"):
        LoRAConfig(**kw)


def test_lora_config_accepts_a_single_module_name():
    assert LoRAConfig(target_modules="q_proj").target_modules == ("q_proj",)


def test_lora_config_all_linear_and_paper():
    from migrate_opt.policy.lora import ALL_LINEAR

    assert LoRAConfig(target_modules="all-linear").target_modules == ALL_LINEAR
    # The measured small-model default (benchmarks/results/learning.md), not the paper's.
    assert LoRAConfig() == LoRAConfig(rank=16, alpha=32, target_modules="all-linear")
    paper = LoRAConfig.paper()
    assert (paper.rank, paper.alpha, paper.target_modules) == (64, 16, ("q_proj", "v_proj"))


def test_lora_config_from_a_table_refuses_unknown_fields_and_huge_ranks():
    lora = config_from(LoRAConfig, {"rank": 4, "target_modules": ["q_proj"]}, "lora")
    assert lora is not None and lora.target_modules == ("q_proj",)
    with pytest.raises(ConfigError, match="unknown lora setting.*r; known"):
        config_from(LoRAConfig, {"r": 4}, "lora")
    with pytest.raises(ConfigError, match="rank"):
        LoRAConfig(rank=10**6)


# -- generation ----------------------------------------------------------------------------
def test_greedy_decoding_ignores_the_seed(policy):
    greedy = SamplingConfig(temperature=0.0)
    a = policy.generate(PROMPTS, PromptSpec(max_new_tokens=6), sampling=greedy, seed=1)
    b = policy.generate(PROMPTS, PromptSpec(max_new_tokens=6), sampling=greedy, seed=2)
    assert a == b


def test_sampling_max_new_tokens_overrides_the_argument(policy):
    gens = policy.generate(PROMPTS, PromptSpec(max_new_tokens=9),
                           sampling=SamplingConfig(max_new_tokens=3))
    assert all(len(g.token_ids) <= 3 for g in gens)


def test_generation_stops_at_eos_and_strips_special_tokens(policy):
    eos = policy.tokenizer.eos_token_id
    a, b = policy.tokenizer("ab cd", add_special_tokens=False)["input_ids"][:2]
    g = completion(policy.tokenizer, policy.eos_ids,
                   Sampled([a, b, eos, 0, 0], [0.0, 1.0, 2.0, 3.0, 4.0]), "", ())
    assert g.token_ids == (a, b, eos)
    assert g.logprobs == (0.0, 1.0, 2.0)
    assert "<eos>" not in g.text and g.text == policy.tokenizer.decode([a, b])


def test_a_stop_string_ends_the_completion_at_the_token_that_completes_it(policy):
    ids = policy.tokenizer('cat", "dog"] and more', add_special_tokens=False)["input_ids"]
    g = completion(policy.tokenizer, policy.eos_ids, Sampled(ids, [0.0] * len(ids)), '["',
                   ('"]',))
    assert g.text.startswith('["cat", "dog"]') and "more" not in g.text
    assert policy.tokenizer.decode(g.token_ids).endswith(g.text[len('["') :])
    assert len(g.token_ids) == len(g.logprobs) < len(ids)


def test_the_response_prefix_opens_the_answer_and_is_not_trained(policy):
    prefix = '["'
    assert policy.render_prompt("hi", "sys", prefix).endswith("<|assistant|>" + prefix)
    spec = PromptSpec(system="sys", max_new_tokens=6, response_prefix=prefix, stop=('"]',))
    gens = policy.generate(["hi"], spec, seed=3)
    assert gens[0].text.startswith(prefix)
    assert not policy.tokenizer.decode(gens[0].token_ids).startswith(prefix)
    # A replay's text carries the prefix; only what follows it is a completion token.
    replay = Member(source="greedy", completion='["cat"]', solutions=("cat",))
    batch = policy.encode("hi", "sys", [replay], prefix)
    assert batch.prompt_length == len(policy.prompt_ids("hi", "sys", prefix))
    tail = policy.completion_ids(replay, prefix)
    assert policy.tokenizer.decode(tail[:-1]) == 'cat"]'


def test_the_chat_template_frames_the_prompt(policy):
    text = policy.render_prompt("hi", "sys")
    assert text == "<|system|>sys<eos>\n<|user|>hi<eos>\n<|assistant|>"
    policy.tokenizer.chat_template = None
    assert policy.render_prompt("hi", "sys") == "sys\n\nhi"
    assert policy.render_prompt("hi") == "hi"


# -- training interface ----------------------------------------------------------------------
def test_encode_reuses_sampled_tokens_and_retokenises_replays(policy):
    g = policy.generate(["other prompt"], PromptSpec(max_new_tokens=6))[0]
    on_task = policy.generate([PROMPTS[0]], PromptSpec(max_new_tokens=6))[0]
    members = [
        _member(on_task, PROMPTS[0]),
        _member(g, "other prompt"),  # a neighborhood sample: off-prompt
        Member("greedy", "cat dog", ("cat",)),  # a replay: text only
    ]
    batch = policy.encode(PROMPTS[0], None, members)
    head = policy.prompt_ids(PROMPTS[0])
    assert batch.prompt_length == len(head)
    assert batch.input_ids[0, : len(head)].tolist() == head
    completion = batch.input_ids[:, len(head) :]
    lengths = batch.completion_mask.sum(dim=1).long().tolist()
    assert completion[1, : lengths[1]].tolist() == list(g.token_ids)
    replay = policy.tokenizer("cat dog", add_special_tokens=False)["input_ids"]
    assert completion[2, : lengths[2]].tolist() == [*replay, policy.tokenizer.eos_token_id]
    assert batch.off_prompt.tolist() == [False, True, False]
    assert batch.behaviour_logprobs[1, : lengths[1]].tolist() == pytest.approx(list(g.logprobs))
    assert batch.attention_mask.sum(dim=1).tolist() == [len(head) + n for n in lengths]


def test_token_logprobs_carry_gradient_to_the_adapter_only(policy):
    batch = policy.encode(PROMPTS[0], SYSTEM, [Member("greedy", "cat dog", ("cat",))])
    policy.token_logprobs(batch).sum().backward()
    grads = {n: p.grad for n, p in policy.model.named_parameters() if p.grad is not None}
    assert grads and all("lora_" in n for n in grads)


# -- state ---------------------------------------------------------------------------------
def test_adapter_state_round_trips(policy):
    _perturb_adapter(policy)
    state = policy.state_dict()
    assert state and all("lora_" in k for k in state)
    other = tiny_policy(seed=0)
    assert not torch.equal(next(iter(other.state_dict().values())), next(iter(state.values())))
    other.load_state_dict(state)
    assert all(torch.equal(other.state_dict()[k], v) for k, v in state.items())
    a = policy.generate(PROMPTS, PromptSpec(max_new_tokens=8), seed=2)
    assert other.generate(PROMPTS, PromptSpec(max_new_tokens=8), seed=2) == a


def test_adapter_state_from_another_config_is_refused(policy):
    other = tiny_policy(seed=0, lora=LoRAConfig(rank=4, target_modules=("q_proj",)))
    with pytest.raises(ConfigError, match="adapter state"):
        policy.load_state_dict(other.state_dict())


def test_describe_is_json_able(policy):
    import json

    d = json.loads(json.dumps(policy.describe()))
    assert d["model"] == "tiny-random" and d["lora"]["rank"] == 8
    assert d["trainable_parameters"] == sum(p.numel() for p in policy.trainable_parameters())


# -- loading -------------------------------------------------------------------------------
def test_tiny_policy_is_seeded():
    a, b, c = tiny_policy(seed=0), tiny_policy(seed=0), tiny_policy(seed=1)
    wa, wb, wc = (p.model.get_base_model().lm_head.weight for p in (a, b, c))
    assert torch.equal(wa, wb) and not torch.equal(wa, wc)
    assert all(torch.equal(a.state_dict()[k], v) for k, v in b.state_dict().items())


def test_load_policy_resolves_the_tiny_alias_and_a_local_folder(tmp_path):
    tiny = load_policy("tiny-random", seed=0)
    assert isinstance(tiny, HFPolicy) and tiny.trainable
    tiny.model.get_base_model().save_pretrained(tmp_path)
    tiny.tokenizer.save_pretrained(tmp_path)
    local = load_policy(str(tmp_path), lora=LoRAConfig(rank=2))
    assert local.describe()["lora"]["rank"] == 2
    assert local.generate(PROMPTS, PromptSpec(max_new_tokens=4))[0].token_ids


def test_load_policy_explains_what_cannot_be_loaded_offline(tmp_path):
    with pytest.raises(ConfigError, match="no model folder at"):
        load_policy(str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match="offline"):
        load_policy("nobody-here/no-such-model")


def test_importing_the_policy_package_does_not_import_torch():
    code = "import sys, migrate_opt.policy, migrate_opt.grpo; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# -- SmolLM2 -------------------------------------------------------------------------------
def test_smollm2_conversion_is_atomic(tmp_path, monkeypatch):
    from migrate_opt.policy import smollm2

    monkeypatch.setenv("MIGRATE_OPT_CACHE", str(tmp_path))
    (tmp_path / "model.gguf").write_bytes(b"gguf")
    monkeypatch.setattr(smollm2, "gguf_path", lambda: tmp_path / "model.gguf")

    def killed(source, folder):
        (folder / "model.safetensors").write_text("half")
        raise KeyboardInterrupt

    monkeypatch.setattr(smollm2, "_convert", killed)
    with pytest.raises(KeyboardInterrupt):
        smollm2.converted_path()
    assert list((tmp_path / "models").iterdir()) == []  # no broken cache, no leftovers

    calls = []

    def convert(source, folder):
        calls.append(folder)
        (folder / "config.json").write_text("{}")

    monkeypatch.setattr(smollm2, "_convert", convert)
    first = smollm2.converted_path()
    assert (first / "config.json").is_file() and first.parent == tmp_path / "models"
    assert smollm2.converted_path() == first and len(calls) == 1  # converted once


@pytest.mark.slow
def test_smollm2_loads_and_generates():
    policy = load_policy("smollm2-135m-instruct")
    assert policy.tokenizer.chat_template and "<|im_start|>" in policy.render_prompt("hi")
    greedy = SamplingConfig(temperature=0.0)
    g = policy.generate(["What is the capital of France?"], PromptSpec(max_new_tokens=16),
                        sampling=greedy)
    assert "Paris" in g[0].text
    assert len(g[0].token_ids) == len(g[0].logprobs)
    assert getattr(policy.model.config, "quantization_config", None) is None
