"""PromptSpec: its checks, the task's own, the optimizer passing it, and the old keyword
spellings of ``generate`` and ``Updater.step`` (each warns once and does what the new one
does)."""

from __future__ import annotations

import warnings

import pytest

from migrate_opt import PromptSpec, create
from migrate_opt.errors import ConfigError
from migrate_opt.policy import legacy
from migrate_opt.policy.base import Generation, Policy, SamplingConfig, Updater
from migrate_opt.task.grammar import Grammar
from migrate_opt.testing import ScriptedPolicy
from migrate_opt.testing.toy import ToyTask


class OpenedToy(ToyTask):
    system_prompt = "be brief"
    response_prefix = '["'
    stop = ('"]',)
    max_new_tokens = 12


@pytest.fixture
def fresh_warnings(monkeypatch):
    """Each old spelling warns once per process: forget what earlier tests triggered."""
    monkeypatch.setattr(legacy, "_warned", set())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield caught


def deprecations(caught):
    return [str(w.message) for w in caught if issubclass(w.category, DeprecationWarning)]


# -- the value -------------------------------------------------------------------------------
@pytest.mark.parametrize(("fields", "message"), [
    ({"max_new_tokens": 0}, "max_new_tokens must be an integer >= 1, got 0"),
    ({"max_new_tokens": 2.5}, "max_new_tokens must be an integer >= 1"),
    ({"max_new_tokens": True}, "max_new_tokens must be an integer >= 1"),
    ({"stop": ["]"]}, "stop must be a tuple of non-empty strings"),
    ({"stop": "]"}, "stop must be a tuple"),
    ({"stop": ("]", 3)}, "stop must be a tuple"),
    ({"stop": ("",)}, "stop must be a tuple of non-empty strings"),
    ({"system": 3}, "system must be a string or None"),
    ({"response_prefix": None}, "response_prefix must be a string"),
    ({"grammar": "start: x"}, "grammar must be a migrate_opt.Grammar"),
])
def test_a_bad_spec_is_one_config_error(fields, message):
    with pytest.raises(ConfigError, match=message):
        PromptSpec(**fields)


def test_a_spec_is_a_frozen_hashable_value():
    spec = PromptSpec(system="s", stop=("]",))
    assert spec == PromptSpec(system="s", stop=("]",)) and hash(spec) == hash(PromptSpec(
        system="s", stop=("]",)))
    with pytest.raises(AttributeError):
        spec.system = "t"  # type: ignore[misc]


def test_a_task_builds_its_spec_from_its_attributes():
    grammar = Grammar("regex", r'\["[0-9]+"\]')

    class Graded(OpenedToy):
        answer_grammar = grammar
        stop = ['"]']  # a list from an older task still reads as a tuple

    assert Graded().prompt_spec() == PromptSpec(system="be brief", response_prefix='["',
                                                stop=('"]',), grammar=grammar, max_new_tokens=12)
    assert ToyTask().prompt_spec() == PromptSpec(max_new_tokens=16)


def test_the_optimizer_passes_the_task_spec_to_every_generate():
    policy = ScriptedPolicy(['["1234"]'])
    opt = create("optimizer", "sample", OpenedToy(), policy=policy, group_size=2)
    for _ in range(2):
        group = opt.ask()
        opt.tell(group, opt.task.evaluate(group.solutions))
    assert policy.specs == [OpenedToy().prompt_spec()] * 2


def test_sampling_max_new_tokens_overrides_the_spec_length():
    policy = ScriptedPolicy(['["1234"]'])
    opt = create("optimizer", "sample", OpenedToy(), policy=policy, group_size=2,
                 sampling=SamplingConfig(max_new_tokens=5))
    opt.ask()
    assert policy.specs[0].max_new_tokens == 5 and policy.specs[0].stop == ('"]',)


# -- the old spellings -----------------------------------------------------------------------
def test_the_old_generate_keywords_warn_once_and_sample_the_same_tokens(fresh_warnings):
    pytest.importorskip("torch")
    from migrate_opt.policy.tiny import tiny_policy

    policy = tiny_policy(seed=0)
    prompts = ["give a word", "one"]
    new = policy.generate(prompts, PromptSpec(system="be brief", response_prefix='["',
                                              stop=('"]',), max_new_tokens=6), seed=4)
    assert deprecations(fresh_warnings) == []
    old = [policy.generate(prompts, system="be brief", max_new_tokens=6, seed=4,
                           response_prefix='["', stop=['"]']) for _ in range(2)]
    assert old == [new, new]
    (message,) = deprecations(fresh_warnings)  # once per process, not once per call
    assert "spec=PromptSpec(" in message and "system=" in message
    assert fresh_warnings[0].filename == __file__  # it points at the caller


def test_old_keywords_and_a_spec_together_or_unknown_keywords_are_refused():
    policy = ScriptedPolicy(["x"])
    with pytest.raises(TypeError, match="not both"):
        policy.generate(["p"], PromptSpec(), max_new_tokens=3)
    with pytest.raises(TypeError, match="unexpected keyword argument.*temprature"):
        policy.generate(["p"], temprature=0.5)


def test_a_policy_written_for_the_old_keywords_still_serves_the_optimizer(fresh_warnings):
    seen = []

    class OldPolicy(Policy):  # a third-party policy from before PromptSpec (and grammars)
        def generate(self, prompts, *, system=None, sampling=SamplingConfig(),
                     max_new_tokens=64, seed=0, response_prefix="", stop=()):
            seen.append((system, max_new_tokens, response_prefix, stop, seed))
            return [Generation(response_prefix + '1234"]') for _ in prompts]

    opt = create("optimizer", "sample", OpenedToy(), policy=OldPolicy(), group_size=2, seed=0)
    group = opt.ask()
    assert group.solutions == ["1234"]
    assert seen == [("be brief", 12, '["', ('"]',), 0)]
    (message,) = deprecations(fresh_warnings)
    assert "OldPolicy.generate takes the old arguments" in message


class Recorder(Updater):
    def __init__(self):
        self.calls = []

    def step(self, policy, prompt, spec, members):
        self.calls.append((prompt, spec, list(members)))
        return []


def test_the_old_step_arguments_warn_once_and_give_the_spec(fresh_warnings):
    updater = Recorder()
    updater.step(None, "p", PromptSpec(system="s", response_prefix="<<"), [])
    assert deprecations(fresh_warnings) == []
    updater.step(None, "p", "s", [], "<<")
    updater.step(None, "p", None, [])
    updater.step(None, "p", "s", [], response_prefix="<<")
    assert [c[1] for c in updater.calls] == [
        PromptSpec(system="s", response_prefix="<<"), PromptSpec(system="s", response_prefix="<<"),
        PromptSpec(), PromptSpec(system="s", response_prefix="<<")]
    (message,) = deprecations(fresh_warnings)
    assert "step(policy, prompt, spec=PromptSpec(" in message


def test_an_updater_written_for_the_old_arguments_still_trains(fresh_warnings):
    class OldUpdater(Updater):
        def __init__(self):
            self.calls = []

        def step(self, policy, prompt, system, members, response_prefix=""):
            self.calls.append((system, response_prefix))
            return []

    updater = OldUpdater()
    updater.step(None, "p", PromptSpec(system="s", response_prefix="<<"), [])
    assert updater.calls == [("s", "<<")]
    assert any("OldUpdater.step takes the old arguments" in m
               for m in deprecations(fresh_warnings))
