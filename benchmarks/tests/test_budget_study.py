"""The budget study's report against hand-computed pairs, and its files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from migrate_opt_bench.budget import WINDOW, at_budget, every_run, main, study

from migrate_opt.metrics import top_k_auc


def _run(method: str, seed: int, scores: list, solved_at: int | None = None,
         stopped: str = "budget") -> dict:
    return {"task": "t", "method": method, "seed": seed, "scores": scores,
            "evals_to_solve": solved_at, "stopped": stopped}


def test_a_run_is_measured_at_each_smaller_budget():
    run = _run("a", 0, [0.1, None, 0.5, 1.0], solved_at=4)
    two = at_budget(run, 2)
    assert (two["best_score"], two["to_solve"], two["solved"]) == (0.1, 2.0, 0.0)
    assert two["top10_auc"] == pytest.approx(top_k_auc([0.1, None], 10, 2))
    four = at_budget(run, 4)
    assert four["solved"] == 1.0 and four["to_solve"] == 4.0 and four["best_score"] == 1.0
    assert four["top10_auc"] > at_budget(run, 2)["top10_auc"]


def test_pairs_per_budget_by_hand():
    runs = [
        _run("a", 0, [0.2, 1.0], solved_at=2), _run("b", 0, [0.2, 0.3]),
        _run("a", 1, [0.1, 0.1]), _run("b", 1, [0.5, 0.5], stopped="iterations"),
        _run("a", 2, [0.4, 0.4]),  # no partner: left out of the pairs
    ]
    data = study(runs, [("a", "b")], [1, 2])
    at1, at2 = data["pairs"]["a_vs_b"]["1"], data["pairs"]["a_vs_b"]["2"]
    assert at1["metrics"]["best_score"]["wins"] == 0 and at1["metrics"]["best_score"]["losses"] == 1
    assert at1["metrics"]["best_score"]["ties"] == 1
    best2 = at2["metrics"]["best_score"]
    assert (best2["wins"], best2["losses"], best2["pairs"]) == (1, 1, 2)
    assert best2["mean_diff"] == pytest.approx(((1.0 - 0.3) + (0.1 - 0.5)) / 2)
    assert at2["metrics"]["solved"]["wins"] == 1
    assert at2["metrics"]["to_solve"]["mean_diff"] == pytest.approx((2 - 2 + 2 - 2) / 2)
    assert data["solve_rate"]["a"] == {"1": 0.0, "2": pytest.approx(1 / 3)}
    assert data["capped"] == {"a": 0, "b": 1} and data["stale"] == {"a": 0, "b": 0}
    assert data["spent"]["a"]["median_evaluations"] == 2
    assert (data["spent"]["b"]["min_evaluations"], data["spent"]["b"]["max_evaluations"]) == (2, 2)
    # Fewer evaluations to solve is better: A solved at 2, B at 3, so A wins by 1.
    runs = [_run("a", 0, [0.2, 1.0], solved_at=2), _run("b", 0, [0.2, 0.3, 1.0], solved_at=3)]
    late = study(runs, [("a", "b")], [3])["pairs"]["a_vs_b"]["3"]["metrics"]["to_solve"]
    assert (late["wins"], late["mean_diff"]) == (1, 1.0)
    assert at2["pairs"] == 2  # the top level is the primary metric, top-10 AUC


def test_the_command_writes_json_markdown_and_plot(tmp_path: Path):
    folder = tmp_path / "results" / "runs"
    folder.mkdir(parents=True)
    for i, run in enumerate([_run("a", 0, [0.2, 1.0], solved_at=2), _run("b", 0, [0.2, 0.3])]):
        (folder / f"{i}.json").write_text(json.dumps(run))
    out = tmp_path / "budget"
    assert main([str(folder.parent), "--pair", "a:b", "--budgets", "1", "2",
                 "--out", str(out)]) == 0
    data = json.loads(out.with_suffix(".json").read_text())["semantle"]
    assert data["budgets"] == [1, 2] and data["pairs"]["a_vs_b"]["2"]["pairs"] == 1
    assert "| a vs b | 2 | solved | 1 | 1-0-0 |" in out.with_suffix(".md").read_text()
    assert (tmp_path / "budget.png").stat().st_size > 0


def test_every_run_says_what_it_spent_and_whether_it_narrowed():
    new = [3] * WINDOW + [1] * 10 + [0] * WINDOW  # busy first groups, nothing new at the end
    trained = {**_run("a", 1, [0.2, 0.9, None], stopped="stale"), "iterations": 70,
               "new_solutions": new, "kl_exceeded": 12, "best_solution": "fig", "total_s": 61.4}
    twin = {**_run("b", 0, [0.1, 1.0], solved_at=2), "iterations": 1, "new_solutions": [2]}
    broken = {**_run("a", 0, None), "error": "killed"}
    rows = every_run([trained, broken, twin], budget=2)
    assert [(r["method"], r["seed"]) for r in rows] == [("a", 1), ("b", 0)]
    a, b = rows
    assert (a["groups"], a["evaluations"], a["stopped"], a["kl_exceeded"]) == (70, 3, "stale", 12)
    assert (a["new_first"], a["new_last"]) == (3 * WINDOW, 0)
    assert a["best"] == 0.9 and a["top10_auc"] == pytest.approx(top_k_auc([0.2, 0.9], 10, 2))
    assert (b["new_first"], b["new_last"], b["to_solve"], b["best_solution"]) == (2, 2, 2, None)


def test_the_report_lists_every_run_of_the_compared_methods(tmp_path: Path):
    folder = tmp_path / "results" / "runs"
    folder.mkdir(parents=True)
    runs = [_run("a", 0, [0.2, 1.0], solved_at=2), _run("b", 0, [0.2, 0.3]), _run("c", 0, [0.4])]
    for i, run in enumerate(runs):
        (folder / f"{i}.json").write_text(json.dumps({**run, "best_solution": f"w{i}"}))
    out = tmp_path / "budget"
    main([str(folder.parent), "--pair", "a:b", "--budgets", "2", "--out", str(out)])
    text = out.with_suffix(".md").read_text()
    assert "| a | t | 0 | 0 | 2 | budget | 1.000 (w0) | 2 |" in text
    assert "| b | t | 0 | 0 | 2 | budget | 0.300 (w1) | - |" in text
    assert "(w2)" not in text  # c is in no pair


def test_a_sub_grid_keeps_every_method_on_the_same_cells(tmp_path: Path):
    folder = tmp_path / "results" / "runs"
    folder.mkdir(parents=True)
    runs = [_run("a", 0, [1.0], solved_at=1), _run("b", 0, [0.2]),
            {**_run("b", 1, [1.0], solved_at=1), "task": "other"}]
    for i, run in enumerate(runs):
        (folder / f"{i}.json").write_text(json.dumps(run))
    out = tmp_path / "budget"
    main([str(folder.parent), "--pair", "a:b", "--budgets", "1", "--out", str(out)])
    assert json.loads(out.with_suffix(".json").read_text())["semantle"]["solve_rate"]["b"] == {
        "1": 0.5}
    main([str(folder.parent), "--pair", "a:b", "--budgets", "1", "--tasks", "t",
          "--seeds", "0", "--out", str(out)])
    data = json.loads(out.with_suffix(".json").read_text())["semantle"]
    assert data["solve_rate"]["b"] == {"1": 0.0} and data["runs"] == {"a": 1, "b": 1}
