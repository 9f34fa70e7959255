"""The learning benchmark's report: gains paired with the untrained twin, the default's
choice, the partial status, the table and the plot, on hand-made runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from migrate_opt_bench import learning
from migrate_opt_bench.config_file import parse_config

GRID = {
    "benchmark": {"name": "learning", "budget": 10, "seeds": [0, 1]},
    "tasks": {"t": {"task": "toy"}},
    "methods": {
        "untrained": {"llm": "sample"},
        "slow": {"llm": "grpo", "grpo": {"learning_rate": 5e-5}},
        "fast": {"llm": "grpo", "grpo": {"learning_rate": 2e-4},
                 "policy_options": {"lora": {"rank": 16, "alpha": 32}}},
        "wild": {"llm": "grpo", "grpo": {"learning_rate": 1e-2}},
    },
}


def _run(method: str, seed: int, rewards: list[float | None], kl: float | None) -> dict:
    return {"key": f"t__{method}__seed{seed}", "task": "t", "method": method, "seed": seed,
            "iterations": len(rewards), "best_score": max(r or 0 for r in rewards),
            "on_policy_reward": rewards, "kl": [kl] * len(rewards), "kl_exceeded": 0,
            "new_solutions": list(range(len(rewards), 0, -1)), "total_s": 1.0}


def test_gain_is_last_quarter_minus_first_quarter() -> None:
    assert learning.gain([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.9]) == pytest.approx(0.65)
    assert learning.gain([None, 0.2, 0.3, 0.6]) is None  # no valid reward in the first quarter
    assert learning.gain([0.1, None, 0.3, 0.5, 0.2, 0.4, None, 0.7]) == pytest.approx(0.6)
    assert learning.gain([0.1, 0.2]) is None  # too short to have quarters


def test_the_default_has_the_largest_lift_with_its_kl_in_bounds() -> None:
    config = parse_config(GRID)
    flat, rising, soaring = [0.3] * 8, [0.3] * 4 + [0.5] * 4, [0.1] * 4 + [0.9] * 4
    runs = [r for s in (0, 1) for r in (
        _run("untrained", s, flat, None), _run("slow", s, flat, 0.01),
        _run("fast", s, rising, 0.2), _run("wild", s, soaring, 3.0))]
    rows = learning.per_config(config, runs)
    fast = next(r for r in rows if r["method"] == "fast")
    assert fast["reward_gain"] == pytest.approx(0.2) and fast["untrained_gain"] == 0.0
    assert fast["lift"] == pytest.approx(0.2) and fast["seeds"] == 2
    default = learning.choose_default(rows, max_kl=1.0)
    assert default is not None and default["method"] == "fast"  # wild collapsed (KL 3)
    assert default["config"]["lora"] == {"rank": 16, "alpha": 32}
    assert learning.choose_default(rows, max_kl=10.0)["method"] == "wild"


def test_report_of_a_partial_grid_says_partial(tmp_path: Path, monkeypatch) -> None:
    toml = tmp_path / "learning.toml"
    toml.write_text('[benchmark]\nname = "learning"\nbudget = 10\nseeds = [0, 1]\n'
                    '[tasks.t]\ntask = "toy"\n[methods.untrained]\nllm = "random"\n'
                    '[methods.fast]\nllm = "grpo"\ngrpo = { learning_rate = 2e-4 }\n')
    out = tmp_path / "results" / "learning"
    (out / "runs").mkdir(parents=True)
    for run in (_run("untrained", 0, [0.3] * 8, None), _run("fast", 0, [0.2] * 4 + [0.4] * 4,
                                                            0.1)):
        (out / "runs" / f"{run['key']}.json").write_text(json.dumps(run))
    learning.main(["--config", str(toml), "--out", str(out), "--report-only"])
    result = json.loads((tmp_path / "results" / "learning.json").read_text())
    assert result["status"] == "partial: 2 of 4 runs finished"
    assert result["default"]["method"] == "fast"
    assert result["default"]["reward_gain"] == pytest.approx(0.2)
    assert set(result["unfinished"]) == {"t__untrained__seed1", "t__fast__seed1"}
    fast = next(c for c in result["configs"] if c["method"] == "fast")
    assert (fast["new_first"], fast["new_last"]) == (6, 3)  # 8..4 then 5..1 new per group
    assert "| 6.0 -> 3.0 |" in (tmp_path / "results" / "learning.md").read_text()
    assert "partial" in (tmp_path / "results" / "learning.md").read_text()
    assert (tmp_path / "results" / "learning.png").read_bytes().startswith(b"\x89PNG")
