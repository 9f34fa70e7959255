"""Config parsing: what a grid holds and the errors a bad config gets."""

from __future__ import annotations

from pathlib import Path

import pytest
from migrate_opt_bench.config_file import load_config, parse_config

from migrate_opt import ConfigError

CONFIGS = Path(__file__).resolve().parent.parent / "configs"


def _raw(**methods: dict) -> dict:
    return {"benchmark": {"budget": 10, "seeds": [0, 1]},
            "tasks": {"a": {"task": "toy"}, "b": {"task": "toy"}},
            "methods": methods or {"rs": {"optimizer": "random-search"}}}


def test_cells_cover_the_grid_and_method_task_filters() -> None:
    config = parse_config(_raw(rs={"optimizer": "random-search", "config": {"tries": 3},
                                   "task_options": {"b": {"tries": 5, "batch_size": 2}}},
                               ga={"optimizer": "ga", "tasks": ["b"]}))
    cells = config.cells()
    assert [c.key for c in cells] == ["a__rs__seed0", "a__rs__seed1", "b__rs__seed0",
                                      "b__rs__seed1", "b__ga__seed0", "b__ga__seed1"]
    assert cells[0].options == {"tries": 3}
    assert cells[2].options == {"tries": 5, "batch_size": 2}


@pytest.mark.parametrize(
    "method, message",
    [
        ({"optimizer": "ga", "llm": "migrate"}, "not `llm`"),
        ({}, "names a registered optimizer"),
        ({"optimizer": "migrat"}, "Did you mean 'migrate'"),
        ({"optimizer": "grpo", "config": {"grpo": {"lr": 1e-4}}}, "unknown grpo setting.*lr"),
        ({"optimizer": "grpo", "config": {"group_szie": 4}}, "unknown option.*group_szie"),
        ({"optimizer": "sample", "config": {"grpo": {"learning_rate": 1e-4}}},
         "does not train"),
        ({"optimizer": "grpo", "config": {"policy": {"name": "x", "lora": {"rnk": 8}}}},
         "unknown policy.lora setting.*rnk"),
        ({"optimizer": "grpo", "task_options": {"a": {"sampling": {"temprature": 1}}}},
         "unknown sampling setting.*temprature"),
        ({"optimizer": "ga", "opts": {}}, "unknown keys"),
        ({"optimizer": "ga", "tasks": ["zzz"]}, "unknown tasks"),
        ({"optimizer": "ga", "task_options": {"zzz": {}}}, "unknown tasks"),
        ({"optimizer": "ga", "task_options": {"a": 3}}, "task_options"),
        ({"llm": "grpo", "grpo": {"learning_rate": 3.0}}, "learning_rate"),
        ({"llm": "grpo", "grpo": {"lr": 1e-4}}, "unknown grpo setting"),
        ({"llm": "grpo", "policy_options": {"lora": {"rank": 0}}}, "rank"),
        ({"llm": "grpo", "policy_options": {"lora": {"rnk": 8}}}, "unknown policy.lora"),
        ({"optimizer": "ga", "adapter_from": {"method": "x", "tasks": {"a": "b"}}},
         "LLM presets"),
        ({"llm": "grpo", "adapter_from": "x"}, "is a table"),
        ({"llm": "grpo", "adapter_from": {"method": "x", "tasks": {"a": "a"}}}, "another"),
        ({"llm": "grpo", "adapter_from": {"method": "x", "tasks": {}}}, "another"),
        ({"llm": "grpo", "adapter_from": {"method": "x", "tasks": {"zzz": "a"}}},
         "unknown tasks"),
        ({"llm": "grpo", "tasks": ["a", "b"], "adapter_from": {"method": "x",
                                                               "tasks": {"a": "b"}}},
         "no source for tasks \\['b'\\]"),
    ],
)
def test_bad_methods_are_refused(method: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config(_raw(m=method))


def test_seed_options_give_each_seed_its_own_task() -> None:
    raw = _raw()
    raw["tasks"]["a"] = {"task": "toy", "options": {"target": "1"},
                         "seed_options": ["target_seed"]}
    cells = parse_config(raw).cells()
    assert [c.task_options for c in cells if c.task.label == "a"] == [
        {"target": "1", "target_seed": 0}, {"target": "1", "target_seed": 1}]
    assert all(c.task_options == {} for c in cells if c.task.label == "b")


def test_overrides_and_missing_budget() -> None:
    config = parse_config(_raw(), budget=5, seeds=[3])
    assert config.budget == 5 and config.seeds == (3,)
    raw = _raw()
    del raw["benchmark"]["budget"]
    with pytest.raises(ConfigError, match="budget"):
        parse_config(raw)


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.toml")), ids=lambda p: p.name)
def test_shipped_configs_parse(path: Path) -> None:
    assert load_config(path).cells()


def test_command_line_filters_keep_named_labels(tmp_path: Path) -> None:
    toml = tmp_path / "grid.toml"
    toml.write_text('[benchmark]\nbudget = 4\n[tasks.a]\ntask = "toy"\n[tasks.b]\ntask = "toy"\n'
                    '[methods.rs]\noptimizer = "random-search"\n[methods.ga]\noptimizer = "ga"\n')
    config = load_config(toml, tasks=["b"], methods=["ga"])
    assert [c.key for c in config.cells()] == ["b__ga__seed0"]
    toml.write_text(toml.read_text() + '[methods.llm]\nllm = "random"\nmax_iterations = 9\n')
    capped = load_config(toml, llm_iterations=2)
    assert {m.label: m.max_iterations for m in capped.methods} == {
        "rs": None, "ga": None, "llm": 2}
    with pytest.raises(ConfigError, match="no methods"):
        load_config(toml, methods=["gaa"])


def test_a_task_caps_the_groups_of_llm_methods_a_method_caps_its_own() -> None:
    raw = _raw(rs={"optimizer": "random-search"}, rs2={"optimizer": "ga", "max_iterations": 4},
               llm={"llm": "random", "max_iterations": 9},
               few={"llm": "random", "max_iterations": 3})
    raw["tasks"]["b"]["max_iterations"] = 5
    caps = {c.key: c.max_iterations for c in parse_config(raw).cells() if c.seed == 0}
    assert caps == {"a__rs__seed0": None, "b__rs__seed0": None, "a__rs2__seed0": 4,
                    "b__rs2__seed0": 4, "a__llm__seed0": 9,
                    "b__llm__seed0": 5, "a__few__seed0": 3, "b__few__seed0": 3}
    raw["tasks"]["b"]["max_iterations"] = 0
    with pytest.raises(ConfigError, match="task 'b': max_iterations must be >= 1"):
        parse_config(raw)


def test_a_task_filter_drops_per_task_settings_of_the_tasks_left_out(tmp_path: Path) -> None:
    toml = tmp_path / "grid.toml"
    toml.write_text(
        '[benchmark]\nbudget = 10\nseeds = [0]\n[tasks.a]\ntask = "toy"\n[tasks.b]\n'
        'task = "toy"\n[methods.rs]\noptimizer = "random-search"\n'
        'task_options.b = { batch_size = 2 }\n[methods.only-b]\noptimizer = "ga"\n'
        'tasks = ["b"]\n')
    config = load_config(toml, tasks=["a"])
    assert [c.key for c in config.cells()] == ["a__rs__seed0"]
    assert load_config(toml, tasks=["b"]).cells()[0].options == {"batch_size": 2}


def test_adapter_from_names_each_cell_its_source_run(tmp_path: Path) -> None:
    carry = {"llm": "grpo", "adapter_from": {"method": "src", "tasks": {"b": "a"}}}
    config = parse_config(_raw(src={"llm": "grpo"}, carry=carry))
    by_key = {c.key: c for c in config.cells()}
    assert [k for k in by_key if "carry" in k] == ["b__carry__seed0", "b__carry__seed1"]
    assert by_key["b__carry__seed1"].adapter_source == "a__src__seed1"  # the same seed
    assert by_key["a__src__seed0"].adapter_source is None

    toml = tmp_path / "grid.toml"
    toml.write_text('[benchmark]\nbudget = 10\n[tasks.a]\ntask = "toy"\n'
                    '[tasks.b]\ntask = "toy"\n[methods.carry]\nllm = "grpo"\n'
                    'adapter_from = { method = "src", tasks = { b = "a" } }\n')
    # the source task may be left out: its runs are read from disk
    assert [c.key for c in load_config(toml, tasks=["b"]).cells()] == ["b__carry__seed0"]
    with pytest.raises(ConfigError, match=r"\[methods"):  # nothing left to run
        load_config(toml, tasks=["a"])


def test_a_family_names_its_tasks_in_task_options(tmp_path: Path) -> None:
    raw = _raw(rs={"optimizer": "random-search", "options": {"tries": 1},
                   "task_options": {"b": {"batch_size": 2}, "ab": {"tries": 3}}})
    raw["benchmark"]["families"] = {"ab": ["a", "b"]}
    config = parse_config(raw)
    assert config.families == {"ab": ("a", "b")}
    options = {c.task.label: c.options for c in config.cells()}
    assert options == {"a": {"tries": 3}, "b": {"tries": 3, "batch_size": 2}}  # task over family

    toml = tmp_path / "grid.toml"
    toml.write_text('[benchmark]\nbudget = 10\nfamilies = { ab = ["a", "b"] }\n'
                    '[tasks.a]\ntask = "toy"\n[tasks.b]\ntask = "toy"\n[methods.rs]\n'
                    'optimizer = "random-search"\ntask_options.ab = { tries = 3 }\n')
    kept = load_config(toml, tasks=["b"])
    assert kept.families == {"ab": ("b",)} and kept.cells()[0].options == {"tries": 3}


@pytest.mark.parametrize("families, message", [
    ({"a": ["b"]}, "names of tasks"),
    ({"f": ["zzz"]}, "task labels of this config"),
    ({"f": "a"}, "list of task labels"),
])
def test_bad_families_are_refused(families: dict, message: str) -> None:
    raw = _raw()
    raw["benchmark"]["families"] = families
    with pytest.raises(ConfigError, match=message):
        parse_config(raw)
