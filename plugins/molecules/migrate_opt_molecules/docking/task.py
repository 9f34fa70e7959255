"""The ``dockstring`` task: design a molecule for a protein target, scored by AutoDock Vina
docking (the MiGrATe paper's reward) or by an official DOCKSTRING objective."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from migrate_opt import Evaluation, TaskError

from .. import chem
from ..base import MoleculeTask
from .cache import DockResult
from .engine import DOCKSTRING_SEED, DockingConfig, DockingEngine
from .scoring import OBJECTIVES, Objective, score

DOCKABLE_ELEMENTS = frozenset({"C", "N", "O", "S", "P", "F", "Cl", "Br", "I", "H"})
"""Elements Vina's atom typing (via dockstring and Open Babel) handles; boron, silicon and
metals fail in the pipeline, so they are rejected before a docking process starts."""


@lru_cache(maxsize=1)
def target_names() -> tuple[str, ...]:
    from dockstring import list_all_target_names

    return tuple(sorted(list_all_target_names()))


class DockstringTask(MoleculeTask):
    """Design a molecule that docks well to a protein target and is drug-like.

    Options (also ``migrate-opt run dockstring --OPTION``): ``target``; ``objective``
    (paper, F2, promiscuous_PPAR, selective_JAK2); ``backend``; ``dock_timeout`` seconds
    per docking; ``cpus`` per docking; ``parallel`` dockings; ``cache``/``cache_path``;
    ``max_heavy_atoms``/``max_rotatable_bonds`` (larger molecules are invalid at once);
    ``dock_seed``; ``tmp_dir``. They are named apart from the CLI's own ``--timeout``
    (the executor's) and ``--seed`` (the run's)."""

    name = "dockstring"
    default_group_size = 5  # the paper's group for Dockstring
    environment_options = frozenset({"backend", "dock_timeout", "cpus", "parallel", "cache",
                                     "cache_path", "tmp_dir"})
    """How and where this machine docks. ``backend`` may name code (``module:function``),
    so it is never stored in nor read from a study file: only the person running gives it
    (a registered name or their own function); the rest are limits and paths to write."""
    max_new_tokens = 256

    def __init__(
        self,
        target: str = "ABL1",
        objective: str = "paper",
        backend: str = "dockstring",
        dock_timeout: float | None = 600.0,
        cpus: int = 1,
        parallel: int = 2,
        cache: bool = True,
        cache_path: str | None = None,
        max_heavy_atoms: int = 40,
        max_rotatable_bonds: int = 12,
        dock_seed: int = DOCKSTRING_SEED,
        tmp_dir: str | None = None,
    ) -> None:
        self.objective = _objective(objective)
        self.target = target.upper() if self.objective.targets is None else "+".join(
            self.objective.targets)
        if self.objective.targets is None and self.target not in target_names():
            raise TaskError(
                f"unknown dockstring target {target!r}; choose one of {', '.join(target_names())}"
            )
        if max_heavy_atoms < 1 or max_rotatable_bonds < 0:
            raise TaskError("max_heavy_atoms must be >= 1 and max_rotatable_bonds >= 0")
        self.max_heavy_atoms = max_heavy_atoms
        self.max_rotatable_bonds = max_rotatable_bonds
        self.docking = DockingConfig(backend=backend, timeout=dock_timeout, cpus=cpus,
                                     parallel=parallel, seed=dock_seed, cache=cache,
                                     cache_path=cache_path, tmp_dir=tmp_dir)
        self._engine: DockingEngine | None = None

    @property
    def targets(self) -> tuple[str, ...]:
        return self.objective.targets or (self.target,)

    @property
    def engine(self) -> DockingEngine:
        if self._engine is None:
            self._engine = DockingEngine(self.docking)
        return self._engine

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_engine": None}  # rebuilt where it is used

    @property
    def goal(self) -> str:  # type: ignore[override]
        if self.objective.name == "paper":
            what = f"binds strongly to the protein {self.target}"
        elif self.objective.name == "selective_JAK2":
            what = "binds strongly to the protein JAK2 but not to LCK"
        else:
            what = "binds strongly to the protein(s) " + ", ".join(self.targets)
        return (
            f"Design a new drug-like molecule that {what}: a low AutoDock Vina docking score "
            f"and a high QED drug-likeness. Keep it at most {self.max_heavy_atoms} heavy atoms."
        )

    # -- evaluation ---------------------------------------------------------------------
    def evaluate(self, solutions: Sequence[str]) -> list[Evaluation]:
        checked = {s: self.check(s) for s in solutions}
        valid = [s for s, c in checked.items() if isinstance(c, dict)]
        jobs = [(t, s) for s in valid for t in self.targets]
        docked = dict(zip(jobs, self.engine.dock(jobs)))
        out = []
        for s in solutions:
            c = checked[s]
            out.append(c if isinstance(c, Evaluation) else self._combine(s, c, docked))
        return out

    def check(self, smiles: str) -> dict[str, Any] | Evaluation:
        """QED and size of a dockable molecule, or an invalid Evaluation saying why not."""
        mol = chem.mol_from_smiles(smiles)
        if mol is None:
            return Evaluation.invalid("RDKit cannot read this SMILES", smiles=smiles)
        from rdkit import Chem

        if len(Chem.GetMolFrags(mol)) != 1:
            return Evaluation.invalid("several fragments: dock one molecule", smiles=smiles)
        bad = sorted({a.GetSymbol() for a in mol.GetAtoms()} - DOCKABLE_ELEMENTS)
        if bad:
            return Evaluation.invalid(f"element(s) {', '.join(bad)} cannot be docked",
                                      smiles=smiles)
        if any(a.GetNumRadicalElectrons() for a in mol.GetAtoms()):
            return Evaluation.invalid("radicals cannot be docked", smiles=smiles)
        info: dict[str, Any] = chem.size(mol)
        if info["heavy_atoms"] > self.max_heavy_atoms:
            return Evaluation.invalid(
                f"too large to dock: {info['heavy_atoms']} heavy atoms > {self.max_heavy_atoms}",
                smiles=smiles, **info)
        if info["rotatable_bonds"] > self.max_rotatable_bonds:
            return Evaluation.invalid(
                f"too flexible to dock: {info['rotatable_bonds']} rotatable bonds > "
                f"{self.max_rotatable_bonds}", smiles=smiles, **info)
        info["qed"] = round(chem.qed(mol), 6)
        return info

    def _combine(self, smiles: str, info: dict[str, Any],
                 docked: Mapping[tuple[str, str], DockResult]) -> Evaluation:
        results = {t: docked[(t, smiles)] for t in self.targets}
        info = {**info, "seconds": round(sum(r.seconds or 0.0 for r in results.values()
                                             if not r.cached), 3),
                "cached": all(r.cached for r in results.values())}
        failed = {t: r for t, r in results.items() if not r.ok}
        if failed:
            reason = "; ".join(f"{t}: {r.status} ({r.error})" for t, r in failed.items())
            return Evaluation.invalid(reason, **info)
        vina = {t: float(r.vina) for t, r in results.items()}  # type: ignore[arg-type]
        value, extra = score(self.objective, vina, info["qed"], self.target)
        shown = vina if len(vina) > 1 else next(iter(vina.values()))
        return Evaluation(value, {**info, **extra, "vina": shown})

    def settings(self) -> dict[str, Any]:
        return {"task": self.name, "target": self.target, "objective": self.objective.name,
                "program": self.docking.program, "dock_timeout": self.docking.timeout,
                "max_heavy_atoms": self.max_heavy_atoms,
                "max_rotatable_bonds": self.max_rotatable_bonds}


def _objective(name: str) -> Objective:
    by_lower = {k.lower(): v for k, v in OBJECTIVES.items()}
    key = name.strip().lower().replace("-", "_")
    if key not in by_lower:
        raise TaskError(f"unknown objective {name!r}; choose one of {', '.join(OBJECTIVES)}")
    return by_lower[key]
