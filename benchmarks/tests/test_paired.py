"""Paired statistics against values worked out by hand."""

import pytest
from migrate_opt_bench.paired import bootstrap_interval, compare, sign_test


def test_sign_test_by_hand():
    # 9 wins, 1 loss: P(X <= 1) = (1 + 10) / 1024, two-sided doubles it.
    assert sign_test(9, 1) == pytest.approx(22 / 1024)
    assert sign_test(5, 5) == 1.0
    assert sign_test(0, 0) == 1.0
    assert sign_test(6, 0) == pytest.approx(2 / 64)


def test_bootstrap_interval_brackets_the_mean_and_is_degenerate_for_constants():
    assert bootstrap_interval([0.5] * 8) == (0.5, 0.5)
    lo, hi = bootstrap_interval([0.1, 0.2, 0.3, 0.4, 0.5])
    assert lo < 0.3 < hi


def run(task, seed, method, auc):
    return {"task": task, "seed": seed, "method": method, "top10_auc": auc}


def test_compare_pairs_cells_and_counts_ties():
    runs = [run("t1", 0, "a", 0.5), run("t1", 0, "b", 0.4),
            run("t1", 1, "a", 0.3), run("t1", 1, "b", 0.3),
            run("t2", 0, "a", 0.1), run("t2", 0, "b", 0.2),
            run("t2", 1, "a", 0.9),  # no partner: not a pair
            run("t3", 0, "a", 0.9), run("t3", 0, "b", 0.0)]  # other family
    s = compare(runs, "a", "b", ["t1", "t2"])
    assert (s["pairs"], s["wins"], s["losses"], s["ties"]) == (3, 1, 1, 1)
    assert s["mean_diff"] == pytest.approx(0.0)
    assert s["p"] == 1.0


def test_main_reads_every_finished_cell_and_writes_tables_and_a_plot(tmp_path) -> None:
    import json

    from migrate_opt_bench.paired import main

    runs = tmp_path / "grid" / "runs"
    runs.mkdir(parents=True)
    cells = [run("t1", s, m, auc) for s, (a, b) in enumerate([(0.5, 0.4), (0.6, 0.5),
                                                               (0.3, 0.2)])
             for m, auc in (("a", a), ("b", b))]
    for c in cells:  # one file per cell, as the harness writes them
        (runs / f"{c['task']}__{c['method']}__seed{c['seed']}.json").write_text(json.dumps(c))
    out = tmp_path / "cmp"
    assert main([str(tmp_path / "grid"), "--pair", "a:b", "--pair", "a:c", "--family", "f=t1",
                 "--out", str(out)]) == 0
    data = json.loads(out.with_suffix(".json").read_text())
    s = data["f"]["a_vs_b"]
    assert (s["wins"], s["losses"], s["pairs"]) == (3, 0, 3)
    assert s["auc_mean"] == pytest.approx(0.4667, abs=1e-4)
    assert "command" in data["provenance"]
    assert data["f"]["a_vs_c"]["pairs"] == 0 and data["f"]["a_vs_c"]["mean_diff"] is None
    assert "| f | a vs c | 0 | not run |" in out.with_suffix(".md").read_text()
    assert "| f | a vs b | 3 | 3 | 0 |" in out.with_suffix(".md").read_text()
    assert out.with_suffix(".png").stat().st_size > 1000


def test_families_can_come_from_the_grid_config(tmp_path) -> None:
    import json

    from migrate_opt_bench.paired import main

    runs = tmp_path / "grid" / "runs"
    runs.mkdir(parents=True)
    for task, seed, method, auc in [("t1", 0, "a", 0.5), ("t1", 0, "b", 0.4),
                                    ("t2", 0, "a", 0.1), ("t2", 0, "b", 0.3)]:
        cell = run(task, seed, method, auc)
        (runs / f"{task}__{method}__seed{seed}.json").write_text(json.dumps(cell))
    toml = tmp_path / "grid.toml"
    toml.write_text('[benchmark]\nbudget = 10\nfamilies = { one = ["t1"], both = ["t1", "t2"] }'
                    '\n[tasks.t1]\ntask = "toy"\n[tasks.t2]\ntask = "toy"\n'
                    '[methods.a]\noptimizer = "ga"\n')
    out = tmp_path / "cmp"
    assert main([str(tmp_path / "grid"), "--config", str(toml), "--pair", "a:b",
                 "--out", str(out)]) == 0
    data = json.loads(out.with_suffix(".json").read_text())
    assert (data["one"]["a_vs_b"]["wins"], data["one"]["a_vs_b"]["pairs"]) == (1, 1)
    assert (data["both"]["a_vs_b"]["wins"], data["both"]["a_vs_b"]["losses"]) == (1, 1)
    with pytest.raises(SystemExit):  # neither --family nor a config with families
        main([str(tmp_path / "grid"), "--pair", "a:b", "--out", str(out)])


def test_main_refuses_a_folder_without_runs(tmp_path) -> None:
    from migrate_opt_bench.paired import main

    with pytest.raises(SystemExit, match="no finished runs"):
        main([str(tmp_path), "--pair", "a:b", "--family", "f=t1", "--out", str(tmp_path / "x")])


def test_a_clone_without_per_cell_files_reads_runs_json(tmp_path) -> None:
    import json

    from migrate_opt_bench.paired import load_runs

    cells = [run("t1", 0, "a", 0.5), run("t1", 0, "b", 0.4)]
    (tmp_path / "runs.json").write_text(json.dumps({"runs": cells}))
    assert load_runs([str(tmp_path)]) == cells
