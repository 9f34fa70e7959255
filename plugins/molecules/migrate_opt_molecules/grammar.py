"""The grammar of a molecule answer: a JSON list holding one SMILES string.

It covers SMILES syntax (OpenSMILES): organic-subset atoms (``B C N O P S F Cl Br I``),
aromatic atoms (``b c n o p s``), bracket atoms (``[13CH3]``, ``[C@@H]``, ``[NH4+]``,
``[se]``), bonds (``- = # $ : / \\``, the backslash escaped as JSON writes it), branches
nested up to :data:`MAX_BRANCH_DEPTH` deep, ring closures ``1``-``5`` and dot-separated
parts. Beyond syntax it asks that every ring closure is closed (each ring digit appears an
even number of times outside bracket atoms). Valences and aromaticity are not checked:
RDKit judges those when the answer is parsed.

The SMILES is one lexeme (a regular language, which bounded nesting makes it), so that the
ring-closure rule can be intersected with it. Its length is not bounded: llguidance's
``max_tokens`` on it ends the lexeme where the count runs out, valid or not (measured: 17 of
40 SmolLM2 answers closed mid-branch), so a runaway answer is cut by the task's token cap
instead, and is then visibly incomplete."""

from __future__ import annotations

from migrate_opt import Grammar

ELEMENTS = (
    "He Li Be Ne Na Mg Al Si Cl Ar Ca Sc Ti Cr Mn Fe Co Ni Cu Zn Ga Ge As Se Br Kr Rb Sr Zr "
    "Nb Mo Tc Ru Rh Pd Ag Cd In Sn Sb Te Xe Cs Ba La Ce Pr Nd Pm Sm Eu Gd Tb Dy Ho Er Tm Yb "
    "Lu Hf Ta Re Os Ir Pt Au Hg Tl Pb Bi Po At Rn Fr Ra Ac Th Pa Np Pu Am Cm Bk Cf Es Fm Md "
    "No Lr Rf Db Sg Bh Hs Mt Ds Rg Cn Nh Fl Mc Lv Ts Og H B C N O F P S K V Y I W U"
).split()
"""Element symbols a bracket atom may hold (two letters first: the lexer is greedy)."""
MAX_BRANCH_DEPTH = 5
"""Deepest nesting of branches; the 250k ZINC molecules nest at most 5 deep."""
RING_DIGITS = "12345"
"""Ring-closure numbers: five rings open at once cover all but 48 of the 250k ZINC
molecules, and each number more doubles the states the ring rule needs."""


def _chain(depth: int) -> str:
    """Terminals for a chain whose branches nest at most ``depth`` deep."""
    if depth == 0:
        return 'CHAIN0: BRANCHED0 (LINK? BRANCHED0)*\nBRANCHED0: ATOM RINGS\n'
    return (
        f"CHAIN{depth}: BRANCHED{depth} (LINK? BRANCHED{depth})*\n"
        f'BRANCHED{depth}: ATOM RINGS ("(" LINK? CHAIN{depth - 1} ")")*\n'
        + _chain(depth - 1)
    )


def _rings_closed() -> str:
    # Outside bracket atoms (whose digits are isotopes, H counts and charges), each ring
    # digit opens and then closes a ring: it appears an even number of times.
    parts = []
    for d in RING_DIGITS:
        other = rf"(?:\[[^\]]*\]|[^\[{d}])"
        parts.append(f"/(?:{other}*{d}{other}*{d})*{other}*/")
    return " & ".join(parts)


def smiles_answer_lark() -> str:
    """The whole answer in Lark syntax, ``["`` and ``"]`` included."""
    elements = " | ".join(f'"{e}"' for e in ELEMENTS)
    return rf"""
start: "[\"" SMILES "\"]"
SMILES: CHAIN{MAX_BRANCH_DEPTH} & RINGS_CLOSED
RINGS_CLOSED: {_rings_closed()}
{_chain(MAX_BRANCH_DEPTH)}
LINK: BOND | "."
RINGS: (BOND? /[{RING_DIGITS}]/)*
ATOM: ORGANIC | AROMATIC | BRACKET
BRACKET: "[" ISOTOPE? SYMBOL CHIRAL? HCOUNT? CHARGE? CLASS? "]"
SYMBOL: {elements} | "se" | "as" | AROMATIC | "*"
BOND: "-" | "=" | "#" | "$" | ":" | "/" | "\\\\"
ORGANIC: "Cl" | "Br" | "B" | "C" | "N" | "O" | "P" | "S" | "F" | "I" | "*"
AROMATIC: "b" | "c" | "n" | "o" | "p" | "s"
ISOTOPE: /[0-9]{{1,3}}/
CHIRAL: "@@" | "@"
HCOUNT: /H[0-9]?/
CHARGE: /[+-][0-9]?/ | "++" | "--"
CLASS: /:[0-9]{{1,3}}/
"""


SMILES_ANSWER = Grammar("ebnf", smiles_answer_lark())
"""What molecule tasks declare as their ``answer_grammar``."""
