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
    snippet = next(b for b in python_blocks() if "GroupConfig(" in b)
    scope: dict = {}
    exec(snippet, scope)
    assert scope["mix"].group.size == 8
