"""The docking rewards: the paper's formula by hand, the official objectives against
dockstring's own definitions."""

from __future__ import annotations

import pytest
from dockstring.benchmarks import original
from hypothesis import given
from hypothesis import strategies as st
from migrate_opt_molecules.docking.scoring import OBJECTIVES, paper_reward, score

vinas = st.floats(min_value=-15.0, max_value=5.0, allow_nan=False)
qeds = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)


@pytest.mark.parametrize("vina, qed, expected", [
    (-10.0, 0.8, 0.78),   # (0.8 + 10 - 3) / 10
    (-7.0, 0.5, 0.45),    # (0.5 + 7 - 3) / 10
    (-2.0, 0.5, 0.0),     # -0.05 clipped to 0
    (-14.0, 0.9, 1.0),    # 1.19 clipped to 1
    (-12.0, 1.0, 1.0),    # exactly the top of the range
    (-2.0, 1.0, 0.0),     # exactly the bottom
])
def test_paper_reward_by_hand(vina: float, qed: float, expected: float) -> None:
    assert paper_reward(vina, qed) == pytest.approx(expected)


@given(vinas, qeds)
def test_f2_is_dockstrings_negated(f2: float, qed: float) -> None:
    value, info = score(OBJECTIVES["F2"], {"F2": f2}, qed, "F2")
    assert info["objective"] == pytest.approx(original.F2_score(F2=f2, QED=qed))
    assert value == -info["objective"]


@given(vinas, vinas, vinas, qeds)
def test_promiscuous_ppar_is_dockstrings_negated(a: float, d: float, g: float,
                                                 qed: float) -> None:
    value, info = score(OBJECTIVES["promiscuous_PPAR"],
                        {"PPARA": a, "PPARD": d, "PPARG": g}, qed, "")
    expected = original.promiscuous_PPAR_score(PPARA=a, PPARD=d, PPARG=g, QED=qed)
    assert value == pytest.approx(-expected)


@given(vinas, vinas, qeds)
def test_selective_jak2_is_dockstrings_negated(jak2: float, lck: float, qed: float) -> None:
    value, _ = score(OBJECTIVES["selective_JAK2"], {"JAK2": jak2, "LCK": lck}, qed, "")
    assert value == pytest.approx(-original.selective_JAK2_score(JAK2=jak2, LCK=lck, QED=qed))


def test_official_objectives_dock_dockstrings_targets() -> None:
    reference = original.get_benchmark_functions()
    for name, objective in OBJECTIVES.items():
        if name == "paper":
            continue
        expected = set(reference[name].base_functions) - {"QED"}
        assert set(objective.targets or ()) == expected
