"""The metric of the molecule benchmarks (PMO top-k AUC), by hand."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

pytest.importorskip("migrate_opt_molecules")
_spec = importlib.util.spec_from_file_location(
    "molecules_fast", Path(__file__).with_name("molecules_fast.py"))
assert _spec is not None and _spec.loader is not None
molecules_fast = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(molecules_fast)


def test_top_k_auc_by_hand() -> None:
    scores = [0.5, None, 1.0]
    # top-1 after each evaluation: 0.5, 0.5, 1.0, then kept to the budget: 1.0
    assert molecules_fast.top_k_auc(scores, 1, 4) == pytest.approx(3.0 / 4)
    # top-2 means (missing and invalid count 0): 0.25, 0.25, 0.75, 0.75
    assert molecules_fast.top_k_auc(scores, 2, 4) == pytest.approx(2.0 / 4)
    assert molecules_fast.top_k_auc([1.0] * 3, 1, 3) == pytest.approx(1.0)
    assert molecules_fast.top_k_auc([], 10, 5) == 0.0
