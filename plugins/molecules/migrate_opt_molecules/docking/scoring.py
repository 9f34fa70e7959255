"""Turning Vina scores (kcal/mol, lower is better) and QED into rewards (higher is better).

- ``paper``: the MiGrATe reward, clip((QED - vina - 3) / 10, 0, 1), i.e. vina + (1 - QED)
  normalised over [-12, -2].
- The official DOCKSTRING de-novo objectives (García-Ortegón et al. 2022), which are
  *minimised* in the original: F2, promiscuous PPAR and selective JAK2. We report their
  negation, so higher is better like every migrate-opt score; ``info`` keeps the original
  value as ``objective`` (lower is better)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

QED_WEIGHT = 10.0
LCK_MEDIAN = -8.1
"""Median Vina score of LCK in the DOCKSTRING dataset (selective JAK2 objective)."""


def paper_reward(vina: float, qed: float) -> float:
    return min(max((qed - vina - 3.0) / 10.0, 0.0), 1.0)


def qed_penalty(qed: float) -> float:
    return QED_WEIGHT * (1.0 - qed)


def f2(vina: Mapping[str, float], qed: float) -> float:
    return vina["F2"] + qed_penalty(qed)


def promiscuous_ppar(vina: Mapping[str, float], qed: float) -> float:
    return max(vina["PPARA"], vina["PPARD"], vina["PPARG"]) + qed_penalty(qed)


def selective_jak2(vina: Mapping[str, float], qed: float) -> float:
    # The JCIM paper's printed formula has a sign slip; this is dockstring's code, which
    # matches the paper's tables.
    return vina["JAK2"] - min(vina["LCK"] - LCK_MEDIAN, 0.0) + qed_penalty(qed)


@dataclass(frozen=True)
class Objective:
    """How one objective turns per-target Vina scores and QED into a score."""

    name: str
    targets: tuple[str, ...] | None
    """Targets to dock against; None: the task's ``target`` option (the paper reward)."""
    minimised: Callable[[Mapping[str, float], float], float] | None
    """The original, lower-is-better formula; None for the paper reward."""
    description: str


OBJECTIVES: dict[str, Objective] = {
    "paper": Objective("paper", None, None,
                       "MiGrATe reward clip((QED - vina - 3)/10, 0, 1) on one target"),
    "F2": Objective("F2", ("F2",), f2, "DOCKSTRING F2: -(vina(F2) + 10(1-QED))"),
    "promiscuous_PPAR": Objective(
        "promiscuous_PPAR", ("PPARA", "PPARD", "PPARG"), promiscuous_ppar,
        "DOCKSTRING promiscuous PPAR: -(max vina over PPARA/D/G + 10(1-QED))",
    ),
    "selective_JAK2": Objective(
        "selective_JAK2", ("JAK2", "LCK"), selective_jak2,
        "DOCKSTRING selective JAK2: -(vina(JAK2) - min(vina(LCK) + 8.1, 0) + 10(1-QED))",
    ),
}


def score(objective: Objective, vina: Mapping[str, float], qed: float,
          target: str) -> tuple[float, dict[str, float]]:
    """(score to maximise, extra info) for one molecule whose dockings all succeeded."""
    if objective.minimised is None:
        return paper_reward(vina[target], qed), {}
    value = objective.minimised(vina, qed)
    return -value, {"objective": value}
