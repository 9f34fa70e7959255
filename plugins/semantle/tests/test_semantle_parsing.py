"""The tolerant parser on well-formed, sloppy and adversarial completions."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from migrate_opt_semantle import parse_words

WORD = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=12).filter(
    lambda w: w not in ("null", "true", "false")  # bare JSON literals are not words
)
WORDS = st.lists(WORD, min_size=1, max_size=6)


@given(st.text(max_size=300), st.integers(min_value=-2, max_value=8))
@settings(max_examples=400, deadline=None)
def test_never_raises_and_returns_short_lists_of_strings(text: str, limit: int) -> None:
    out = parse_words(text, limit)
    assert isinstance(out, list) and len(out) <= max(limit, 0)
    assert all(isinstance(w, str) and w and w == w.strip() for w in out)


@given(st.recursive(st.none() | st.booleans() | st.floats() | st.text(max_size=10),
                    lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(st.text(max_size=5), inner, max_size=3),
                    max_leaves=12))
@settings(max_examples=200, deadline=None)
def test_any_json_value_is_safe(value: object) -> None:
    out = parse_words(json.dumps(value), 3)
    assert all(isinstance(w, str) for w in out)


@given(WORDS, st.integers(min_value=1, max_value=6))
@settings(max_examples=200, deadline=None)
def test_json_list_round_trips(words: list[str], limit: int) -> None:
    assert parse_words(json.dumps(words), limit) == words[:limit]


@given(WORDS, st.sampled_from(["Sure! Here you go: {}", "{}\nHope this helps.", "```json\n{}\n```",
                               '{{"response": {}}}']))
@settings(max_examples=200, deadline=None)
def test_json_list_inside_chatter(words: list[str], template: str) -> None:
    assert parse_words(template.format(json.dumps(words)), 10) == words


@given(WORDS, st.sampled_from(["{}", "- {}", "* {}", "1. {}", "{}."]))
@settings(max_examples=200, deadline=None)
def test_one_word_per_line(words: list[str], bullet: str) -> None:
    text = "\n".join(bullet.format(w) for w in words)
    assert parse_words(text, 10) == words


@given(WORDS)
@settings(max_examples=100, deadline=None)
def test_bare_list(words: list[str]) -> None:
    assert parse_words("[" + ", ".join(words) + "]", 10) == words


@pytest.mark.parametrize(
    "text, expected",
    [
        ('"apple"', ["apple"]),
        ("'apple'", ["apple"]),
        ('The two words are "laptop" and "tablet."', ["laptop", "tablet"]),
        ("1. apple: a red fruit\n2. pear - a green one\n3. plum (dark)", ["apple", "pear", "plum"]),
        ('{"response": "apple"}', ["apple"]),
        ("I would guess apple, maybe pear", []),
        ("", []),
        ("[[[[", []),
        ("]]]", []),
        ('["', []),
        ("null", []),
        ("[1, 2, 3]", []),
        ('{"a": [1, 2, {"b": null}]}', []),
        ("```python\n```", []),
        # What SmolLM2 writes after the '["' opening: broken JSON between quoted words.
        ('["islam" "harmony"]', ["islam", "harmony"]),
        ('["hat": "defend", "stressed": "fog"]', ["hat", "defend", "stressed", "fog"]),
        ('["lamp"], and then more words', ["lamp"]),
    ],
)
def test_examples(text: str, expected: list[str]) -> None:
    assert parse_words(text, 10) == expected


def test_runaway_completion_is_cut() -> None:
    assert parse_words("apple\n" * 100_000, 3) == ["apple"] * 3
    assert parse_words("[" * 100_000, 3) == []


def test_the_answer_grammar_is_a_json_list_of_that_many_lowercase_words() -> None:
    pytest.importorskip("llguidance")
    from migrate_opt_semantle.parsing import MAX_WORD_LETTERS, answer_grammar

    two = answer_grammar(2)
    assert two.matches('["apple", "pear"]') and two.allows_prefix('["')
    long = "a" * (MAX_WORD_LETTERS + 1)
    for bad in ('["apple"]', '["apple", "pear", "fig"]', '["Apple", "pear"]',
                '["ice cream", "pear"]', '["apple", "pe4r"]', f'["{long}", "pear"]'):
        assert not two.matches(bad), bad
    assert answer_grammar(1).matches('["apple"]')


@given(WORDS)
@settings(max_examples=50, deadline=None)
def test_every_answer_of_the_grammar_parses_to_its_words(words: list[str]) -> None:
    pytest.importorskip("llguidance")
    from migrate_opt_semantle.parsing import answer_grammar

    text = json.dumps(words)
    assert answer_grammar(len(words)).matches(text)
    assert parse_words(text, len(words)) == words


def test_the_task_declares_the_grammar_of_its_word_count() -> None:
    pytest.importorskip("llguidance")
    from migrate_opt_semantle import SemantleTask

    task = SemantleTask(target="computer", words=3)
    assert task.answer_grammar.matches(task.render(["apple", "pear", "fig"]))
    assert not task.answer_grammar.matches(task.render(["apple", "pear"]))
