"""The harness end to end on a tiny grid: toy task, a scripted LLM policy through
Migrate, random search and the GA; resume; the command line."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path
from typing import Any

import pytest
from migrate_opt_bench import config_file as cfg
from migrate_opt_bench.cli import main
from migrate_opt_bench.runner import run_cell, run_grid

import migrate_opt
from migrate_opt import SQLiteDatabase, create, hookimpl, run
from migrate_opt.testing import ScriptedPolicy

GRID = {
    "benchmark": {"name": "tiny", "budget": 24, "seeds": [0, 1], "log_every": 4,
                  "workers": 1},
    "tasks": {"toy": {"task": "toy", "options": {"target": "421337"}}},
    "methods": {
        "random-search": {"optimizer": "random-search"},
        "ga": {"optimizer": "ga", "config": {"population_size": 8}},
        "scripted-migrate": {"optimizer": "migrate", "config": {
            "policy": "scripted-digits", "group_size": 4, "train": False}},
    },
}


def _digits(prompt: str, rng: random.Random) -> str:
    return json.dumps(["".join(rng.choice("0123456789") for _ in range(6))])


class ScriptedPlugin:
    @hookimpl
    def register_policies(self, register):  # type: ignore[no-untyped-def]
        register("scripted-digits", lambda **_: ScriptedPolicy(fn=_digits))
        register("scripted-same", lambda **_: ScriptedPolicy(fn=lambda *_: '["111111"]'))


@pytest.fixture(autouse=True)
def scripted_policy():  # type: ignore[no-untyped-def]
    plugin = ScriptedPlugin()
    migrate_opt.register_plugin(plugin)
    yield
    migrate_opt.unregister_plugin(plugin)


def test_tiny_grid_end_to_end(tmp_path: Path) -> None:
    config = cfg.parse_config(GRID)
    results = run_grid(config, str(tmp_path))
    assert [r["key"] for r in results] == [c.key for c in config.cells()]
    assert not [r for r in results if "error" in r]
    for r in results:
        assert r["evaluations"] == 24
        assert 0 < r["top1_auc"] <= r["best_score"] <= 1
        assert r["top10_auc"] <= r["top1_auc"]
        assert len(r["curve"]) == 6 and r["curve"][-1] == r["best_score"]
        assert r["curve"] == sorted(r["curve"])  # best-so-far never falls
        if r["method"] == "scripted-migrate":  # one on-policy mean per group, no training
            assert len(r["on_policy_reward"]) == r["iterations"] > 0
            assert r["kl"] == [None] * r["iterations"] and r["kl_exceeded"] == 0
            # every evaluation is some group's first of its solution
            assert len(r["new_solutions"]) == r["iterations"]
            assert sum(r["new_solutions"]) == r["evaluations"]
            assert r["mix"] == {}  # a fixed mix has nothing to show

    from migrate_opt_bench.report import write_all

    paths = write_all(config, results, str(tmp_path))
    rows = list(csv.DictReader(open(paths["csv"])))
    assert len(rows) == 6 and {r["method"] for r in rows} == set(GRID["methods"])
    table = paths["markdown"].read_text()
    for method in GRID["methods"]:
        assert f"| {method} | 2 |" in table
    png = paths["plot"].read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 5000


def test_an_adaptive_mix_is_measured_and_tabled(tmp_path: Path) -> None:
    adaptive = {"llm": "migrate", "policy": "scripted-digits", "options": {
        "group": {"on_policy": 2, "neighborhood": 2}, "adaptive_mix": {"floor": 1},
        "train": False}}
    config = cfg.parse_config({**GRID, "benchmark": {**GRID["benchmark"], "seeds": [0]},
                               "methods": {"adaptive": adaptive}})
    [r] = run_grid(config, str(tmp_path))
    assert set(r["mix"]) == {"on_policy", "neighborhood"}
    assert all(len(counts) == r["iterations"] > 1 for counts in r["mix"].values())
    groups = list(zip(*r["mix"].values(), strict=True))
    assert all(sum(g) == 4 and min(g) >= 1 for g in groups)  # the group's size, the floor

    from migrate_opt_bench.report import MIX_WINDOW, markdown

    table = markdown(config, [r], "")
    first = sum(r["mix"]["neighborhood"][:MIX_WINDOW]) / MIX_WINDOW
    assert "## Adaptive group mix" in table
    assert f"| adaptive | toy | neighborhood | 1 | {first:.2f} |" in table
    # a last group the budget cut short is left out of the table
    cut = {**r, "mix": {"on_policy": [2, 2, 1, 1, 1, 1, 1], "neighborhood": [2, 2, 3, 3, 3, 3, 0]}}
    assert "| adaptive | toy | neighborhood | 1 | 2.60 | 2.80 |" in markdown(config, [cut], "")


def test_finished_cells_are_not_rerun(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = cfg.parse_config({**GRID, "methods": {"rs": {"optimizer": "random-search"}}})
    first = run_grid(config, str(tmp_path))

    def boom(*_: object) -> None:
        raise AssertionError("a finished cell was run again")

    monkeypatch.setattr("migrate_opt_bench.runner._execute", boom)
    assert run_grid(config, str(tmp_path)) == first


def test_interrupted_cell_resumes_from_its_database(tmp_path: Path) -> None:
    config = cfg.parse_config({**GRID, "methods": {"ga": GRID["methods"]["ga"]}})
    cell = config.cells()[0]
    runs = tmp_path / "runs"
    runs.mkdir()
    db = SQLiteDatabase(str(runs / f"{cell.key}.db"), study=cell.key)
    task = create("task", "toy", target="421337")
    run(create("optimizer", "ga", task, database=db, seed=0, population_size=8), budget=16,
        progress=False)
    db.close()
    resumed = run_cell(cell, str(tmp_path))
    fresh = run_cell(cell, str(tmp_path / "again"))
    assert resumed["resumed"] and not fresh["resumed"]
    assert resumed["evaluations"] == 24
    # the GA keeps its state in the database: stopped between generations, the resumed
    # run equals a fresh one
    assert resumed["curve"] == fresh["curve"] and resumed["top1_auc"] == fresh["top1_auc"]


def test_a_refused_cell_is_reported_not_fatal(tmp_path: Path) -> None:
    raw = {**GRID, "tasks": {"toy": GRID["tasks"]["toy"]},
           "methods": {"tpe-pool": {"optimizer": "optuna-tpe", "config": {"space": "pool"}}}}
    results = run_grid(cfg.parse_config(raw), str(tmp_path))
    assert all("'pool'" in r["error"] for r in results)
    assert not list((tmp_path / "runs").glob("*.json"))  # retried next time


def test_command_line_on_a_config_file(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    toml = tmp_path / "grid.toml"
    toml.write_text(
        '[benchmark]\nbudget = 16\nseeds = [0]\nlog_every = 4\n'
        '[tasks.toy]\ntask = "toy"\n'
        '[methods.ga]\noptimizer = "ga"\noptions = { population_size = 4 }\n'
    )
    out = tmp_path / "results"
    assert main([str(toml), "--out", str(out), "--workers", "1", "--seeds", "0", "1"]) == 0
    text = capsys.readouterr().out
    assert "toy__ga__seed1" in text and "| ga | 2 |" in text
    assert (out / "summary.md").exists() and (out / "best_so_far.png").exists()
    assert main([str(toml), "--out", str(out), "--report-only", "--seeds", "0", "1"]) == 0


def test_local_processes_run_cells_in_parallel(tmp_path: Path) -> None:
    config = cfg.parse_config({**GRID, "methods": {"rs": {"optimizer": "random-search"},
                                                   "ga": GRID["methods"]["ga"]}})
    results = run_grid(config, str(tmp_path), workers=2)
    assert len(results) == 4 and all(r["evaluations"] == 24 for r in results)
    serial = run_grid(config, str(tmp_path / "serial"), workers=1)
    assert [r["curve"] for r in results] == [r["curve"] for r in serial]


def test_max_iterations_caps_a_method(tmp_path: Path) -> None:
    raw = {**GRID, "methods": {"rs": {"optimizer": "random-search", "max_iterations": 2}}}
    results = run_grid(cfg.parse_config(raw), str(tmp_path))
    for r in results:  # 2 groups of 8, then padded to the budget of 24
        assert r["iterations"] == 2 and r["evaluations"] == 16
        assert r["stopped"] == "iterations" and len(r["curve"]) == 6


def test_a_run_starts_from_the_adapter_of_its_source_run(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    trained = {"optimizer": "grpo", "max_iterations": 2, "config": {
        "group_size": 3, "policy": {"name": "tiny-random", "lora": {"rank": 4, "alpha": 8},
                                    "options": {"seed": 0}}}}
    raw = {**GRID, "benchmark": {**GRID["benchmark"], "seeds": [0]},
           "tasks": {"toy": GRID["tasks"]["toy"],
                     "toy2": {"task": "toy", "options": {"target": "777777"}}},
           "methods": {"src": {**trained, "tasks": ["toy"]},
                       "carry": {**trained, "adapter_from": {"method": "src",
                                                             "tasks": {"toy2": "toy"}}}}}
    config = cfg.parse_config(raw)
    alone = cfg.parse_config({**raw, "methods": {"carry": raw["methods"]["carry"]}})
    (missing,) = run_grid(alone, str(tmp_path))  # the source has not run here
    assert "toy__src__seed0, which has not finished" in missing["error"]

    results = run_grid(config, str(tmp_path))  # task-major: the source runs first
    assert [r["key"] for r in results] == ["toy__src__seed0", "toy2__carry__seed0"]
    assert not [r for r in results if "error" in r]
    runs = tmp_path / "runs"
    db = SQLiteDatabase(str(runs / "toy2__carry__seed0.db"), study="toy2__carry__seed0")
    try:
        source = f"{runs}/toy__src__seed0.db:toy__src__seed0"
        assert db.settings()["config"]["init_adapter"] == source
    finally:
        db.close()


@pytest.mark.slow
def test_ray_mode_runs_each_cell_as_a_ray_task(tmp_path: Path) -> None:
    ray = pytest.importorskip("ray")
    config = cfg.parse_config({**GRID, "methods": {"rs": {"optimizer": "random-search"}}})
    try:
        results = run_grid(config, str(tmp_path), use_ray=True)
    finally:
        ray.shutdown()
    assert [r["evaluations"] for r in results] == [24, 24]
    assert sorted(p.name for p in (tmp_path / "runs").glob("*.json")) == [
        "toy__rs__seed0.json", "toy__rs__seed1.json"]


def test_short_runs_are_flagged_and_the_command_recorded(tmp_path: Path) -> None:
    from migrate_opt_bench.report import write_all

    raw = {**GRID, "methods": {"rs": {"optimizer": "random-search", "max_iterations": 2},
                               "ga": GRID["methods"]["ga"]}}
    config = cfg.parse_config(raw)
    results = run_grid(config, str(tmp_path))
    paths = write_all(config, results, str(tmp_path / "out"), command="python x.py")
    summary = paths["markdown"].read_text()
    assert "| rs | 2 |" in summary and "| **2/2** |" in summary  # rs stopped at 16 of 24
    ga_row = next(line for line in summary.splitlines() if line.startswith("| ga |"))
    assert "**" not in ga_row
    listed = summary[summary.index("## Runs that stopped short of the budget"):]
    assert "`toy__rs__seed0`: 16 of 24 evaluations, stopped: iterations" in listed
    assert "ga__seed" not in listed
    assert json.loads(paths["json"].read_text())["command"] == "python x.py"


def test_the_command_is_the_one_really_run(monkeypatch: pytest.MonkeyPatch) -> None:
    from migrate_opt_bench.result_files import REPOSITORY, invoked_command

    config = REPOSITORY / "benchmarks" / "configs" / "comparison.toml"
    monkeypatch.setattr("sys.orig_argv", ["/opt/venv/bin/python3", "-m", "migrate_opt_bench",
                                          str(config), "--seeds", "0", "1"])
    assert invoked_command("run.py", None) == (
        "python -m migrate_opt_bench benchmarks/configs/comparison.toml --seeds 0 1")
    assert invoked_command("run.py", ["a.toml"]) == "python benchmarks/run.py a.toml"


def _script(name: str) -> Any:
    """A script of benchmarks/ as a module (they are run as files, not imported)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, Path(__file__).parents[1] / f"{name}.py")
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    return script


def _finished_grid(tmp_path: Path, budget: int, methods: str) -> tuple[Path, Path]:
    """A one-task grid's config file with ``methods``, run to the end; and its results."""
    toml = tmp_path / "grid.toml"
    toml.write_text(f'[benchmark]\nbudget = {budget}\nseeds = [0]\nlog_every = 4\n'
                    '[tasks.toy]\ntask = "toy"\noptions = { target = "421337" }\n' + methods)
    out = tmp_path / "results"
    assert main([str(toml), "--out", str(out), "--workers", "1"]) == 0
    return toml, out


def test_a_stalled_run_is_continued_on_a_copy(tmp_path: Path, capsys: pytest.CaptureFixture
                                               ) -> None:
    """benchmarks/stall_continue.py: a run that stopped stale goes on past its patience, on
    a copy of its study file, and says how much its extra groups evaluated."""
    script = _script("stall_continue")
    toml, out = _finished_grid(tmp_path, 24, '[methods.same]\noptimizer = "migrate"\n'
                               'config = { policy = "scripted-same", group_size = 4, '
                               'train = false }\n')
    finished = json.loads((out / "runs" / "toy__same__seed0.json").read_text())
    assert finished["stopped"] == "stale" and finished["evaluations"] == 1
    study = out / "runs" / "toy__same__seed0.db"
    before = study.read_bytes()
    capsys.readouterr()
    report = tmp_path / "continued.json"
    assert script.main([str(toml), str(out), "toy__same__seed0", "--groups", "7",
                        "--out", str(report)]) == 0
    data = json.loads(report.read_text())
    assert data["groups_added"] == 7 and data["new_per_group"] == [0] * 7
    assert data["new_evaluations"] == 0 and data["stopped"] == "iterations"
    assert data["evaluations_before"] == 1 and data["best_after"] == data["best_before"]
    assert study.read_bytes() == before  # the finished run is never written
    assert '"groups_added": 7' in capsys.readouterr().out
    with pytest.raises(SystemExit):
        script.main([str(toml), str(out), "toy__nothing__seed0"])


def test_kl_estimators_score_a_finished_trained_run_on_a_copy(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture,
                                                              ) -> None:
    """benchmarks/kl_estimators.py: both KL measures at a trained run's last adapter."""
    pytest.importorskip("torch")
    script = _script("kl_estimators")
    toml, out = _finished_grid(
        tmp_path, 12, '[methods.trained]\noptimizer = "migrate"\nmax_iterations = 3\n'
        'config = { group_size = 4, grpo = { learning_rate = 0.05 }, policy = { name = '
        '"tiny-random", lora = { rank = 4, alpha = 8 }, options = { seed = 0 } } }\n'
        '[methods.frozen]\noptimizer = "random-search"\n')
    study = out / "runs" / "toy__trained__seed0.db"
    before = study.read_bytes()
    capsys.readouterr()
    assert script.main([str(toml), str(out), "toy__trained__seed0", "--groups", "2",
                        "--out", str(tmp_path / "kl")]) == 0
    (run,) = json.loads((tmp_path / "kl.json").read_text())["runs"]
    assert 1 <= run["groups"] <= 2 and len(run["per_group"]) == run["groups"]
    for group in run["per_group"]:
        assert group["exact"] > 0 and group["k3"] > 0  # the adapter moved off the base
        assert group["on_prompt"] >= 1 and group["exact_on_prompt"] is not None
    assert "| toy__trained__seed0 |" in capsys.readouterr().out
    assert study.read_bytes() == before
    with pytest.raises(SystemExit, match="not a trained MiGrATe run"):
        script.measure(str(toml), str(out), "toy__frozen__seed0", 2)
