"""The answer-grammar benchmark runs end to end on the tiny model and writes its JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("llguidance")
pytest.importorskip("rdkit")

from migrate_opt_bench import answer_grammar  # noqa: E402


def test_benchmark_compares_both_modes_and_the_grammar_holds(tmp_path: Path) -> None:
    stem = tmp_path / "grammar"
    answer_grammar.main(["--tasks", "qed", "--groups", "2", "--group-size", "2",
                         "--model", "tiny-random", "--out", str(stem)])  # fmt: skip
    data = json.loads(stem.with_suffix(".json").read_text())
    assert set(data["valid_rate"]["qed"]) == {"grammar", "none"}
    rows = {r["mode"]: r for r in data["rows"]}
    assert all(r["completions"] == 4 and r["tokens"] > 0 for r in rows.values())
    # Under the grammar every answer is grammatical or a grammatical start cut by a bound.
    assert rows["grammar"]["grammar_prefix"] == 4
    assert rows["none"]["grammatical"] == 0  # the random model never writes SMILES unaided
    assert data["mask_ms_per_step"] > 0
    assert "| qed | yes |" in stem.with_suffix(".md").read_text()
