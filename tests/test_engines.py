"""Generation engines on the tiny random model, beyond the engine contract
(tests/test_engine_contract.py): shared-prefix decoding against the unshared reference,
OpenVINO's conversion cache, and the bad-input paths."""

from __future__ import annotations

import importlib.util
import logging
import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("peft")

from migrate_opt import PromptSpec, SQLiteDatabase, create, load_policy, run  # noqa: E402
from migrate_opt.engines import Engine, EngineModel  # noqa: E402
from migrate_opt.engines.decode import DecodeSpec, decode  # noqa: E402
from migrate_opt.engines.hf import HFEngine, TorchBackend  # noqa: E402
from migrate_opt.errors import ConfigError, EngineError  # noqa: E402
from migrate_opt.factory import create_engine  # noqa: E402
from migrate_opt.grpo import GRPOConfig, GRPOUpdater  # noqa: E402
from migrate_opt.loop import RUNS_KEY  # noqa: E402
from migrate_opt.policy.base import SamplingConfig  # noqa: E402
from migrate_opt.policy.tiny import tiny_policy  # noqa: E402
from migrate_opt.registry import registry  # noqa: E402
from migrate_opt.testing import ToyTask  # noqa: E402
from migrate_opt.values import Member  # noqa: E402

GREEDY = SamplingConfig(temperature=0.0)
SPEC = PromptSpec(system="be brief", max_new_tokens=16)
# A group like MiGrATe's: on-policy members share the task prompt, neighbourhood members
# share their parent's prompt, and one prompt stands alone.
GROUP = ["give a word"] * 4 + ["list two words, then a number please"] * 3 + ["one"]
has_openvino = importlib.util.find_spec("openvino") is not None
needs_openvino = pytest.mark.skipif(not has_openvino, reason="the openvino extra is not installed")


@pytest.fixture
def policy():
    return tiny_policy(seed=0)


def _perturb(policy, seed=1, scale=0.5):
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in policy.trainable_parameters():
            p.add_(torch.randn(p.shape, generator=gen) * scale)


def _generate(policy, engine, sampling=SamplingConfig(), seed=7, prompts=GROUP):
    policy.engine = engine
    return policy.generate(prompts, SPEC, sampling=sampling, seed=seed)


# -- shared prefix ---------------------------------------------------------------------------
@pytest.mark.parametrize("sampling", [SamplingConfig(), SamplingConfig(top_p=0.8), GREEDY])
def test_shared_prefix_samples_what_the_unshared_path_samples(policy, sampling):
    _perturb(policy)
    shared = _generate(policy, HFEngine(share_prefix=True), sampling)
    unshared = _generate(policy, HFEngine(share_prefix=False), sampling)
    assert [g.token_ids for g in shared] == [g.token_ids for g in unshared]
    assert [g.text for g in shared] == [g.text for g in unshared]
    for a, b in zip(shared, unshared, strict=True):
        assert len(a.logprobs) == len(a.token_ids) > 0
        assert max(abs(x - y) for x, y in zip(a.logprobs, b.logprobs)) < 1e-5


class CountingBackend(TorchBackend):
    def __init__(self, model):
        super().__init__(model)
        self.prefilled = []

    def prefill(self, ids, mask):
        self.prefilled.append(ids.shape[0])
        return super().prefill(ids, mask)


def test_each_distinct_prompt_is_prefilled_once(policy):
    rows = [policy.prompt_ids(p) for p in GROUP]
    spec = DecodeSpec(max_new_tokens=4, eos_ids=policy.eos_ids, pad_id=0)
    for share, expected in ((True, [3]), (False, [len(GROUP)])):
        backend = CountingBackend(policy.model)
        with torch.no_grad():
            out = decode(backend, rows, spec, share_prefix=share)
        assert backend.prefilled == expected and len(out) == len(GROUP)


def test_logits_processors_shape_the_draw_but_not_the_logprobs(policy):
    banned = policy.prompt_ids("give a word")[-1]
    seen = []

    def ban(input_ids, scores):
        seen.append(input_ids.shape)
        return scores.index_fill(-1, torch.tensor([banned]), float("-inf"))

    rows = [policy.prompt_ids(p) for p in GROUP]
    spec = DecodeSpec(max_new_tokens=8, eos_ids=(), pad_id=0, seed=3, processors=(ban,))
    with torch.no_grad():
        out = decode(TorchBackend(policy.model), rows, spec)
    assert all(banned not in s.token_ids for s in out)
    width = max(len(r) for r in rows)
    assert seen[0] == (len(GROUP), width) and seen[1] == (len(GROUP), width + 1)
    assert all(lp < 0 for s in out for lp in s.logprobs)  # raw log-probs, not the masked ones


# -- engines follow the adapter --------------------------------------------------------------
@needs_openvino
def test_openvino_follows_the_adapter_after_a_grpo_step(policy, tmp_path, monkeypatch):
    monkeypatch.setenv("MIGRATE_OPT_CACHE", str(tmp_path))
    from migrate_opt.engines.openvino import OpenVINOEngine

    openvino, hf = OpenVINOEngine("f32"), HFEngine()
    before = [g.token_ids for g in _generate(policy, hf, GREEDY)]
    assert [g.token_ids for g in _generate(policy, openvino, GREEDY)] == before
    members = [Member("on_policy", g.text, (), prompt=GROUP[0], token_ids=g.token_ids,
                      behaviour_logprobs=g.logprobs, reward=r)
               for g, r in zip(_generate(policy, hf, seed=1, prompts=GROUP[:4]), (0, 1, 0, 1))]
    GRPOUpdater(GRPOConfig(learning_rate=0.1, steps_per_group=4)).step(
        policy, GROUP[0], SPEC, members)
    after = [g.token_ids for g in _generate(policy, hf, GREEDY)]
    assert after != before  # the step changed what the policy writes
    assert [g.token_ids for g in _generate(policy, openvino, GREEDY)] == after
    converted = list((tmp_path / "engines" / "openvino").iterdir())
    assert len(converted) == 1 and (converted[0] / "lora_inputs.json").is_file()


@needs_openvino
def test_openvino_bf16_without_bf16_units_falls_back_with_one_warning(monkeypatch, caplog):
    from migrate_opt.engines import openvino

    monkeypatch.setattr(openvino, "cpu_has_bf16", lambda: False)
    with caplog.at_level(logging.WARNING):
        assert openvino.OpenVINOEngine("bf16").precision == "f16"
        assert openvino.OpenVINOEngine().precision == "f16"  # auto: no warning
    warned = [r.message for r in caplog.records if "precision bf16" in r.message]
    assert len(warned) == 1 and "runs f16" in warned[0]


@needs_openvino
@pytest.mark.parametrize("damage", ["version", "size", "missing", "garbage"])
def test_a_damaged_or_foreign_conversion_is_converted_again(policy, tmp_path, monkeypatch,
                                                            caplog, damage):
    monkeypatch.setenv("MIGRATE_OPT_CACHE", str(tmp_path))
    import json

    from migrate_opt.engines.openvino import OpenVINOEngine

    expected = [g.token_ids for g in _generate(policy, HFEngine(), GREEDY)]
    assert [g.token_ids for g in _generate(policy, OpenVINOEngine("f32"), GREEDY)] == expected
    (folder,) = (tmp_path / "engines" / "openvino").iterdir()
    info_file = folder / "lora_inputs.json"
    info = json.loads(info_file.read_text())
    if damage == "version":  # what an older release wrote, under the same name
        info_file.write_text(json.dumps({**info, "version": "ov-v1"}))
    elif damage == "size":  # weights cut short
        with open(folder / "model.bin", "r+b") as f:
            f.truncate(16)
    elif damage == "missing":
        (folder / "model-f16.bin").unlink()
    else:
        info_file.write_text("{not json")
    with caplog.at_level(logging.WARNING):
        again = [g.token_ids for g in _generate(policy, OpenVINOEngine("f32"), GREEDY)]
    assert again == expected
    # the cache's manifest catches changed sizes, the info file's version the rest
    assert any("converting again" in r.message or "rebuilding the model cache entry"
               in r.message for r in caplog.records)
    rebuilt = json.loads(info_file.read_text())  # rebuilt in place, complete
    assert (rebuilt["version"], rebuilt["lora"]) == (info["version"], info["lora"])


def _make_study(db, engine):
    policy = load_policy("tiny-random", seed=0, engine=engine)
    return create("optimizer", "migrate", ToyTask(), policy=policy, group_size=4, database=db,
                  seed=2, grpo=GRPOConfig(learning_rate=1e-2))


def _records(db):
    return [(r.iteration, r.source, r.completion, r.solution, r.score) for r in db.records()]


@needs_openvino
def test_a_study_resumed_with_another_engine_keeps_its_records(tmp_path, monkeypatch):
    monkeypatch.setenv("MIGRATE_OPT_CACHE", str(tmp_path))
    whole = SQLiteDatabase(str(tmp_path / "whole.db"))
    run(_make_study(whole, "hf"), iterations=3, progress=False)
    path = str(tmp_path / "switched.db")
    run(_make_study(SQLiteDatabase(path), "hf"), iterations=1, progress=False)
    from migrate_opt.engines.openvino import OpenVINOEngine

    resumed = _make_study(SQLiteDatabase(path), OpenVINOEngine("f32"))
    run(resumed, iterations=2, progress=False)
    assert _records(SQLiteDatabase(path)) == _records(whole) and len(_records(whole)) > 4
    # The run log (one entry per session of a study) is the only setting that differs.
    assert _without_run_log(SQLiteDatabase(path).settings()) == _without_run_log(whole.settings())


def _without_run_log(settings):
    return {k: v for k, v in settings.items() if k != RUNS_KEY}


# -- what an engine receives -----------------------------------------------------------------
def test_an_engine_receives_the_policy_engine_model_built_once(policy, tmp_path):
    seen = []

    class Recording(HFEngine):
        def generate(self, model, prompts, spec):
            seen.append(model)
            return super().generate(model, prompts, spec)

    policy.engine = Recording()
    for prompt in ("one", "two"):
        policy.generate([prompt], PromptSpec(max_new_tokens=2))
    model = policy.engine_model
    assert isinstance(model, EngineModel) and seen[0] is model and seen[1] is model
    assert (model.name, model.tokenizer, model.device, model.lora, model.context_length,
            model.eos_ids) == (policy.name, policy.tokenizer, policy.device, policy.lora,
                               policy.context_length, policy.eos_ids)
    assert model.model is policy.model and model.base_model is policy.model.get_base_model()
    _perturb(policy)  # the adapter inside is live: what it reads follows the step
    assert all(torch.equal(a, b) for a, b in zip(model.adapter_state().values(),
                                                  policy.state_dict().values(), strict=True))
    model.save_adapter(tmp_path / "adapter")
    assert (tmp_path / "adapter" / "adapter_config.json").is_file()


# -- names and bad input ---------------------------------------------------------------------
def test_engines_are_a_registry_kind():
    assert {"hf", "openvino", "vllm"} <= set(registry().names("engine"))
    assert isinstance(create_engine("hf"), HFEngine) and isinstance(create_engine("hf"), Engine)
    with pytest.raises(KeyError, match="unknown engine 'hff'. Did you mean 'hf'"):
        create_engine("hff")


def test_an_engine_not_installed_names_its_extra(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "openvino" else real(name, *a))
    with pytest.raises(EngineError, match=r"pip install 'migrate-opt\[openvino\]'"):
        create_engine("openvino")


@pytest.mark.skipif(torch.cuda.is_available(), reason="the machine has a GPU")
def test_gpu_choices_without_a_gpu_are_one_clear_error():
    with pytest.raises(EngineError, match="needs a CUDA GPU and torch sees none"):
        create_engine("vllm")
    with pytest.raises(EngineError, match="device 'cuda' needs a CUDA GPU"):
        tiny_policy(device="cuda")


@pytest.mark.skipif(torch.cuda.is_available(), reason="the machine has a GPU")
def test_cli_engine_vllm_without_a_gpu_is_one_line(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "migrate_opt.cli", "run", "toy", "--model", "tiny-random",
         "--engine", "vllm", "--storage", str(tmp_path / "x.db"), "--budget", "4"],
        capture_output=True, text=True, timeout=300)
    assert out.returncode == 2
    assert "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1
    assert "the vllm engine needs a CUDA GPU" in out.stderr


def test_a_prompt_longer_than_the_context_is_cut_from_the_left_with_a_warning(policy, caplog):
    context = policy.context_length
    long_prompt = "give a word " * context
    with caplog.at_level(logging.WARNING):
        g = policy.generate([long_prompt, "one"], PromptSpec(max_new_tokens=8), seed=1)
    assert "does not fit the model's context" in caplog.text
    assert len(g) == 2 and all(0 < len(x.token_ids) <= 8 for x in g)
    with pytest.raises(ConfigError, match="lower max_new_tokens"):
        policy.generate(["one"], PromptSpec(max_new_tokens=context))


def test_front_doors_pick_the_fastest_engine_only_for_builtin_cpu_policies():
    from migrate_opt.engines import fastest_engine
    from migrate_opt.factory import with_fastest_engine

    fastest = fastest_engine()
    assert with_fastest_engine("smollm2-135m-instruct", {}) == {"engine": fastest}
    assert with_fastest_engine("someone/a-model", {"device": "cpu"})["engine"] == fastest
    assert with_fastest_engine("smollm2-135m-instruct", {"engine": "hf"}) == {"engine": "hf"}
    assert with_fastest_engine("smollm2-135m-instruct", {"device": "cuda"}) == {"device": "cuda"}
    assert with_fastest_engine("tiny-random", {}) == {}  # tests and plugins keep their own


def test_the_draw_follows_the_distribution_and_never_picks_a_masked_token():
    from migrate_opt.engines.decode import _draw

    probs = torch.tensor([[0.0, 0.5, 0.0, 0.3, 0.2, 0.0]]).repeat(4000, 1)
    drawn = _draw(probs, torch.Generator().manual_seed(3))
    counts = torch.bincount(drawn, minlength=6).float() / len(drawn)
    assert counts[[0, 2, 5]].sum() == 0  # probability 0 (a grammar's mask) is never drawn
    # 4000 draws: each frequency within 4 standard errors of its probability
    assert torch.allclose(counts, probs[0], atol=4 * (0.25 / 4000) ** 0.5)
    again = _draw(probs, torch.Generator().manual_seed(3))
    assert torch.equal(drawn, again)
