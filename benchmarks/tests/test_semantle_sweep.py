"""The Semantle sweep script: its metrics, and a tiny sweep of random search end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import semantle_sweep as sweep


def test_auc_is_the_mean_best_so_far_over_the_budget() -> None:
    assert sweep.best_so_far_auc([0.5, None, 0.7, 0.2], 4, None) == pytest.approx(
        (0.5 + 0.5 + 0.7 + 0.7) / 4)
    # An early stop keeps the last best; a solve counts 1.0 from the solving guess on.
    assert sweep.best_so_far_auc([0.4], 4, None) == pytest.approx(0.4)
    assert sweep.best_so_far_auc([0.4, 1.0], 4, 2) == pytest.approx((0.4 + 3) / 4)
    assert sweep.best_so_far_auc([None, -0.2], 2, None) == 0.0


def test_tiny_random_search_sweep(tmp_path: Path) -> None:
    pytest.importorskip("migrate_opt_baselines")
    stem = tmp_path / "sweep"
    sweep.main(["--targets", "skillet", "mob", "--seeds", "0", "1", "--methods",
                "random-search", "--budget", "30", "--warm-start", "5", "--out", str(stem)])
    data = json.loads(stem.with_suffix(".json").read_text())
    runs = data["runs"]
    assert len(runs) == 4 and all(r["evaluations"] == 30 for r in runs)
    assert all(0.0 < r["auc"] <= r["best"] <= 1.0 for r in runs)
    assert "| random-search | 4 |" in stem.with_suffix(".md").read_text()
    assert stem.with_suffix(".csv").read_text().count("\n") == 5


def test_a_rerun_resumes_from_the_journal(tmp_path: Path) -> None:
    pytest.importorskip("migrate_opt_baselines")
    stem = tmp_path / "sweep"
    argv = ["--targets", "mob", "--seeds", "0", "--methods", "random-search", "--budget", "12",
            "--warm-start", "4", "--out", str(stem)]
    sweep.main(argv)
    journal = stem.with_suffix(".runs.jsonl")
    assert len(journal.read_text().splitlines()) == 1
    first = json.loads(stem.with_suffix(".json").read_text())["runs"]
    # A second call with one more seed runs only the new cell; the old row is reused as is.
    sweep.main([*argv[:3], "0", "1", *argv[4:]])
    assert len(journal.read_text().splitlines()) == 2
    runs = json.loads(stem.with_suffix(".json").read_text())["runs"]
    assert [r["seed"] for r in runs] == [0, 1] and runs[0] == first[0]
