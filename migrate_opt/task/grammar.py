"""The grammar of a task's answer, so that generation samples only what parses.

A :class:`Grammar` describes the **whole answer**, exactly the text ``Task.parse`` sees: the
task's ``response_prefix`` included (it must be a prefix the grammar allows; generation
forces it before sampling) and nothing after the answer ends (generation stops there, as
the task's ``stop`` strings would). Three kinds:

- ``json_schema``: a JSON Schema (as text), written with ``json.dumps``'s separators
  (``", "`` and ``": "``) and no other whitespace, so the model cannot spend its tokens on
  blanks;
- ``regex``: a regular expression the whole answer matches (Rust ``regex`` syntax, close to
  Python's, without look-arounds);
- ``ebnf``: a context-free grammar in Lark syntax (rules ``name: ...``, the start rule
  ``start``; terminals are quoted strings or ``/regex/``), or GBNF (``root ::= ...``).

The grammars are compiled by llguidance (installed with the ``llm`` extra), imported only
when a grammar is built: a grammar that does not compile raises :class:`ConfigError` when
it is constructed, so a task declaring one fails at construction, not mid-run. Without
llguidance the check waits until a policy uses the grammar (which needs the extra)."""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

from ..errors import ConfigError

GrammarKind = Literal["json_schema", "regex", "ebnf"]
KINDS: tuple[str, ...] = ("json_schema", "regex", "ebnf")
JSON_LAYOUT = {"whitespace_flexible": False, "item_separator": ", ", "key_separator": ": "}
"""How a JSON answer is laid out (as ``json.dumps`` writes it); a schema's own
``x-guidance`` field overrides it."""
INSTALL_HINT = "grammars need llguidance: pip install 'migrate-opt[llm]'"


@dataclass(frozen=True)
class Grammar:
    """What a task's answer may be; see the module docstring for what it covers."""

    kind: GrammarKind
    """``json_schema``, ``regex`` or ``ebnf`` (Lark syntax, or GBNF)."""
    source: str
    """The schema (JSON text), the regular expression or the grammar text."""
    compiled: str | None = field(default=None, init=False, repr=False, compare=False)
    """The grammar in llguidance's serialised form; None when llguidance is not installed."""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ConfigError(f"grammar kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if not isinstance(self.source, str) or not self.source.strip():
            raise ConfigError(f"a {self.kind} grammar needs its source text, got {self.source!r}")
        if available():
            object.__setattr__(self, "compiled", _compile(self.kind, self.source))

    def require_compiled(self) -> str:
        """The compiled grammar; a clear error when llguidance is missing."""
        if self.compiled is None:
            if not available():
                raise ConfigError(INSTALL_HINT)
            object.__setattr__(self, "compiled", _compile(self.kind, self.source))
        assert self.compiled is not None
        return self.compiled

    def matches(self, text: str) -> bool:
        """Whether ``text`` is a complete answer of this grammar. It is read one byte per
        token, so a ``max_tokens`` bound in an ``ebnf`` grammar counts bytes here."""
        matcher = _byte_matcher(self.require_compiled())
        return matcher.consume_tokens(list(text.encode())) and matcher.is_accepting()

    def allows_prefix(self, text: str) -> bool:
        """Whether some complete answer starts with ``text``."""
        matcher = _byte_matcher(self.require_compiled())
        return bool(matcher.consume_tokens(list(text.encode()))) and not matcher.is_error()

    def check_prefix(self, prefix: str) -> None:
        """Raise :class:`ConfigError` when no answer can start with the response prefix."""
        if prefix and not self.allows_prefix(prefix):
            raise ConfigError(
                f"the answer grammar rejects the response prefix {prefix!r}: the grammar "
                "describes the whole answer, so it must allow the prefix at its start"
            )


def available() -> bool:
    """Whether llguidance, which compiles and enforces grammars, is installed."""
    return importlib.util.find_spec("llguidance") is not None


def _compile(kind: str, source: str) -> str:
    from llguidance import LLMatcher, grammar_from

    try:
        if kind == "json_schema":
            # Parsed here so a malformed schema names the JSON error, not a grammar error.
            schema = json.loads(source)
            if not isinstance(schema, (dict, bool)):
                raise ValueError("a JSON schema is an object (or true/false)")
            compiled = LLMatcher.grammar_from_json_schema(source, defaults=dict(JSON_LAYOUT))  # type: ignore[arg-type]
        else:
            compiled = grammar_from("ebnf" if kind == "ebnf" else "regex", source)
    except ValueError as exc:
        raise ConfigError(f"the {kind} grammar does not compile: {exc}") from exc
    error = LLMatcher.validate_grammar(compiled)
    if error:
        raise ConfigError(f"the {kind} grammar does not compile: {_one_line(error)}")
    return str(compiled)


def _one_line(error: str) -> str:
    """llguidance's report in one line: where, and the regex error's own line if any."""
    lines = [line.strip() for line in error.strip().splitlines()]
    detail = next((line for line in lines[1:] if line.startswith("error:")), "")
    return f"{lines[0]} {detail}".strip()


class _ByteTokenizer:
    """One token per byte, plus an end token: matching text needs no model tokenizer."""

    eos_token_id = 256
    bos_token_id = None
    tokens = [bytes([i]) for i in range(256)] + [b"<end>"]
    special_token_ids = [256]

    def __call__(self, text: str | bytes) -> list[int]:
        return list(text if isinstance(text, bytes) else text.encode())


@lru_cache(maxsize=1)
def _byte_tokenizer() -> Any:
    from llguidance import LLTokenizer, TokenizerWrapper

    return LLTokenizer(TokenizerWrapper(_ByteTokenizer()))


def _byte_matcher(compiled: str) -> Any:
    from llguidance import LLMatcher

    return LLMatcher(_byte_tokenizer(), compiled, log_level=0)
