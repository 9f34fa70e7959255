"""Tolerant parsing of a model's answer into guessed words.

Accepted, in this order: JSON (a list, a string, or an object holding one, such as the
paper's ``{"response": ["a", "b"]}``), the first bracketed list in the text (JSON or bare,
``[apple, pear]``), quoted single words (``Try "apple" or "pear".``), and one word per line
(bullets and numbering allowed; a numbered line may explain its word after a colon or a
dash: ``1. apple - a fruit``). Anything else yields no words. The parser never raises.

Small models rarely follow a format exactly, so the quoted and line forms matter: they
are what SmolLM2-135M mostly writes."""

from __future__ import annotations

import json
import re
from typing import Any

from migrate_opt import Grammar

_FENCE = re.compile(r"```[a-zA-Z]*")
_BRACKETS = re.compile(r"\[([^\[\]]*)\]")
_QUOTED = re.compile(r"""["“]([^"“”\s]+)["”]""")
_BULLET = re.compile(r"^\s*(?:[-*•]|\d{1,3}[.)]|[a-z][.)](?=\s))\s*")
_GLOSS = re.compile(r"\s*(?::|\s[-–—]\s|\().*$")
"""What follows a listed word: ``apple: a fruit``, ``apple - a fruit``, ``apple (fruit)``."""
_TOKEN = re.compile(r"[^\W\d_][\w'’-]*")
"""A word-like token: starts with a letter, no spaces."""
_STRIP = " \t\"'“”‘’`.,;:!?()"
MAX_SCAN = 4000
"""Only the start of a completion is read: a runaway completion costs no parse time."""


MAX_WORD_LETTERS = 20
"""Longest word the answer grammar allows; it also ends a model spelling letter by letter."""


def answer_grammar(words: int) -> Grammar:
    """A JSON list of exactly ``words`` lower-case alphabetic words, ``["apple", "pear"]``."""
    item = {"type": "string", "pattern": f"^[a-z]{{1,{MAX_WORD_LETTERS}}}$"}
    schema = {"type": "array", "items": item, "minItems": words, "maxItems": words}
    return Grammar("json_schema", json.dumps(schema))


def parse_words(text: str, limit: int) -> list[str]:
    """Up to ``limit`` raw word strings found in ``text`` (not yet validated)."""
    if not isinstance(text, str) or limit < 1:
        return []
    text = _FENCE.sub("", text[:MAX_SCAN]).strip()
    for reader in (_from_json, _from_brackets, _from_quotes, _from_lines):
        words = reader(text)
        if words is not None:
            return [w for w in (_clean(w) for w in words) if w][:limit]
    return []


def _clean(item: Any) -> str:
    return item.strip(_STRIP) if isinstance(item, str) else ""


def _strings(value: Any) -> list[str] | None:
    """Strings in a JSON value: a list of them, one string, or the first such value of an
    object; None when the value holds none."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        items = [v for v in value if isinstance(v, str)]
        return items or None
    if isinstance(value, dict):
        for v in value.values():
            found = _strings(v)
            if found:
                return found
    return None


def _from_json(text: str) -> list[str] | None:
    """Words of a JSON text; a JSON text without strings (``null``, ``[1, 2]``) has none."""
    try:
        return _strings(json.loads(text)) or []
    except (ValueError, RecursionError):
        return None


def _from_brackets(text: str) -> list[str] | None:
    match = _BRACKETS.search(text)
    if match is None:
        return None
    inner = match.group(1)
    found = _from_json(f"[{inner}]")
    if found:
        return found
    # Quoted items with broken JSON between them: ["apple" "pear"], ["apple": "pear"].
    quoted = _QUOTED.findall(inner)
    if quoted:
        return quoted
    items = [p.strip(_STRIP) for p in inner.split(",")]
    return [p for p in items if p] or None


def _from_quotes(text: str) -> list[str] | None:
    stripped = text.strip().strip("'‘’")
    if stripped and len(stripped) < len(text.strip()) and not any(c.isspace() for c in stripped):
        return [stripped]  # a single-quoted word: 'apple'
    return _QUOTED.findall(text) or None


def _from_lines(text: str) -> list[str] | None:
    words = []
    for line in text.splitlines():
        item = _BULLET.sub("", line, count=1)
        if len(item) < len(line):  # a list item: its word may be followed by a gloss
            item = _GLOSS.sub("", item)
        item = item.strip(_STRIP)
        if _TOKEN.fullmatch(item):
            words.append(item)
    return words or None
