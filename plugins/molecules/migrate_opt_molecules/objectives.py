"""Fast objectives that need no docking (hundreds to thousands of molecules a second), for
benchmarks that fit a CPU: QED, similarity to a named drug (GuacaMol's rediscovery), and
GuacaMol's Osimertinib MPO (a multi-property objective, also in PMO)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from rdkit import DataStructs

from migrate_opt import Evaluation, TaskError

from . import chem
from .base import MoleculeTask

DRUGS: dict[str, str] = {
    # GuacaMol's rediscovery and similarity targets, plus a few kinase inhibitors.
    "celecoxib": "CC1=CC=C(C=C1)C1=CC(=NN1C1=CC=C(C=C1)S(N)(=O)=O)C(F)(F)F",
    "troglitazone": "Cc1c(C)c2OC(C)(COc3ccc(CC4SC(=O)NC4=O)cc3)CCc2c(C)c1O",
    "thiothixene": "CN(C)S(=O)(=O)c1ccc2Sc3ccccc3C(=CCCN4CCN(C)CC4)c2c1",
    "aripiprazole": "Clc4cccc(N3CCN(CCCCOc2ccc1c(NC(=O)CC1)c2)CC3)c4Cl",
    "albuterol": "CC(C)(C)NCC(O)c1ccc(O)c(CO)c1",
    "mestranol": "COc1ccc2[C@H]3CC[C@@]4(C)[C@@H](CC[C@@]4(O)C#C)[C@@H]3CCc2c1",
    "imatinib": "Cc1ccc(NC(=O)c2ccc(CN3CCN(C)CC3)cc2)cc1Nc1nccc(-c2cccnc2)n1",
    "osimertinib": "COc1cc(N(C)CCN(C)C)c(NC(=O)C=C)cc1Nc2nccc(n2)c3cn(C)c4ccccc34",
    "aspirin": "CC(=O)Oc1ccccc1C(=O)O",
}


class FastMoleculeTask(MoleculeTask):
    """A molecule task scored in-process by a cheap RDKit function of the molecule."""

    def score(self, mol: Any) -> tuple[float, dict[str, Any]]:
        """Score of a valid RDKit molecule and what to keep in ``info``."""
        raise NotImplementedError

    def evaluate(self, solutions: Sequence[str]) -> list[Evaluation]:
        out = []
        for s in solutions:
            mol = chem.mol_from_smiles(s)
            if mol is None:
                out.append(Evaluation.invalid("RDKit cannot read this SMILES", smiles=s))
                continue
            try:
                value, info = self.score(mol)
            except Exception as exc:  # RDKit descriptors fail on a few exotic molecules
                out.append(Evaluation.invalid(f"{type(exc).__name__}: {exc}", smiles=s))
                continue
            out.append(Evaluation(value, info, solved=self._solved(s, value)))
        return out

    def _solved(self, smiles: str, value: float) -> bool:
        return False


class QEDTask(FastMoleculeTask):
    """Maximise QED drug-likeness (Bickerton 2012); the best known value is about 0.948."""

    name = "qed"
    goal = (
        "Design a drug-like molecule with the highest possible QED (quantitative estimate of "
        "drug-likeness, between 0 and 1)."
    )

    def score(self, mol: Any) -> tuple[float, dict[str, Any]]:
        value = chem.qed(mol)
        return value, {"qed": round(value, 6)}


def resolve_drug(drug: str | None, smiles: str | None) -> tuple[str, str]:
    """(name, canonical SMILES) of the target molecule of a similarity task: a named drug,
    or any molecule given as SMILES (named ``drug`` if given)."""
    if smiles is not None:
        canon = chem.canonical_smiles(smiles)
        if canon is None:
            raise TaskError(f"RDKit cannot read the target SMILES {smiles!r}; give a valid one")
        return drug or "the target molecule", canon
    key = (drug or "celecoxib").strip().lower()
    if key not in DRUGS:
        raise TaskError(
            f"unknown drug {drug!r}; choose one of {', '.join(sorted(DRUGS))} or pass --smiles"
        )
    canon = chem.canonical_smiles(DRUGS[key])
    assert canon is not None, key
    return key, canon


class SimilarityTask(FastMoleculeTask):
    """Rediscover a named drug: Tanimoto similarity on unhashed Morgan count fingerprints
    (GuacaMol's rediscovery uses ECFP4). The drug itself scores 1.0 and solves the task."""

    name = "similarity"
    optimum = 1.0

    def __init__(
        self, drug: str | None = None, smiles: str | None = None, fingerprint: str = "ecfp4",
        reveal: bool = True,
    ) -> None:
        """``reveal=False`` keeps the drug's name out of the prompt: a language model that
        knows the drug's SMILES would otherwise just recite it."""
        if fingerprint not in chem.FINGERPRINTS:
            raise TaskError(
                f"unknown fingerprint {fingerprint!r}; choose one of {', '.join(chem.FINGERPRINTS)}"
            )
        self.drug, self.target = resolve_drug(drug, smiles)
        self.fingerprint = fingerprint
        self.reveal = reveal
        self._target_fp: Any = None

    @property
    def goal(self) -> str:  # type: ignore[override]
        what = f"the molecule {self.drug} (a known drug)" if self.reveal else (
            "a hidden drug molecule")
        return (
            f"Find {what} without being told its structure: design molecules as similar as "
            "possible to it; the score is the Tanimoto similarity of Morgan fingerprints, 1.0 "
            "for the target itself."
        )

    def score(self, mol: Any) -> tuple[float, dict[str, Any]]:
        if self._target_fp is None:
            self._target_fp = chem.fingerprint(chem.known_mol(self.target), self.fingerprint)
        value = DataStructs.TanimotoSimilarity(chem.fingerprint(mol, self.fingerprint),
                                               self._target_fp)
        return float(value), {"similarity": round(float(value), 6)}

    def _solved(self, smiles: str, value: float) -> bool:
        return smiles == self.target

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_target_fp": None}  # RDKit vectors are rebuilt lazily

    def settings(self) -> dict[str, Any]:
        return {"task": self.name, "drug": self.drug, "target": self.target,
                "fingerprint": self.fingerprint, "reveal": self.reveal}


# -- GuacaMol score modifiers (guacamol/score_modifier.py) -------------------------------
def clipped(x: float, upper_x: float, lower_x: float = 0.0) -> float:
    """Linear from 0 at ``lower_x`` to 1 at ``upper_x``, clipped."""
    return min(max((x - lower_x) / (upper_x - lower_x), 0.0), 1.0)


def min_gaussian(x: float, mu: float, sigma: float) -> float:
    """1 below ``mu``, a Gaussian fall-off above (penalises too-high values)."""
    return 1.0 if x <= mu else math.exp(-0.5 * ((x - mu) / sigma) ** 2)


def max_gaussian(x: float, mu: float, sigma: float) -> float:
    """1 above ``mu``, a Gaussian fall-off below (penalises too-low values)."""
    return 1.0 if x >= mu else math.exp(-0.5 * ((x - mu) / sigma) ** 2)


class OsimertinibMPOTask(FastMoleculeTask):
    """GuacaMol's Osimertinib MPO (also a PMO objective): geometric mean of FCFP4 similarity
    to osimertinib (clipped at 0.8), ECFP6 similarity not above 0.85, TPSA at least 100 and
    logP at most 1 (Gaussian fall-offs). Osimertinib itself scores only 0.13 (logP 4.5)."""

    name = "osimertinib-mpo"
    goal = (
        "Design a molecule similar to the drug osimertinib (an EGFR inhibitor) but not too "
        "similar, with a high polar surface area (TPSA of 100 or more) and a low logP (1 or "
        "less)."
    )

    def __init__(self) -> None:
        self._ref: dict[str, Any] | None = None

    def _fps(self) -> dict[str, Any]:
        if self._ref is None:
            mol = chem.known_mol(DRUGS["osimertinib"])
            self._ref = {k: chem.fingerprint(mol, k) for k in ("fcfp4", "ecfp6")}
        return self._ref

    def score(self, mol: Any) -> tuple[float, dict[str, Any]]:
        ref = self._fps()
        sim_f = DataStructs.TanimotoSimilarity(chem.fingerprint(mol, "fcfp4"), ref["fcfp4"])
        sim_e = DataStructs.TanimotoSimilarity(chem.fingerprint(mol, "ecfp6"), ref["ecfp6"])
        props = chem.properties(mol)
        parts = {
            "similar": clipped(sim_f, 0.8),
            "not_too_similar": min_gaussian(sim_e, 0.85, 0.1),
            "tpsa_over_100": max_gaussian(props["tpsa"], 100.0, 10.0),
            "logp_under_1": min_gaussian(props["logp"], 1.0, 1.0),
        }
        value = geometric_mean(list(parts.values()))
        return value, {**parts, **props}

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_ref": None}


def geometric_mean(values: Sequence[float]) -> float:
    if any(v <= 0.0 for v in values):
        return 0.0
    return math.exp(sum(math.log(v) for v in values) / len(values))


FAST_TASKS: dict[str, tuple[Callable[..., FastMoleculeTask], str]] = {
    "qed": (QEDTask, "maximise QED drug-likeness (RDKit; fast, no docking)"),
    "similarity": (SimilarityTask, "rediscover a named drug: Morgan-fingerprint Tanimoto (fast)"),
    "osimertinib-mpo": (OsimertinibMPOTask, "GuacaMol/PMO Osimertinib MPO (fast)"),
}
