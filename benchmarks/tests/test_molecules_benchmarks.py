"""The metric of the molecule benchmarks (PMO top-k AUC), by hand."""

from __future__ import annotations

import pytest

from migrate_opt.metrics import top_k_auc


def test_top_k_auc_by_hand() -> None:
    """The one AUC (``migrate_opt.metrics``), logged at every evaluation as the molecule
    configs do: trapezoids from 0, padded with the last value to the budget."""
    scores = [0.5, None, 1.0]
    # top-1 after each evaluation: 0.5, 0.5, 1.0, then kept to the budget: 1.0
    # trapezoids: (0+.5)/2 + (.5+.5)/2 + (.5+1)/2 + 1.0 = 2.5
    assert top_k_auc(scores, 1, 4) == pytest.approx(2.5 / 4)
    # top-2 means (missing and invalid count 0): 0.5, 0.25, 0.75, 0.75
    # trapezoids: .25 + .375 + .5 + .75 = 1.875
    assert top_k_auc(scores, 2, 4) == pytest.approx(1.875 / 4)
    assert top_k_auc([1.0] * 3, 1, 3) == pytest.approx(2.5 / 3)
    assert top_k_auc([], 10, 5) == 0.0
