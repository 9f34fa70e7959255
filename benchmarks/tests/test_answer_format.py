"""The answer-format probe runs end to end on the tiny model and counts what it parsed."""

from __future__ import annotations

import json
from pathlib import Path

from migrate_opt_bench import answer_format


def test_probe_writes_both_variants_per_task(tmp_path: Path) -> None:
    stem = tmp_path / "probe"
    answer_format.main(["--tasks", "toy", "--completions", "3", "--model", "tiny-random",
                        "--out", str(stem)])
    rows = json.loads(stem.with_suffix(".json").read_text())["rows"]
    assert [(r["task"], r["opened"]) for r in rows] == [("toy", False), ("toy", True)]
    assert all(r["completions"] == 3 and 0 <= r["valid"] <= 3 and r["tokens"] > 0
               for r in rows)
    assert "| toy | yes |" in stem.with_suffix(".md").read_text()
