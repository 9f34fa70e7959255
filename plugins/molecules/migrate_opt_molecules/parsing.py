"""Tolerant extraction of one SMILES from a model completion.

Models are asked for a JSON list holding one SMILES, but small models wrap it in prose,
code fences or quotes, or forget the brackets. We look in that order of confidence: JSON
lists, then quoted or fenced strings, then bare tokens that look like SMILES; the first
candidate RDKit can read wins."""

from __future__ import annotations

import json
import re

from .chem import MAX_SMILES_LENGTH, mol_from_smiles

_JSON_LIST = re.compile(r"\[[^\[\]]*\]")
_QUOTED = re.compile(r"`{1,3}\s*(?:smiles)?\s*([^`]+?)\s*`{1,3}|\"([^\"\n]+)\"|'([^'\n]+)'",
                     re.IGNORECASE)
_TOKEN = re.compile(r"[A-Za-z0-9@+\-\[\]()=#%/\\.:*]+")
_ORGANIC = re.compile(r"[CcNnOoSsPFIBrl]")
_SMILES_ONLY = re.compile(r"[=#()\[\]1-9]")
MAX_SCAN = 20_000
"""Characters of a completion that are scanned (a runaway completion is not worth more)."""


def _json_strings(text: str) -> list[str]:
    out: list[str] = []
    for match in _JSON_LIST.finditer(text):
        try:
            items = json.loads(match.group(0))
        except ValueError:
            continue
        out.extend(x for x in items if isinstance(x, str))
    return out


def _quoted_strings(text: str) -> list[str]:
    return [next(g for g in m.groups() if g is not None) for m in _QUOTED.finditer(text)]


def _bare_tokens(text: str) -> list[str]:
    tokens = (t.strip(".,:;") for t in _TOKEN.findall(text))
    # Short words ("I", "CO", "NO") are English far more often than SMILES.
    return [t for t in tokens if _ORGANIC.search(t) and (len(t) >= 3 or _SMILES_ONLY.search(t))]


def candidates(completion: str) -> list[str]:
    """Every string of the completion that could be a SMILES, most confident first."""
    text = completion[:MAX_SCAN]
    seen: dict[str, None] = {}
    for group in (_json_strings(text), _quoted_strings(text), _bare_tokens(text)):
        for s in group:
            s = s.strip()
            if s and len(s) <= MAX_SMILES_LENGTH:
                seen.setdefault(s, None)
    return list(seen)


def parse_smiles(completion: str, limit: int = 50) -> list[str]:
    """At most one SMILES: the first candidate RDKit reads, else the first JSON string (so
    a malformed answer is recorded as invalid), else nothing."""
    if not isinstance(completion, str):
        return []
    found = candidates(completion)
    for s in found[:limit]:
        if mol_from_smiles(s) is not None:
            return [s]
    json_items = [s for s in _json_strings(completion[:MAX_SCAN]) if s.strip()]
    return json_items[:1]
