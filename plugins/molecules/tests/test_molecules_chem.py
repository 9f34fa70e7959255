"""Canonical SMILES, tolerant parsing and drawings."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from migrate_opt_molecules import chem
from migrate_opt_molecules.parsing import parse_smiles
from rdkit import Chem

SMILES_ALPHABET = "CNOSPFIBrcnos()[]=#@+-123456789%/\\.Hl* "


def test_canonical_smiles_is_a_fixed_point_of_rdkit() -> None:
    for s in ["OCC", "C1=CC=CC=C1O", "c1ccccc1O", "N[C@@H](C)C(=O)O"]:
        canon = chem.canonical_smiles(s)
        assert canon is not None
        assert chem.canonical_smiles(canon) == canon
        assert Chem.MolToSmiles(Chem.MolFromSmiles(canon)) == canon
    assert chem.canonical_smiles("OCC") == chem.canonical_smiles("CCO")


@pytest.mark.parametrize("bad", ["", "   ", "C1CC", "xyz", "C(", "[Xx]", "C" * 400, "c1cccc1"])
def test_invalid_smiles_give_none(bad: str) -> None:
    assert chem.canonical_smiles(bad) is None
    assert chem.svg(bad) is None


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=SMILES_ALPHABET, max_size=60))
def test_hostile_smiles_never_raise(text: str) -> None:
    canon = chem.canonical_smiles(text)
    assert canon is None or chem.canonical_smiles(canon) == canon


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_parse_never_raises_on_any_text(text: str) -> None:
    out = parse_smiles(text)
    assert isinstance(out, list) and len(out) <= 1
    assert all(isinstance(s, str) for s in out)


@pytest.mark.parametrize("completion, expected", [
    ('["CCO"]', "CCO"),
    ('Sure! Here it is: ["c1ccccc1O"] hope this helps', "c1ccccc1O"),
    ("```smiles\nCC(=O)Nc1ccc(O)cc1\n```", "CC(=O)Nc1ccc(O)cc1"),
    ('The molecule "CC(C)Cc1ccc(C(C)C(=O)O)cc1" is ibuprofen.', "CC(C)Cc1ccc(C(C)C(=O)O)cc1"),
    ("I propose CCN(CC)CC.", "CCN(CC)CC"),
    ('["not a molecule", "CCO"]', "CCO"),
])
def test_parse_finds_the_smiles(completion: str, expected: str) -> None:
    assert parse_smiles(completion) == [expected]


def test_parse_keeps_a_malformed_json_answer_so_it_counts_as_invalid() -> None:
    assert parse_smiles('["C1CC"]') == ["C1CC"]
    assert parse_smiles("I do not know.") == []


def test_svg_is_inline_svg() -> None:
    out = chem.svg("CCO")
    assert out is not None and out.startswith("<svg") and out.rstrip().endswith("</svg>")
    assert "<?xml" not in out
