"""What every molecule task shares: prompts (a JSON list with one SMILES),
tolerant parsing, canonical SMILES as the dedup key, SVG drawings and the Graph-GA search
space. Subclasses say what is optimised (``goal``) and how it is scored (``evaluate``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from migrate_opt import Record, SearchSpace, Task

from . import chem
from .grammar import SMILES_ANSWER
from .parsing import parse_smiles

ANSWER_FORMAT = (
    'Answer with a JSON list holding exactly one SMILES string, e.g. ["CC(=O)Nc1ccc(O)cc1"], '
    "and nothing else."
)
SYSTEM_PROMPT = (
    "You are an expert medicinal chemist. You design molecules and write them as valid "
    "SMILES strings."
)


class MoleculeTask(Task):
    """Base class of the molecule tasks: a solution is a canonical SMILES string."""

    system_prompt = SYSTEM_PROMPT
    # The answer opens as a JSON list and ends when the string and list close.
    response_prefix = '["'
    stop = ('"]',)
    answer_grammar = SMILES_ANSWER
    """Sampling writes only SMILES syntax inside the JSON list (see :mod:`.grammar`)."""
    default_group_size = 8
    max_new_tokens = 64

    goal: str = "Propose a molecule."
    """One or two sentences saying what a good molecule is; the prompts are built on it."""

    # -- prompts -------------------------------------------------------------------------
    def prompt(self) -> str:
        return (
            f"{self.goal} Every molecule you propose is scored; proposing a molecule that "
            f"was already proposed scores nothing. {ANSWER_FORMAT}"
        )

    def neighborhood_prompt(self, parent: Record) -> str:
        return (
            f"{self.goal}\n\nA good molecule found so far is {self.render([parent.solution])} "
            f"(score {_score(parent)}). Propose a similar molecule that scores higher: a small "
            f"change of it (add, remove or replace an atom, a bond or a group). {ANSWER_FORMAT}"
        )

    def opro_prompt(self, history: Sequence[Record]) -> str:
        lines = [f"{self.render([r.solution])} -> score {_score(r)}" for r in history]
        return (
            f"{self.goal}\n\nMolecules proposed so far, from worst to best:\n"
            + "\n".join(lines)
            + f"\nPropose a new molecule that scores higher than all of them. {ANSWER_FORMAT}"
        )

    # -- parsing -------------------------------------------------------------------------
    def parse(self, completion: str) -> list[str]:
        return parse_smiles(completion)

    def canonicalize(self, solution: str) -> str | None:
        return chem.canonical_smiles(solution)

    def render(self, solutions: Sequence[str]) -> str:
        return json.dumps(list(solutions))

    # -- extras --------------------------------------------------------------------------
    def html(self, solution: str) -> str | None:
        return chem.svg(solution)

    def search_space(self) -> SearchSpace:
        from .space import GraphGASpace

        return GraphGASpace()

    def settings(self) -> dict[str, Any]:
        return {"task": self.name}


def _score(record: Record) -> str:
    return "invalid" if record.score is None else f"{record.score:.3f}"
