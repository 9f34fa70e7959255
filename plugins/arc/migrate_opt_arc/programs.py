"""Finding the program in a completion and normalising it (the dedup key)."""

from __future__ import annotations

import ast
import re
import warnings

MAX_PROGRAM_CHARS = 20_000
"""Longer programs are refused before parsing (a 1024-token completion is ~4k chars)."""
ENTRY_POINT = "transform"

_FENCE = re.compile(r"```[ \t]*(?:python3?|py)?[ \t]*\n(.*?)```", re.DOTALL | re.IGNORECASE)
_OPEN_FENCE = re.compile(r"```[ \t]*(?:python3?|py)?[ \t]*\n", re.IGNORECASE)


def extract_program(completion: str) -> str | None:
    """The last fenced Python block that defines ``transform`` (else the last fenced
    block); an unclosed last block counts, as generation often stops mid-fence. Without
    any fence, the unfenced code around the first ``def transform`` (small models often
    forget the fence)."""
    blocks = _FENCE.findall(completion)
    tail = completion[completion.rfind("```"):] if completion.count("```") % 2 else ""
    opened = _OPEN_FENCE.match(tail) if tail else None
    if opened:
        blocks.append(tail[opened.end():])
    if not blocks:
        return _unfenced(completion)
    defining = [b for b in blocks if f"def {ENTRY_POINT}" in b]
    return (defining or blocks)[-1]


_CODE_START = ("def ", "import ", "from ", "class ", "@", "#")
_DEF_ENTRY = re.compile(rf"def {ENTRY_POINT}\w*\(")


def _unfenced(completion: str) -> str | None:
    """The import lines just before the first ``def transform`` and the code after it, up
    to the first unindented line that does not look like code."""
    lines = completion.splitlines()
    start = next((i for i, line in enumerate(lines) if _DEF_ENTRY.match(line)), None)
    if start is None:
        return None
    while start > 0 and lines[start - 1].startswith(("import ", "from ")):
        start -= 1
    end = start + 1
    while end < len(lines):
        line = lines[end]
        if line and not line[0].isspace() and not line.startswith(_CODE_START):
            break
        end += 1
    return "\n".join(lines[start:end])


def normalize_program(source: str) -> str | None:
    """Canonical text: parsed and unparsed (formatting and comments dropped), or None when
    it is not valid Python defining a top-level ``transform`` function.

    A program whose one entry-like function has another name (SmolLM2 often writes
    ``transform_grid``) gets ``transform = <that name>`` appended: the only top-level
    function starting with "transform", else the only top-level function."""
    if len(source) > MAX_PROGRAM_CHARS or "\x00" in source:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # invalid escape sequences in model code
            tree = ast.parse(source)
            entry = _entry_name(tree)
            if entry is None:
                return None
            if entry != ENTRY_POINT:
                tree.body.append(ast.parse(f"{ENTRY_POINT} = {entry}").body[0])
            return ast.unparse(tree)
    except (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError):
        return None


def _entry_name(tree: ast.Module) -> str | None:
    names = [node.name for node in tree.body if isinstance(node, ast.FunctionDef)]
    if ENTRY_POINT in names:
        return ENTRY_POINT
    prefixed = [n for n in names if n.startswith(ENTRY_POINT)]
    candidates = prefixed or names
    return candidates[0] if len(candidates) == 1 else None


def render_program(program: str) -> str:
    """A program written as a completion would hold it."""
    return f"```python\n{program}\n```"
