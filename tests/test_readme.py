"""The README's user loop runs as written (with the tiny model instead of SmolLM2)."""

import re
from pathlib import Path

import pytest

pytest.importorskip("torch")

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks():
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_user_loop_runs(tmp_path, monkeypatch, capsys):
    loop = next(b for b in python_blocks() if "opt.ask()" in b)
    monkeypatch.chdir(tmp_path)
    code = loop.replace('"smollm2-135m-instruct"', '"tiny-random"')
    code = code.replace("migrate_opt.run(opt, budget=40", "migrate_opt.run(opt, budget=12")
    exec(compile(code, "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert "Record(" in out
    assert (tmp_path / "runs" / "toy.db").exists()


def test_custom_mix_snippet_builds():
    import migrate_opt
    from migrate_opt.testing import ToyTask

    snippet = next(b for b in python_blocks() if "group={" in b)
    scope: dict = {"migrate_opt": migrate_opt, "task": ToyTask()}
    exec(snippet, scope)
    opt = scope["opt"]
    assert opt.config.size == 8 and opt.samplers["neighborhood"].top_k == 3
    assert opt.config.lora.rank == 8 and opt.updater.config.learning_rate == 5e-5


def test_config_file_example_is_accepted(tmp_path):
    from migrate_opt.cli_config import read_config_file

    block = re.findall(r"```toml\n(.*?)```", README.read_text(), flags=re.S)[0]
    (tmp_path / "run.toml").write_text(block)
    config = read_config_file(str(tmp_path / "run.toml"))
    assert config["group"]["neighborhood"] == {"n": 2, "top_k": 3}
    assert config["task_options"] == {"target": "computer"}


def test_plugin_example_is_a_complete_package(tmp_path):
    """The plugin's module and its whole pyproject.toml, as the README shows them: the entry
    point names the module, the module registers its task, and the task works."""
    import importlib.util

    import tomllib

    from migrate_opt import create
    from migrate_opt.registry import register_plugin, unregister_plugin

    text = README.read_text()
    module = next(b for b in python_blocks() if b.startswith("# my_plugin.py"))
    toml = next(b for b in re.findall(r"```toml\n(.*?)```", text, flags=re.S)
                if "[project.entry-points.migrate_opt]" in b)
    project = tomllib.loads(toml)
    assert project["build-system"]["build-backend"] == "setuptools.build_meta"
    assert project["project"]["name"] and "migrate-opt" in project["project"]["dependencies"]
    (entry, target), = project["project"]["entry-points"]["migrate_opt"].items()
    assert project["tool"]["setuptools"]["py-modules"] == [target]
    path = tmp_path / f"{target}.py"
    path.write_text(module)
    spec = importlib.util.spec_from_file_location(target, path)
    plugin = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(plugin)
    register_plugin(plugin)
    try:
        task = create("task", "rhymes")
        assert [e.score for e in task.evaluate(["syringe", "apple"])] == [1.0, 0.0]
        assert task.parse('["syringe", "hinge"]') == ["syringe", "hinge"]
    finally:
        unregister_plugin(plugin)
