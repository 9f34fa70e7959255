"""RDKit helpers shared by every molecule task: canonical SMILES (the dedup key), QED,
size descriptors and SVG drawings. RDKit's own error log is silenced: invalid SMILES from a
language model are the common case, not an event worth a line on stderr."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from rdkit import Chem, RDLogger
from rdkit.Chem import QED, Descriptors, Lipinski, rdFingerprintGenerator
from rdkit.Chem.Draw import rdMolDraw2D

RDLogger.DisableLog("rdApp.*")

MAX_SMILES_LENGTH = 300
"""Longer strings are rejected before RDKit sees them (no drug is that long, and parsing
pathological inputs is what could be slow)."""


def mol_from_smiles(smiles: str) -> Chem.Mol | None:
    """A sanitised molecule with at least one atom, or None."""
    if not isinstance(smiles, str) or not smiles.strip() or len(smiles) > MAX_SMILES_LENGTH:
        return None
    try:
        mol = Chem.MolFromSmiles(smiles.strip())
    except Exception:  # RDKit raises on a few inputs instead of returning None
        return None
    if mol is None or mol.GetNumAtoms() == 0:
        return None
    return mol


def known_mol(smiles: str) -> Chem.Mol:
    """The molecule of a SMILES the code itself supplies (a reference drug, a validated
    target); a bad one is a bug, so it raises instead of returning None."""
    mol = mol_from_smiles(smiles)
    if mol is None:
        raise ValueError(f"not a valid reference molecule: {smiles!r}")
    return mol


def canonical_smiles(smiles: str) -> str | None:
    """RDKit canonical isomeric SMILES, or None for an invalid molecule.

    RDKit's canonical form is not idempotent for a few molecules, so the string is re-read
    until it stops changing: the dedup key must be a fixed point."""
    mol = mol_from_smiles(smiles)
    if mol is None:
        return None
    out = Chem.MolToSmiles(mol)
    for _ in range(3):
        again = mol_from_smiles(out)
        if again is None:
            return None
        nxt = Chem.MolToSmiles(again)
        if nxt == out:
            return out
        out = nxt
    return out


def qed(mol: Chem.Mol) -> float:
    return float(QED.qed(mol))


def size(mol: Chem.Mol) -> dict[str, int]:
    """What makes docking slow: heavy atoms and rotatable bonds (Vina's torsions)."""
    return {
        "heavy_atoms": mol.GetNumHeavyAtoms(),
        "rotatable_bonds": int(Lipinski.NumRotatableBonds(mol)),
    }


def properties(mol: Chem.Mol) -> dict[str, float]:
    return {
        "logp": float(Descriptors.MolLogP(mol)),
        "tpsa": float(Descriptors.TPSA(mol)),
        "mol_wt": float(Descriptors.MolWt(mol)),
    }


@lru_cache(maxsize=8)
def morgan_generator(radius: int, features: bool) -> Any:
    """Unhashed Morgan count fingerprints, as GuacaMol's ECFP4/ECFP6/FCFP4 (the same
    values as the legacy ``GetMorganFingerprint``)."""
    extra = (
        {"atomInvariantsGenerator": rdFingerprintGenerator.GetMorganFeatureAtomInvGen()}
        if features else {}
    )
    return rdFingerprintGenerator.GetMorganGenerator(radius=radius, **extra)


FINGERPRINTS = {"ecfp4": (2, False), "ecfp6": (3, False), "fcfp4": (2, True)}


def fingerprint(mol: Chem.Mol, kind: str = "ecfp4") -> Any:
    radius, features = FINGERPRINTS[kind]
    return morgan_generator(radius, features).GetSparseCountFingerprint(mol)


def svg(smiles: str, width: int = 320, height: int = 240) -> str | None:
    """An inline SVG drawing of the molecule (no XML header), or None if invalid."""
    mol = mol_from_smiles(smiles)
    if mol is None:
        return None
    drawer = rdMolDraw2D.MolDraw2DSVG(width, height)
    rdMolDraw2D.PrepareAndDrawMolecule(drawer, mol)
    drawer.FinishDrawing()
    text = drawer.GetDrawingText()
    start = text.find("<svg")
    return text[start:] if start >= 0 else text
