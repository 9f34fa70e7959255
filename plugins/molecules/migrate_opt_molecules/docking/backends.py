"""Docking programs. A backend docks one molecule against one target inside a working
folder it may fill freely, and runs inside a throw-away child process (see ``child.py``),
so it may block, crash or be killed.

``dockstring`` is the reference (AutoDock Vina 1.1.2 as shipped in the dockstring wheel;
scores comparable to published DOCKSTRING numbers); ``vina`` is a faster option (Vina 1.2 +
Meeko, optional extra ``vina``) whose scores are labelled as its own program. Any other
function with the backend signature is named as ``package.module:function`` (the no-Vina
test doubles in ``migrate_opt_molecules.testing`` are)."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

DockFn = Callable[[str, str, Path, int, int], "tuple[float | None, dict[str, Any]]"]
"""``dock(smiles, target, workdir, cpus, seed) -> (vina score or None for no pose, info)``."""


class DockingInputError(Exception):
    """The molecule cannot be docked (bad input, unsupported element...): not worth a retry."""


def environment_bin() -> str:
    """The interpreter's ``bin`` folder, where openbabel-wheel installs ``obabel``: an
    environment that is not activated lacks it on PATH, and dockstring fails."""
    return os.path.dirname(os.path.abspath(sys.executable))


def with_obabel_on_path(env: dict[str, str]) -> dict[str, str]:
    path = env.get("PATH", "")
    if environment_bin() not in path.split(os.pathsep):
        env["PATH"] = environment_bin() + (os.pathsep + path if path else "")
    return env


def dock_dockstring(smiles: str, target: str, workdir: Path, cpus: int,
                    seed: int) -> tuple[float | None, dict[str, Any]]:
    import dockstring

    try:
        t = dockstring.load_target(target, working_dir=workdir)
        vina, extra = t.dock(smiles, num_cpus=cpus, seed=seed)
    except (dockstring.CanonicalizationError, dockstring.ParsingError,
            dockstring.SanityError, dockstring.EmbeddingError,
            dockstring.StructureOptimizationError, dockstring.ProtonationError) as exc:
        raise DockingInputError(f"{type(exc).__name__}: {exc}") from exc
    except FileNotFoundError as exc:
        raise RuntimeError(
            f"{exc}: dockstring needs Open Babel's `obabel`; install it with "
            "pip install 'openbabel-wheel~=3.1.1.0' (not the `openbabel` 3.2 package)"
        ) from exc
    if vina is None:
        return None, {}
    return float(vina), {"affinities": [float(a) for a in extra.get("affinities", [])][:9]}


def dock_vina(smiles: str, target: str, workdir: Path, cpus: int,
              seed: int) -> tuple[float | None, dict[str, Any]]:
    """AutoDock Vina 1.2 through its Python bindings, the ligand prepared by Meeko from an
    RDKit conformer (no Open Babel, no pH 7.4 protonation): 2-3x faster than ``dockstring``
    on the same receptor files and search boxes, but its scores are not comparable to
    published DOCKSTRING numbers."""
    try:
        from meeko import MoleculePreparation, PDBQTWriterLegacy
        from vina import Vina
    except ImportError as exc:
        raise RuntimeError(
            "the vina backend needs: pip install 'vina==1.2.7' meeko scipy gemmi"
        ) from exc
    from dockstring.utils import get_targets_dir, parse_search_box_conf
    from rdkit import Chem
    from rdkit.Chem import AllChem

    mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        raise DockingInputError("RDKit cannot read this SMILES")
    mol = Chem.AddHs(mol)
    params = AllChem.ETKDGv3()
    params.randomSeed = seed % 2**31
    if AllChem.EmbedMolecule(mol, params) != 0:
        raise DockingInputError("RDKit could not embed a 3D conformer")
    AllChem.MMFFOptimizeMolecule(mol)
    pdbqt, ok, error = PDBQTWriterLegacy.write_string(MoleculePreparation().prepare(mol)[0])
    if not ok:
        raise DockingInputError(f"Meeko could not prepare the ligand: {error}")
    box = parse_search_box_conf(get_targets_dir() / f"{target}_conf.txt")
    v = Vina(sf_name="vina", cpu=cpus, seed=seed, verbosity=0)
    v.set_receptor(str(get_targets_dir() / f"{target}_target.pdbqt"))
    v.set_ligand_from_string(pdbqt)
    v.compute_vina_maps(center=[box[f"center_{a}"] for a in "xyz"],
                        box_size=[box[f"size_{a}"] for a in "xyz"])
    v.dock(exhaustiveness=8, n_poses=9)
    energies = [float(e[0]) for e in v.energies(n_poses=9)]
    return (energies[0] if energies else None), {"affinities": energies}


BACKENDS: dict[str, DockFn] = {
    "dockstring": dock_dockstring,
    "vina": dock_vina,
}


def resolve(name: str) -> DockFn:
    """A backend by name, or any function given as ``package.module:function``."""
    if name in BACKENDS:
        return BACKENDS[name]
    if ":" in name:
        module, _, attr = name.partition(":")
        return getattr(importlib.import_module(module), attr)  # type: ignore[no-any-return]
    raise KeyError(name)


def program(name: str, seed: int) -> str:
    """What produced a score: part of the cache key, so scores from different programs,
    versions or seeds never mix."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        if name == "dockstring":
            return f"dockstring-{version('dockstring')}/vina-1.1.2/seed={seed}"
        if name == "vina":
            return f"vina-{version('vina')}+meeko-{version('meeko')}/seed={seed}"
    except PackageNotFoundError:
        return f"{name} (not installed)/seed={seed}"
    return f"{name}/seed={seed}"
