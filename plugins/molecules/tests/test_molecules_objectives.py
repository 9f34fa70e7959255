"""Fast objectives: QED, similarity, Osimertinib MPO."""

from __future__ import annotations

import math
import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from migrate_opt_molecules.objectives import (
    DRUGS,
    OsimertinibMPOTask,
    QEDTask,
    SimilarityTask,
    clipped,
    geometric_mean,
    max_gaussian,
    min_gaussian,
)
from rdkit import Chem, DataStructs
from rdkit.Chem import QED, AllChem, Descriptors

from migrate_opt import TaskError

MOLS = ["CCO", "CC(=O)Oc1ccccc1C(=O)O", "c1ccc2ccccc2c1", "CN1CCC[C@H]1c1cccnc1"]


def test_qed_matches_rdkit_and_rejects_invalid() -> None:
    evs = QEDTask().evaluate(MOLS + ["C1CC"])
    for s, ev in zip(MOLS, evs):
        assert ev.score == pytest.approx(QED.qed(Chem.MolFromSmiles(s)))
    assert evs[-1].score is None and "error" in evs[-1].info


def test_similarity_matches_legacy_morgan_counts() -> None:
    task = SimilarityTask(drug="celecoxib")
    ref = AllChem.GetMorganFingerprint(Chem.MolFromSmiles(DRUGS["celecoxib"]), 2)
    for s, ev in zip(MOLS, task.evaluate(MOLS)):
        fp = AllChem.GetMorganFingerprint(Chem.MolFromSmiles(s), 2)
        assert ev.score == pytest.approx(DataStructs.TanimotoSimilarity(fp, ref))
        assert not ev.solved


def test_similarity_drug_itself_solves() -> None:
    task = SimilarityTask(drug="Celecoxib")
    ev = task.evaluate([task.target])[0]
    assert ev.score == pytest.approx(1.0) and ev.solved and task.is_solved(ev)


def test_similarity_can_hide_the_drug_name() -> None:
    assert "thiothixene" in SimilarityTask(drug="thiothixene").prompt()
    hidden = SimilarityTask(drug="thiothixene", reveal=False)
    assert "thiothixene" not in hidden.prompt().lower()
    assert hidden.evaluate([hidden.target])[0].solved


def test_similarity_custom_smiles_and_errors() -> None:
    task = SimilarityTask(smiles="OCC", drug="ethanol")
    assert task.target == "CCO" and task.drug == "ethanol"
    with pytest.raises(TaskError, match="choose one of"):
        SimilarityTask(drug="unobtainium")
    with pytest.raises(TaskError, match="cannot read"):
        SimilarityTask(smiles="C1CC")
    with pytest.raises(TaskError, match="fingerprint"):
        SimilarityTask(fingerprint="maccs")


def test_modifiers_by_hand() -> None:
    assert clipped(0.4, 0.8) == pytest.approx(0.5)
    assert clipped(0.9, 0.8) == 1.0 and clipped(-1.0, 0.8) == 0.0
    assert min_gaussian(0.5, 0.85, 0.1) == 1.0
    assert min_gaussian(0.95, 0.85, 0.1) == pytest.approx(math.exp(-0.5))
    assert max_gaussian(120.0, 100.0, 10.0) == 1.0
    assert max_gaussian(80.0, 100.0, 10.0) == pytest.approx(math.exp(-2.0))
    assert geometric_mean([0.25, 1.0]) == pytest.approx(0.5)
    assert geometric_mean([0.0, 1.0]) == 0.0


def test_osimertinib_mpo_combines_its_parts() -> None:
    task = OsimertinibMPOTask()
    for ev in task.evaluate([DRUGS["osimertinib"], "CC(=O)Nc1ccc(O)cc1"]):
        info = ev.info
        mol_parts = [info[k] for k in ("similar", "not_too_similar", "tpsa_over_100",
                                       "logp_under_1")]
        assert ev.score == pytest.approx(geometric_mean(mol_parts), abs=1e-5)
        assert 0.0 <= ev.score <= 1.0
    osi = task.evaluate([DRUGS["osimertinib"]])[0].info
    mol = Chem.MolFromSmiles(DRUGS["osimertinib"])
    assert osi["similar"] == 1.0  # FCFP4 similarity 1, clipped at 0.8
    assert osi["not_too_similar"] == pytest.approx(math.exp(-0.5 * (0.15 / 0.1) ** 2), abs=1e-5)
    assert osi["tpsa"] == pytest.approx(Descriptors.TPSA(mol), abs=1e-3)
    assert osi["logp_under_1"] == pytest.approx(
        math.exp(-0.5 * (Descriptors.MolLogP(mol) - 1.0) ** 2), abs=1e-5)


def test_fast_tasks_pickle_after_use() -> None:
    for task in (SimilarityTask(), OsimertinibMPOTask(), QEDTask()):
        before = task.evaluate(MOLS)
        clone = pickle.loads(pickle.dumps(task))
        assert [e.score for e in clone.evaluate(MOLS)] == [e.score for e in before]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.text(alphabet="CNOSPFIBrclnos()[]=#@+-123456789%.H*", max_size=40),
                max_size=4))
def test_hostile_smiles_score_none_or_a_number(batch: list[str]) -> None:
    for task in (QEDTask(), SimilarityTask(), OsimertinibMPOTask()):
        evs = task.evaluate(batch)
        assert len(evs) == len(batch)
        for ev in evs:
            assert ev.score is None or 0.0 <= ev.score <= 1.0
            assert ev.score is not None or ev.info["error"]
