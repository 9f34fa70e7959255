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
    assert opt.config.policy.lora.rank == 8 and opt.updater.config.learning_rate == 5e-5


def test_config_file_example_is_accepted(tmp_path):
    from migrate_opt.cli.settings import read_config_file

    block = re.findall(r"```toml\n(.*?)```", README.read_text(), flags=re.S)[0]
    (tmp_path / "run.toml").write_text(block)
    config = read_config_file(str(tmp_path / "run.toml"))
    assert config["group"]["neighborhood"] == {"n": 2, "top_k": 3}
    assert config["task_options"] == {"target": "computer"}
