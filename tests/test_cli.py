import json
import os
import subprocess
import sys

import pytest

from migrate_opt import SQLiteDatabase, create, run
from migrate_opt.cli import main, parse_task_options
from migrate_opt.testing import ScriptedPolicy, ToyTask

OWN_PLUGINS = "migrate-opt-arc,migrate-opt-baselines,migrate-opt-molecules,migrate-opt-semantle"
"""This repository's plugins, by package: another installed plugin (a broken one warns on
stderr) must not change what these tests see."""


def cli(*args):
    return subprocess.run([sys.executable, "-m", "migrate_opt.cli", *args],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "MIGRATE_OPT_PLUGINS": OWN_PLUGINS})


def test_plugins_lists_builtins(capsys):
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert "task       toy" in out and "migrate-opt" in out and "sampler    greedy" in out


@pytest.mark.parametrize(
    "args, message",
    [
        (["run", "toi"], "unknown task 'toi'. Did you mean 'toy'?"),
        (["run", "toy", "--tagret", "12"], "Did you mean --target?"),
        (["run", "toy", "--length", "four"], "--length expects int, got 'four'"),
        (["run", "toy", "--method", "nope"], "unknown optimizer 'nope'"),
        (["show", "/nonexistent/x.db"], "no such storage file"),
    ],
)
def test_bad_options_are_one_clear_line(args, message):
    out = cli(*args)
    assert out.returncode == 2
    assert message in out.stderr
    assert "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1


def test_a_learning_rate_that_cannot_work_is_refused_before_a_model_loads(tmp_path):
    out = cli("run", "toy", "--learning-rate", "5", "--storage", str(tmp_path / "s.db"))
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "learning_rate must be in (0, 0.1]" in out.stderr
    assert "Loading weights" not in out.stderr


def test_task_options_are_coerced_by_type_hints():
    assert parse_task_options(ToyTask, ["--target", "12", "--length=3"]) == {
        "target": "12", "length": 3}


def test_show_prints_settings_and_best(tmp_path, capsys):
    path = str(tmp_path / "s.db")
    opt = create("optimizer", "sample", ToyTask(), group_size=2,
                 policy=ScriptedPolicy(['["4210"]', '["0000"]']),
                 database=SQLiteDatabase(path, "mine"))
    run(opt, iterations=1, progress=False)
    assert main(["show", path, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["study"] == "mine" and data["evaluations"] == 2
    assert data["best"][0]["solution"] == "4210" and data["settings"]["method"] == "sample"
    assert main(["show", path]) == 0
    assert "4210" in capsys.readouterr().out
