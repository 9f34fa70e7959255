import math
import re

import pytest

from migrate_opt import (
    BudgetExhausted,
    ConfigError,
    Evaluation,
    MemoryDatabase,
    Migrate,
    MigrateConfig,
    Record,
    SQLiteDatabase,
    TellError,
    create,
    run,
)
from migrate_opt.presets import preset, preset_config
from migrate_opt.testing import ScriptedPolicy, ToyTask


class CountingToy(ToyTask):
    def __init__(self):
        super().__init__("4213")
        self.calls = []

    def evaluate(self, solutions):
        self.calls.extend(solutions)
        return super().evaluate(solutions)


def make(completions, composition, db=None, budget=None, task=None):
    task = task or CountingToy()
    return create("optimizer", "sample", task, policy=ScriptedPolicy(completions),
                  group=composition, database=db if db is not None else MemoryDatabase(),
                  budget=budget)


def step(opt):
    group = opt.ask()
    records = opt.tell(group, opt.task.evaluate(group.solutions))
    return group, records


def test_ask_tell_stores_and_ranks():
    opt = make(['["0000"]', '["4211"]', "no digits"], {"on_policy": 3})
    group, records = step(opt)
    assert group.solutions == ["0000", "4211"]
    assert [m.reward for m in group.members] == [0.0, 0.75, None]
    assert group.members[2].error
    assert opt.best(1)[0].solution == "4211" and opt.n_evaluations == 2
    assert opt.iteration == 1


def test_a_group_times_its_generation_within_its_ask():
    opt = make(['["0000"]'] * 4, {"on_policy": 2})
    for _ in range(2):  # each group times its own generation, none inherits the last
        group, _ = step(opt)
        assert 0 <= group.timings["generate"] <= group.timings["ask"]


def test_several_solutions_per_completion_reward_is_best():
    opt = make(['["0000", "4200", "4213"]'], {"on_policy": 1})
    group, _ = step(opt)
    assert group.members[0].reward == 1.0 and opt.n_evaluations == 3 and opt.solved


def test_duplicates_are_not_reevaluated_and_cost_nothing():
    opt = make(['["0000"]', '["0000"]', '["5555"]'], {"on_policy": 3})
    step(opt)
    assert opt.task.calls == ["0000", "5555"]
    group, records = step(opt)  # the script cycles: all three are repeats now
    assert group.solutions == [] and records == []
    assert opt.task.calls == ["0000", "5555"] and opt.n_evaluations == 2
    assert all(m.repeat for m in group.members)
    assert [m.reward for m in group.members] == [0.0, 0.0, 0.0]


def test_greedy_replays_enter_group_with_stored_score_and_cost_nothing():
    opt = make(['["4210"]', '["0000"]'], {"on_policy": 1, "greedy": 1})
    step(opt)  # empty database: greedy contributes nothing yet
    group, _ = step(opt)
    replays = [m for m in group.members if m.source == "greedy"]
    assert len(replays) == 1 and replays[0].is_replay
    assert replays[0].solutions == ("4210",) and replays[0].reward == 0.75
    assert replays[0].completion == '["4210"]'
    assert "4210" not in group.solutions and opt.task.calls == ["4210", "0000"]


def test_replay_of_record_without_completion_is_rendered():
    db = MemoryDatabase()
    db.add([Record("4000", 0.25)])
    opt = make(['["0000"]'], {"on_policy": 1, "greedy": 2}, db=db)
    group = opt.ask()
    replay = [m for m in group.members if m.is_replay][0]
    assert replay.completion == '["4000"]'


def test_budget_counts_new_unique_evaluations_only():
    opt = make(['["0000", "5555", "6666"]'], {"on_policy": 2}, budget=2)
    group = opt.ask()
    assert group.solutions == ["0000", "5555"]
    opt.tell(group, opt.task.evaluate(group.solutions))
    assert opt.exhausted
    with pytest.raises(BudgetExhausted):
        opt.ask()


def test_run_stops_at_budget_and_reports():
    opt = make([f'["{i:04d}"]' for i in range(100)], {"on_policy": 4})
    result = run(opt, budget=10, progress=False)
    assert result.stopped == "budget" and result.evaluations == 10 and opt.n_evaluations == 10


def test_run_stops_when_nothing_new():
    opt = make(['["0000"]'], {"on_policy": 2})
    result = run(opt, budget=100, patience=3, progress=False)
    assert result.stopped == "stale" and result.evaluations == 1


def test_run_stop_when_solved():
    opt = make(['["0000"]', '["4213"]', '["5555"]'], {"on_policy": 1})
    result = run(opt, budget=100, stop_when_solved=True, progress=False)
    assert result.stopped == "solved" and opt.n_evaluations == 2


@pytest.mark.parametrize(
    "bad, message",
    [
        ([0.5], "expected 2 results"),
        ([0.5, float("nan")], "nan"),
        ([0.5, math.inf], "inf"),
        ([0.5, "high"], "must be a float"),
        ("ab", "sequence"),
    ],
)
def test_tell_rejects_bad_input_and_stores_nothing(tmp_path, bad, message):
    db = SQLiteDatabase(str(tmp_path / "t.db"))
    opt = make(['["0000"]', '["5555"]'], {"on_policy": 2}, db=db)
    group = opt.ask()
    with pytest.raises(TellError, match=message):
        opt.tell(group, bad)
    assert len(db) == 0 and db.groups() == []
    opt.tell(group, [0.5, None])  # the group is still usable after a rejected tell
    assert len(db) == 2 and db.get("5555").score is None


def test_tell_rejects_foreign_twice_and_discarded_groups():
    a = make(['["0000"]'], {"on_policy": 1})
    b = make(['["0000"]'], {"on_policy": 1})
    group = a.ask()
    with pytest.raises(TellError, match="not asked from this optimizer"):
        b.tell(group, [0.1])
    a.tell(group, [0.1])
    with pytest.raises(TellError, match="already told"):
        a.tell(group, [0.1])
    a2 = make([f'["{i:04d}"]' for i in range(10)], {"on_policy": 1})
    old = a2.ask()
    a2.discard(old)
    a2.ask()
    with pytest.raises(TellError, match="discarded"):
        a2.tell(old, [0.1])


def test_tell_accepts_evaluations_with_info():
    opt = make(['["0000"]'], {"on_policy": 1})
    group = opt.ask()
    opt.tell(group, [Evaluation(0.3, {"why": "test"})])
    assert opt.database.get("0000").info == {"why": "test"}


def test_unparseable_and_raising_parsers_never_crash():
    class Hostile(CountingToy):
        def parse(self, completion):
            raise RuntimeError("boom")

    opt = make(['["0000"]'], {"on_policy": 2}, task=Hostile())
    group = opt.ask()
    assert group.solutions == [] and all("boom" in m.error for m in group.members)
    opt.tell(group, [])


@pytest.mark.parametrize(
    "name, expected",
    [
        ("sample", {"on_policy": 5}),
        ("ns", {"neighborhood": 5}),
        ("opro", {"opro": 5}),
        ("grpo", {"on_policy": 5}),
        ("grpo-greedy", {"on_policy": 4, "greedy": 1}),
        ("migrate", {"on_policy": 2, "greedy": 1, "neighborhood": 2}),
        ("migrate-opro", {"on_policy": 2, "greedy": 1, "opro": 2}),
        ("migrate-evo", {"on_policy": 2, "greedy": 1, "islands": 2}),
    ],
)
def test_presets_match_the_paper_for_dockstring_size(name, expected):
    config = preset_config(preset(name), ToyTask(), group_size=5)
    assert {k: s.n for k, s in config.group.items()} == expected
    assert config.train == (name not in ("sample", "ns", "opro"))


def counts(name, size):
    return {k: s.n for k, s in preset_config(preset(name), ToyTask(), group_size=size)
            .group.items()}


def test_presets_arc_size():
    assert counts("migrate", 16) == {"on_policy": 11, "greedy": 1, "neighborhood": 4}
    assert counts("grpo-greedy", 16) == {"on_policy": 15, "greedy": 1}


def test_unknown_method_suggests():
    with pytest.raises(KeyError, match="Did you mean .migrate."):
        create("optimizer", "migrat", ToyTask())


def scripted(n=50):
    return ScriptedPolicy([f'["{i:04d}"]' for i in range(n)])


def test_migrate_group_built_from_composition():
    opt = create("optimizer", "migrate", ToyTask(), policy=scripted(), group_size=5,
                 train=False, seed=0)
    step(opt)
    group = opt.ask()
    sources = [m.source for m in group.members]
    assert sources.count("on_policy") == 2 and sources.count("greedy") == 1
    assert sources.count("neighborhood") == 2


def test_tell_rejects_info_that_cannot_be_stored():
    opt = make(['["0000"]'], {"on_policy": 1})
    group = opt.ask()
    with pytest.raises(TellError, match="JSON-like"):
        opt.tell(group, [Evaluation(0.1, {(1, 2): "tuple key"})])
    assert len(opt.database) == 0


def test_settings_nest_the_task_and_record_the_run_budget():
    opt = make([f'["{i:04d}"]' for i in range(20)], {"on_policy": 2})
    run(opt, budget=4, progress=False)
    settings = opt.database.settings()
    assert settings["task"] == "toy" and settings["task_settings"]["target"] == "4213"
    assert settings["budget"] == 4


def test_run_warm_starts_an_empty_database_once():
    class Warm(CountingToy):
        def warm_start_solutions(self):
            return ["1111", "4000", "1111", "bad"]

    opt = make([f'["{i:04d}"]' for i in range(9000, 9100)], {"on_policy": 2}, task=Warm())
    run(opt, budget=6, progress=False)
    warm = [r for r in opt.database.records() if r.source == "warm_start"]
    assert [r.solution for r in warm] == ["1111", "4000"] and warm[0].iteration == -1
    assert opt.n_evaluations == 6
    run(opt, budget=8, progress=False)  # resumed: no second warm start
    assert len([r for r in opt.database.records() if r.source == "warm_start"]) == 2


def test_tell_unasked_validates_like_tell():
    opt = make(['["0000"]'], {"on_policy": 1})
    with pytest.raises(TellError, match="expected 2 results"):
        opt.tell_unasked(["1111", "2222"], [0.5])
    with pytest.raises(TellError, match="nan"):
        opt.tell_unasked(["1111"], [float("nan")])
    assert len(opt.database) == 0


def test_group_is_filled_on_policy_when_replays_fall_short():
    opt = create("optimizer", "migrate", ToyTask(), policy=scripted(), group_size=5,
                 train=False, seed=0)
    group = opt.ask()  # empty database: no replay, no parent
    assert len(group.members) == 5
    assert all(m.source == "on_policy" for m in group.members)


def test_every_preset_is_a_registered_optimizer():
    from migrate_opt import PRESET_NAMES, registry

    assert set(PRESET_NAMES) <= set(registry().names("optimizer"))
    for name in PRESET_NAMES:
        opt = create("optimizer", name, ToyTask(), policy=scripted(), group_size=4,
                     train=False)
        assert isinstance(opt, Migrate) and opt.settings()["method"] == name


def test_random_is_a_deprecated_alias_of_sample(caplog):
    opt = create("optimizer", "random", ToyTask(), policy=scripted(), group_size=2)
    assert opt.settings()["method"] == "sample"
    assert "deprecated" in caplog.text and "'sample'" in caplog.text


@pytest.mark.parametrize("options, message", [
    ({"group": {"on_policy": 2}, "group_size": 3}, "group_size=3 contradicts the group"),
    ({"grpo": {"learning_rate": 1e-3}}, "GRPO settings were given for 'sample'"),
    ({"group": {"on_policy": 2}, "top_k": 3}, "top_k applies to samplers that pick parents"),
    ({"group": {"on_policy": 2}, "sampler_options": {"greedy": {}}}, "not in the group"),
    ({"device": "cpu"}, "device apply when migrate-opt loads the model"),
    ({"sampling": {"temprature": 1.0}}, "unknown sampling setting(s) temprature"),
])
def test_contradictions_are_errors_that_say_what_to_do(options, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        create("optimizer", "sample", ToyTask(), policy=scripted(), **options)


def test_a_training_preset_refuses_a_policy_that_cannot_train():
    with pytest.raises(ConfigError, match="cannot be trained: pass train=False"):
        create("optimizer", "migrate", ToyTask(), policy=scripted())
    opt = create("optimizer", "migrate", ToyTask(), policy=scripted(), train=False)
    assert opt.settings()["train"] is False and opt.settings()["grpo"] is None


def test_sampler_options_reach_the_samplers_and_the_settings():
    opt = create("optimizer", "migrate", ToyTask(), policy=scripted(), group_size=5,
                 train=False, top_k=3)
    assert opt.samplers["neighborhood"].top_k == 3
    assert opt.settings()["group"]["neighborhood"] == {"n": 2, "top_k": 3}
    config = MigrateConfig({"on_policy": 1, "opro": {"n": 2, "history": 4}}, train=False)
    opt = create("optimizer", "sample", ToyTask(), policy=scripted(), config=config)
    assert opt.samplers["opro"].history == 4


def test_the_constructor_wires_objects_only():
    config = MigrateConfig({"on_policy": 2}, train=False)
    with pytest.raises(ConfigError, match="no sampler object for on_policy"):
        Migrate(ToyTask(), policy=scripted(), config=config, samplers={})
    with pytest.raises(ConfigError, match="policy must be a Policy"):
        Migrate(ToyTask(), policy="tiny-random", config=config, samplers={})
