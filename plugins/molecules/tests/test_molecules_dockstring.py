"""The dockstring task: input checks before docking, reward assembly, failures as None,
and real AutoDock Vina dockings (one small molecule by default; the rest slow)."""

from __future__ import annotations

import os
import pickle
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from migrate_opt_molecules import chem
from migrate_opt_molecules.docking.engine import TMP_PREFIX
from migrate_opt_molecules.docking.scoring import paper_reward
from migrate_opt_molecules.docking.task import DockstringTask, target_names
from migrate_opt_molecules.testing import CRASH, FAKE, HANG

from migrate_opt import ConfigError, Evaluation, TaskError
from migrate_opt.testing.events import wait_for

HOSTILE = ["", "C1CC", "xyz", "[Na+].[Cl-]", "CCO.CCN", "[CH3]", "B(O)(O)c1ccccc1",
           "C[Si](C)(C)C", "[Fe]", "[Pt](N)(N)(Cl)Cl", "C" * 500, "c1cccc1"]


def _task(tmp_path: Path, **kw) -> DockstringTask:  # type: ignore[no-untyped-def]
    (tmp_path / "work").mkdir(exist_ok=True)
    kw.setdefault("backend", FAKE)
    return DockstringTask(cache_path=str(tmp_path / "cache.sqlite"),
                          tmp_dir=str(tmp_path / "work"), **kw)


def test_58_targets_and_option_errors() -> None:
    assert len(target_names()) == 58 and "ABL1" in target_names()
    with pytest.raises(TaskError, match="choose one of"):
        DockstringTask(target="NOPE")
    with pytest.raises(TaskError, match="objective"):
        DockstringTask(objective="best")
    with pytest.raises(ConfigError, match="timeout"):
        DockstringTask(dock_timeout=-1)
    assert DockstringTask(objective="f2").targets == ("F2",)
    assert DockstringTask(objective="selective-jak2").targets == ("JAK2", "LCK")


def test_hostile_inputs_are_invalid_without_docking(tmp_path: Path) -> None:
    task = _task(tmp_path)
    evs = task.evaluate(HOSTILE)
    assert all(e.score is None and e.info["error"] for e in evs)
    assert task.engine.dockings == 0
    reasons = dict(zip(HOSTILE, (e.info["error"] for e in evs)))
    assert "fragments" in reasons["CCO.CCN"]
    assert "B" in reasons["B(O)(O)c1ccccc1"] and "Si" in reasons["C[Si](C)(C)C"]
    assert "radical" in reasons["[CH3]"]


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="CNOSPFIBrclnos()[]=#@+-123456789%.H", max_size=50))
def test_check_never_raises(text: str) -> None:
    task = DockstringTask(backend=FAKE, cache=False)
    out = task.check(text)
    assert isinstance(out, (dict, Evaluation))
    if isinstance(out, Evaluation):
        assert out.score is None


def test_size_limits_reject_before_docking(tmp_path: Path) -> None:
    task = _task(tmp_path, max_heavy_atoms=10, max_rotatable_bonds=3)
    big, floppy, ok = "c1ccccc1-c1ccccc1", "CCCCCCCCO", "CCO"
    evs = task.evaluate([big, floppy, ok])
    assert "too large" in evs[0].info["error"] and evs[0].info["heavy_atoms"] == 12
    assert "too flexible" in evs[1].info["error"] and evs[1].info["rotatable_bonds"] == 6
    assert evs[2].score is not None and task.engine.dockings == 1


def test_paper_reward_assembled_from_vina_and_qed(tmp_path: Path) -> None:
    task = _task(tmp_path)
    smiles = "c1ccc2ccccc2c1"
    ev = task.evaluate([smiles])[0]
    qed = chem.qed(chem.mol_from_smiles(smiles))
    assert ev.info["vina"] == -0.25 * 10  # the fake backend's score
    assert ev.info["qed"] == pytest.approx(qed, abs=1e-6)
    assert ev.score == pytest.approx(paper_reward(-2.5, qed), abs=1e-6)


def test_official_objective_docks_each_target_once(tmp_path: Path) -> None:
    task = _task(tmp_path, objective="promiscuous_PPAR")
    ev = task.evaluate(["CCO", "CCO"])[0]
    assert set(ev.info["vina"]) == {"PPARA", "PPARD", "PPARG"}
    assert ev.score == pytest.approx(-ev.info["objective"])
    assert task.engine.dockings == 3
    f2 = _task(tmp_path, objective="F2")
    f2.evaluate(["CCO"])
    assert f2.engine.dockings == 1


def test_failures_score_none_with_reason_and_run_goes_on(tmp_path: Path) -> None:
    crash = _task(tmp_path, backend=CRASH)
    ev = crash.evaluate(["CCO"])[0]
    assert ev.score is None and "crash" in ev.info["error"]
    hang = _task(tmp_path, backend=HANG, dock_timeout=1.0)
    evs = hang.evaluate(["CCO", "CCN"])
    assert all(e.score is None and "timeout" in e.info["error"] for e in evs)
    assert not os.listdir(tmp_path / "work")


def test_task_pickles_and_evaluates_in_a_copy(tmp_path: Path) -> None:
    task = _task(tmp_path)
    task.evaluate(["CCO"])
    clone = pickle.loads(pickle.dumps(task))
    ev = clone.evaluate(["CCO"])[0]
    assert ev.info["cached"] and clone.engine.dockings == 0


def test_real_docking_of_a_small_molecule(tmp_path: Path) -> None:
    """AutoDock Vina through dockstring, end to end (about 10-30 s on 2 cores)."""
    task = _task(tmp_path, backend="dockstring", target="ABL1", cpus=2, parallel=1,
                 dock_timeout=300.0)
    start = time.perf_counter()
    ev = task.evaluate(["CCO"])[0]
    assert ev.score is not None, ev.info
    assert -5.0 < ev.info["vina"] < 0.0  # ethanol binds weakly anywhere
    assert ev.score == pytest.approx(paper_reward(ev.info["vina"], ev.info["qed"]), abs=1e-6)
    assert not [d for d in os.listdir(tmp_path / "work") if d.startswith(TMP_PREFIX)]
    again = DockstringTask(backend="dockstring", cache_path=str(tmp_path / "cache.sqlite"))
    hit = time.perf_counter()
    assert again.evaluate(["CCO"])[0].info["vina"] == ev.info["vina"]
    assert time.perf_counter() - hit < 0.5 < time.perf_counter() - start


@pytest.mark.slow
@pytest.mark.parametrize("target, smiles, score", [
    ("ADORA2A", "S(C1=CC(F)=C(C=C1)CCCO)(=O)(=O)N", -6.7),
    ("PDE5A", "O(CCC)C(=O)C=1C=C(OC)C(O)=CC1", -6.9),
    ("MAPK14", "S(NC=1N(N=CC1)C2=CC=CC=C2)(=O)(=O)C=3C=CC=CC3", -7.0),
])
def test_reproduces_dockstring_dataset_scores(tmp_path: Path, target: str, smiles: str,
                                              score: float) -> None:
    """Examples of the published DOCKSTRING dataset shipped in dockstring.dataset, within
    one step of Vina's printed resolution (newer RDKit embeds a slightly different
    conformer: PDE5A gives -6.8 here for the published -6.9)."""
    from dockstring.dataset import random_dataset_tuples

    assert (target, smiles, score) in random_dataset_tuples
    task = _task(tmp_path, backend="dockstring", target=target, cpus=2, parallel=1,
                 dock_timeout=1200.0, cache=False)
    ev = task.evaluate([chem.canonical_smiles(smiles)])[0]
    assert ev.info["vina"] == pytest.approx(score, abs=0.1 + 1e-9)


@pytest.mark.slow
def test_real_vina_timeout_leaves_nothing(tmp_path: Path) -> None:
    """A drug-sized molecule cannot dock in 5 s: Vina is killed, the folder removed."""
    task = _task(tmp_path, backend="dockstring", dock_timeout=5.0, cache=False)
    imatinib = "Cc1ccc(NC(=O)c2ccc(CN3CCN(C)CC3)cc2)cc1Nc1nccc(-c2cccnc2)n1"
    ev = task.evaluate([chem.canonical_smiles(imatinib)])[0]
    assert ev.score is None and "timeout" in ev.info["error"]
    wait_for(lambda: not os.listdir(tmp_path / "work"), "the working folder to go")
    procs = [p for p in os.listdir("/proc") if p.isdigit()]
    cmdlines = []
    for p in procs:
        try:
            cmdlines.append(Path(f"/proc/{p}/cmdline").read_bytes())
        except OSError:
            pass
    assert not [c for c in cmdlines if str(tmp_path).encode() in c]


def test_vina_meeko_backend_scores_apart(tmp_path: Path) -> None:
    """The optional faster backend (extra ``vina``): a real score, cached under its own
    program name so it never mixes with dockstring's."""
    pytest.importorskip("vina")
    pytest.importorskip("meeko")
    task = _task(tmp_path, backend="vina", target="ABL1", cpus=2, parallel=1, dock_timeout=300.0)
    ev = task.evaluate(["CCO"])[0]
    assert ev.score is not None, ev.info
    assert -5.0 < ev.info["vina"] < 0.0
    assert task.docking.program.startswith("vina-1.2")
    other = _task(tmp_path, backend=FAKE)
    assert other.engine.cache is not None and task.engine.cache is not None
    assert other.engine.cache.get(other.docking.program, "ABL1", "CCO") is None
