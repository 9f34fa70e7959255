"""What the benchmark scripts share: the command line they report, and writing a result as
Markdown (for people) plus JSON (for programs) under one path stem."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def command_line(script: str, argv: list[str] | None) -> str:
    """How to rerun ``script`` (its ``__file__``) with these arguments, from the repo root."""
    args = sys.argv[1:] if argv is None else argv
    return " ".join(["python", f"benchmarks/{Path(script).name}", *args])


def write_markdown_and_json(stem: str | Path, text: str, data: dict[str, Any]) -> None:
    """``<stem>.md`` holding ``text`` and ``<stem>.json`` holding ``data``."""
    out = Path(stem)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".md").write_text(text)
    out.with_suffix(".json").write_text(json.dumps(data, indent=1))
