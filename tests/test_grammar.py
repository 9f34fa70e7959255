"""Answer grammars: validation at construction, matching, the logits processor's mask on a
hand-built case, and constrained generation on the tiny model."""

from __future__ import annotations

import json
import pickle
import re
from dataclasses import replace

import pytest

pytest.importorskip("llguidance")

from migrate_opt import PromptSpec  # noqa: E402
from migrate_opt.errors import ConfigError  # noqa: E402
from migrate_opt.task.grammar import Grammar  # noqa: E402

WORDS = json.dumps({"type": "array", "items": {"type": "string", "pattern": "^[a-z]{1,8}$"},
                    "minItems": 2, "maxItems": 2})  # fmt: skip
PETS = Grammar("regex", r'\["(cat|dog)"\]')
OPENED = PromptSpec(response_prefix='["', stop=('"]',), max_new_tokens=48)


# -- the Grammar value ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kind", "source", "message"),
    [
        ("yaml", "a: b", "kind must be one of"),
        ("regex", "", "needs its source"),
        ("regex", r'\["[a-z+', "unclosed character class"),
        ("json_schema", "{not json", "does not compile"),
        ("json_schema", '{"type": "strin"}', "strin"),
        ("json_schema", "[1, 2]", "is an object"),
        ("ebnf", "start: missing_rule", "missing_rule"),
        ("ebnf", 'root ::= "a" (', "Expected ')'"),
    ],
)
def test_a_grammar_that_cannot_compile_fails_at_construction(kind, source, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        Grammar(kind, source)


def test_a_task_with_a_bad_grammar_fails_at_construction():
    from migrate_opt.testing.toy import ToyTask

    class Broken(ToyTask):
        def __init__(self) -> None:
            super().__init__()
            self.answer_grammar = Grammar("regex", "[0-9")

    with pytest.raises(ConfigError, match="regex grammar does not compile"):
        Broken()


def test_each_kind_matches_whole_answers_only():
    words = Grammar("json_schema", WORDS)
    assert words.matches('["apple", "pear"]')
    # Layout as json.dumps writes it: no other whitespace, so none can be sampled.
    assert not words.matches('["apple","pear"]') and not words.matches('[ "apple", "pear"]')
    assert not words.matches('["Apple", "pear"]') and not words.matches('["apple"]')
    assert PETS.matches('["dog"]') and not PETS.matches('["dog"] ') and not PETS.matches('["do')
    ebnf = Grammar("ebnf", 'start: "(" start ")" | "x"')
    assert ebnf.matches("((x))") and not ebnf.matches("((x)")
    gbnf = Grammar("ebnf", 'root ::= "a" root | "b"')
    assert gbnf.matches("aab") and not gbnf.matches("aba")


def test_prefixes_are_checked_against_the_start_of_the_answer():
    assert PETS.allows_prefix('["') and PETS.allows_prefix('["ca')
    assert not PETS.allows_prefix('["cow')
    PETS.check_prefix('["')
    with pytest.raises(ConfigError, match="rejects the response prefix"):
        PETS.check_prefix("{")


def test_a_grammar_is_a_frozen_picklable_value():
    copy = pickle.loads(pickle.dumps(PETS))
    assert copy == PETS and copy.matches('["cat"]')
    with pytest.raises(AttributeError):
        PETS.source = "x"  # type: ignore[misc]


def test_importing_migrate_opt_imports_neither_torch_nor_llguidance():
    import subprocess
    import sys

    code = "import migrate_opt, sys; print('torch' in sys.modules, 'llguidance' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


# -- the logits processor ------------------------------------------------------------------
torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def policy():
    from migrate_opt.policy.tiny import tiny_policy

    return tiny_policy(seed=0)


def _expected_first_tokens(tokenizer, grammar: Grammar, prefix: str) -> set[int]:
    """Tokens whose text can follow ``prefix``, found by matching bytes, one token at a time."""
    return {
        i for i in range(len(tokenizer))
        if i not in tokenizer.all_special_ids
        and (text := tokenizer.decode([i])) and grammar.allows_prefix(prefix + text)
    }  # fmt: skip


def test_the_processor_masks_exactly_the_tokens_the_grammar_forbids(policy):
    tok = policy.tokenizer
    processor = policy.grammar_constraints.processor(PETS, '["', rows=2)
    vocab = int(policy.model.config.vocab_size)
    prompt = torch.zeros(2, 5, dtype=torch.long)
    scores = processor(prompt, torch.zeros(2, vocab))
    allowed = [set(torch.nonzero(row > float("-inf")).flatten().tolist()) for row in scores]
    expected = _expected_first_tokens(tok, PETS, '["')
    assert allowed[0] == allowed[1] == expected
    cat, dog = (tok(w, add_special_tokens=False)["input_ids"] for w in ("cat", "dog"))
    assert len(cat) == len(dog) == 1 and {cat[0], dog[0]} <= expected
    assert tok("the", add_special_tokens=False)["input_ids"][0] not in expected
    assert policy.eos_ids[0] not in expected  # the answer is not complete yet
    # Row 0 sampled "cat", row 1 "dog": both must now close the string and the list. The
    # bytes are forced there, and llguidance then allows their canonical tokens only.
    step = torch.cat([prompt, torch.tensor([cat, dog])], dim=1)
    scores = processor(step, torch.zeros(2, vocab))
    close = tok('"]', add_special_tokens=False)["input_ids"]
    assert len(close) == 1
    for row, word in zip(scores, ("cat", "dog")):
        allowed = set(torch.nonzero(row > float("-inf")).flatten().tolist())
        assert close[0] in allowed <= _expected_first_tokens(tok, PETS, f'["{word}')
    step = torch.cat([step, torch.tensor([close, close])], dim=1)
    scores = processor(step, torch.zeros(2, vocab))
    # Complete: only an end token may follow.
    assert set(torch.nonzero(scores[0] > float("-inf")).flatten().tolist()) <= set(policy.eos_ids)


def test_a_finished_row_fed_padding_is_released_not_broken(policy):
    tok = policy.tokenizer
    processor = policy.grammar_constraints.processor(PETS, '["', rows=1)
    vocab = int(policy.model.config.vocab_size)
    processor(torch.zeros(1, 3, dtype=torch.long), torch.zeros(1, vocab))
    junk = tok("the", add_special_tokens=False)["input_ids"][:1]
    scores = processor(torch.tensor([[0, 0, 0, *junk]]), torch.randn(1, vocab))
    assert torch.isfinite(scores).all()  # never an all -inf row


def test_a_prefix_the_grammar_rejects_is_a_clear_error(policy):
    with pytest.raises(ConfigError, match="rejects the response prefix"):
        policy.generate(["x"], PromptSpec(max_new_tokens=4, response_prefix="{", grammar=PETS))


# -- constrained generation ----------------------------------------------------------------
SMILES_LIKE = Grammar("ebnf", r'''
start: "[\"" chain "\"]"
chain: atom (bond? atom)*
atom: ("C" | "N" | "O" | "c") RING? branch?
branch: "(" chain ")"
bond: "=" | "#"
RING: /[1-9]/
''')


@pytest.mark.parametrize(
    "grammar", [Grammar("json_schema", WORDS), PETS, SMILES_LIKE], ids=["json", "regex", "ebnf"]
)
@pytest.mark.parametrize("temperature", [1.0, 0.0])
def test_every_sample_under_a_grammar_matches_it(policy, grammar, temperature):
    from migrate_opt.policy.base import SamplingConfig

    gens = policy.generate(
        ["give two words", "a molecule please", "anything"] * 2,
        replace(OPENED, grammar=grammar), seed=5, sampling=SamplingConfig(temperature=temperature),
    )  # fmt: skip
    assert all(grammar.matches(g.text) for g in gens), [g.text for g in gens]


def test_without_a_grammar_the_tiny_model_writes_no_such_answer(policy):
    """The control for the test above: the grammar, not luck, makes those answers."""
    gens = policy.generate(["give two words"] * 6, OPENED, seed=5)
    assert not any(Grammar("json_schema", WORDS).matches(g.text) for g in gens)


def test_generation_without_a_grammar_builds_no_constraint(policy, monkeypatch):
    from migrate_opt.policy.tiny import tiny_policy

    fresh = tiny_policy(seed=0)
    fresh.generate(["give a word"], PromptSpec(max_new_tokens=6), seed=1)
    assert "grammar_constraints" not in fresh.__dict__  # never built, never in the way


def test_a_grammar_the_free_output_satisfies_changes_nothing(policy):
    """Masking keeps every allowed logit as it was: a grammar allowing exactly the tokens the
    model samples unconstrained gives the same tokens and the same recorded log-probs."""
    prompts = ["give a word", "list two words"]
    free = policy.generate(prompts, PromptSpec(max_new_tokens=10), seed=2)
    eos = set(policy.eos_ids)
    rows = [" ".join(f"<[{t}]>" for t in g.token_ids if t not in eos) for g in free]
    exact = Grammar("ebnf", "start: " + " | ".join(f"({r})" for r in rows))
    constrained = policy.generate(prompts, PromptSpec(max_new_tokens=10, grammar=exact), seed=2)
    assert [g.token_ids for g in constrained] == [g.token_ids for g in free]
    for a, b in zip(constrained, free):
        assert a.logprobs == pytest.approx(b.logprobs, abs=1e-6)


def test_constrained_tokens_are_recorded_under_the_unconstrained_model(policy):
    """The decision: behaviour log-probs are the unconstrained model's (what training's
    ``token_logprobs`` scores), not renormalised over the allowed tokens."""
    from migrate_opt.values import Member

    prompt = "give two words"
    spec = replace(OPENED, max_new_tokens=40, grammar=Grammar("json_schema", WORDS))
    gens = policy.generate([prompt] * 3, spec, seed=7)
    members = [Member("on_policy", g.text, (), prompt=prompt, token_ids=g.token_ids,
                      behaviour_logprobs=g.logprobs) for g in gens]  # fmt: skip
    batch = policy.encode(prompt, None, members, '["')
    with torch.no_grad():
        scored = policy.token_logprobs(batch)
    for i, g in enumerate(gens):
        assert scored[i, : len(g.logprobs)].tolist() == pytest.approx(g.logprobs, abs=1e-4)
    # The tiny model puts real mass outside the grammar: renormalising would have differed.
    assert min(lp for g in gens for lp in g.logprobs) < -1.0
