"""The SMILES answer grammar: it accepts real molecules, rejects what is not SMILES syntax,
and constrains the tiny model's answers."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

pytest.importorskip("llguidance")

from migrate_opt_molecules.grammar import SMILES_ANSWER  # noqa: E402
from migrate_opt_molecules.objectives import DRUGS, QEDTask  # noqa: E402
from migrate_opt_molecules.space import ZincPool, zinc_smiles  # noqa: E402


def test_molecule_tasks_declare_the_smiles_grammar_and_it_allows_their_prefix() -> None:
    task = QEDTask()
    assert task.answer_grammar is SMILES_ANSWER
    assert SMILES_ANSWER.allows_prefix(task.response_prefix)


def test_every_drug_and_a_zinc_sample_is_accepted_as_written_and_canonical() -> None:
    raw = list(zinc_smiles()[:100])
    canonical = ZincPool()[:100]
    for smiles in [*DRUGS.values(), *raw, *canonical]:
        assert SMILES_ANSWER.matches(QEDTask().render([smiles])), smiles


@pytest.mark.parametrize(
    "answer",
    ['["hello"]', '["C(C"]', '["[Xx]"]', '["C..C"]', '[""]', '["C1CC1", "CC"]', '["C\\C"]',
     "CCO", '["CCO"] and more', '["C1CC"]', '["c1ccc2ccccc1"]', '["C(C(C(C(C(C(C)C)C)C)C)C)C"]'],
)
def test_what_is_not_smiles_syntax_in_one_json_string_is_rejected(answer: str) -> None:
    """Syntax errors, unclosed rings and branches nested deeper than ZINC ever does."""
    assert not SMILES_ANSWER.matches(answer)


def test_backslash_bonds_are_written_escaped_as_json_needs() -> None:
    assert SMILES_ANSWER.matches(json.dumps(["F/C=C\\F"]))


def test_the_tiny_model_writes_only_grammatical_answers_under_it() -> None:
    pytest.importorskip("torch")
    from migrate_opt.policy.tiny import tiny_policy

    task = QEDTask()
    cap = 48
    spec = replace(task.prompt_spec(), max_new_tokens=cap)
    gens = tiny_policy(seed=1).generate([task.prompt()] * 8, spec, seed=3)
    # The random model rambles: an answer cut by the token cap is a grammatical start.
    complete = [g for g in gens if len(g.token_ids) < cap]
    assert complete and all(SMILES_ANSWER.matches(g.text) for g in complete)
    assert all(SMILES_ANSWER.allows_prefix(g.text) for g in gens), [g.text for g in gens]
