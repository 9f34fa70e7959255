"""The demo end to end with the tiny random policy (the real one is the slow test)."""

from __future__ import annotations

from pathlib import Path

import pytest
from migrate_opt_semantle import demo

from migrate_opt import SQLiteDatabase


def run_demo(tmp_path: Path, *extra: str) -> int:
    return demo.main(["--model", "tiny-random", "--storage", str(tmp_path / "demo.db"),
                      "--iterations", "1", "--budget", "40", *extra])


def test_demo_runs_stores_and_resumes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_demo(tmp_path) == 0
    out = capsys.readouterr().out
    assert "warm start: 20 random common words" in out
    assert "generation: " in out and "GRPO step: frozen base in float32" in out  # tiny: fp32
    assert "checkpoints every 20 groups or every 60 s and at the end" in out
    assert "best guesses:" in out and "not solved: the hidden word was 'computer'" in out
    assert f"migrate-opt show {tmp_path / 'demo.db'}" in out
    db = SQLiteDatabase(str(tmp_path / "demo.db"), "demo-semantle-computer-s0")
    assert len(db) >= 20 and db.last_iteration() == 0
    assert run_demo(tmp_path) == 0
    out = capsys.readouterr().out
    assert "resuming study" in out and "warm start" not in out
    assert db.last_iteration() == 1


def test_demo_rejects_an_unknown_target(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_demo(tmp_path, "--target", "qzxqzxqzx") == 2
    assert "not a word of the wordfreq dictionary" in capsys.readouterr().err


@pytest.mark.slow
def test_demo_with_smollm2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert demo.main(["--storage", str(tmp_path / "demo.db"), "--iterations", "2"]) == 0
    assert "best guesses:" in capsys.readouterr().out
