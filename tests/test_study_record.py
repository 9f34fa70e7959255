"""One run, one record: a study written by `migrate-opt run`, by Python's create(...) and by
the benchmark harness holds the same record, and resume, show and report read it the same
way; an older study (its command line stored under "cli") is read once in the new form."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")
pytest.importorskip("peft")

from migrate_opt import (  # noqa: E402
    SQLiteDatabase,
    create,
    create_task,
    run,
)
from migrate_opt.cli import main  # noqa: E402
from migrate_opt.report import write_report  # noqa: E402

RUN = {"budget": 40, "seed": 3}
CONFIG = {"policy": "tiny-random", "group_size": 3, "sampling": {"temperature": 0.9}}


def by_cli(tmp_path):
    path = str(tmp_path / "cli.db")
    assert main(["run", "toy", "--target", "4213", "--method", "migrate", "--model",
                 "tiny-random", "--group-size", "3", "--temperature", "0.9", "--seed", "3",
                 "--budget", "40", "--iterations", "1", "--storage", path, "--study", "s",
                 "--no-progress"]) == 0
    return path, "s"


def by_python(tmp_path):
    path = str(tmp_path / "py.db")
    opt = create("optimizer", "migrate", create_task("toy", target="4213"),
                 database=SQLiteDatabase(path, "s"), **RUN, **CONFIG)
    run(opt, iterations=1, progress=False)
    opt.database.close()
    return path, "s"


def by_harness(tmp_path):
    from migrate_opt_bench import config_file as cfg
    from migrate_opt_bench.runner import run_grid

    grid = cfg.parse_config({
        "benchmark": {"budget": RUN["budget"], "seeds": [RUN["seed"]], "workers": 1},
        "tasks": {"toy": {"task": "toy", "options": {"target": "4213"}}},
        "methods": {"m": {"optimizer": "migrate", "config": CONFIG, "max_iterations": 1}}})
    [result] = run_grid(grid, str(tmp_path / "grid"), workers=1)
    assert "error" not in result, result
    return str(tmp_path / "grid" / "runs" / "toy__m__seed3.db"), "toy__m__seed3"


def settings(path, study):
    db = SQLiteDatabase(path, study, readonly=True)
    try:
        return db.settings(), len(db)
    finally:
        db.close()


def last_iteration(path, study):
    """A resumed iteration always stores a group; it may store no record (the tiny model
    can write nothing valid)."""
    db = SQLiteDatabase(path, study, readonly=True)
    try:
        return db.last_iteration()
    finally:
        db.close()


def test_three_writers_store_one_record_that_resume_show_and_report_read(tmp_path, capsys):
    pytest.importorskip("migrate_opt_bench")
    studies = {"cli": by_cli(tmp_path), "python": by_python(tmp_path),
               "harness": by_harness(tmp_path)}
    records = {who: record_of(settings(*where)[0]) for who, where in studies.items()}
    first = records["cli"]
    assert records["python"] == first and records["harness"] == first
    assert set(first) == {"optimizer", "config", "task", "task_options", "direction", "run"}
    assert first["optimizer"] == "migrate" and first["task_options"] == {"target": "4213"}
    assert first["run"] == RUN
    config = first["config"]
    assert config["policy"]["name"] == "tiny-random"
    assert config["policy"]["lora"]["rank"] == 8  # the policy's own default, resolved
    assert isinstance(config["grpo"]["learning_rate"], float)  # the hidden-size rule's pick
    assert config["sampling"]["temperature"] == 0.9 and config["preset"] == "migrate"

    capsys.readouterr()
    shown = {}
    for who, (path, study) in studies.items():
        before = last_iteration(path, study)
        assert main(["resume", path, "--study", study, "--iterations", "1",
                     "--no-progress"]) == 0, who
        after = last_iteration(path, study)
        assert after > before and record_of(settings(path, study)[0]) == first, who
        assert main(["show", path, "--study", study, "--json"]) == 0
        shown[who] = json.loads(_last_json(capsys.readouterr().out))["settings"]
        html = open(write_report(path, study, str(tmp_path / f"{who}.html"))).read()
        assert "tiny-random" in html and "could not be rebuilt" not in html, who
    assert [record_of(shown[w]) for w in ("cli", "python", "harness")] == [first] * 3


def record_of(stored):
    """The record, without the loop's run log (times differ from run to run)."""
    return {k: v for k, v in stored.items() if k != "runs"}


def _last_json(out: str) -> str:
    """The --json document (resume prints its progress first)."""
    return out[out.index("{\n"):]


def test_an_older_study_is_read_once_in_the_new_form(tmp_path, capsys):
    path = str(tmp_path / "old.db")
    opt = create("optimizer", "sample", create_task("toy", target="77"), policy="tiny-random",
                 group_size=2, database=SQLiteDatabase(path, "old"), budget=30)
    run(opt, iterations=1, progress=False)
    opt.database.set_settings({  # what `migrate-opt run` stored before the record
        "optimizer": "migrate", "method": "sample", "seed": 0, "budget": 30, "task": "toy",
        "cli": {"method": "sample", "task": "toy", "task_options": {"target": "77"},
                "model": "tiny-random", "group_size": 2, "temperature": 0.8, "seed": 0,
                "budget": 30, "executor": "ray", "executor_options": {"address": "10.0.0.1"},
                "storage": "/somewhere/else.db"}})
    opt.database.close()
    capsys.readouterr()
    assert main(["resume", path, "--iterations", "1", "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "stored by an older migrate-opt; read as" in err
    record = record_of(settings(path, "old")[0])
    assert set(record) == {"optimizer", "config", "task", "task_options", "direction", "run"}
    assert record["optimizer"] == "sample" and record["task_options"] == {"target": "77"}
    assert record["config"]["sampling"]["temperature"] == 0.8
    assert "10.0.0.1" not in json.dumps(record) and "somewhere" not in json.dumps(record)


@pytest.mark.parametrize("change, fragment", [
    ({"run": {"seed": "0", "budget": 30}}, "malformed record"),
    ({"run": {"seed": 0, "budget": 30, "executor": "ray"}}, "malformed record"),
    ({"config": {"group": {"on_policy": 2}, "executr": "ray"}}, "unknown MiGrATe setting"),
])
def test_a_crafted_record_is_one_clear_line(tmp_path, capsys, change, fragment):
    path = str(tmp_path / "crafted.db")
    opt = create("optimizer", "sample", create_task("toy"), policy="tiny-random",
                 group_size=2, database=SQLiteDatabase(path, "c"), budget=30)
    run(opt, iterations=1, progress=False)
    opt.database.set_settings({**opt.database.settings(), **change})
    opt.database.close()
    capsys.readouterr()
    assert main(["resume", path, "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and fragment in err[0], err


def test_a_baseline_study_resumes_from_its_record(tmp_path, capsys):
    pytest.importorskip("migrate_opt_baselines")
    path = str(tmp_path / "ga.db")
    assert main(["run", "toy", "--method", "ga", "--budget", "12", "--storage", path,
                 "--study", "s", "--no-progress"]) == 0
    record = record_of(settings(path, "s")[0])
    assert record["optimizer"] == "ga" and record["config"]["population_size"] > 0
    assert main(["resume", path, "--budget", "20", "--no-progress"]) == 0
    assert settings(path, "s")[1] == 20 and record_of(settings(path, "s")[0]) == {
        **record, "run": {**record["run"], "budget": 20}}
