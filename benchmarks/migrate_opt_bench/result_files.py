"""What every benchmark script shares: the command line it reports, where and on what it
ran (machine, load average, package versions), and writing a result as Markdown (for
people) plus JSON (for programs) under one path stem, both carrying that provenance."""

from __future__ import annotations

import json
import os
import platform
import shlex
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

PACKAGES = ("migrate-opt", "torch", "transformers", "peft", "ray", "rdkit", "dockstring")
"""Versions recorded with every result (those installed)."""


def command_line(script: str, argv: list[str] | None) -> str:
    """How to rerun ``script`` (its ``__file__`` or name) with these arguments, from the
    repository root."""
    args = sys.argv[1:] if argv is None else argv
    return " ".join(["python", f"benchmarks/{Path(script).name}", *args])


def invoked_command(script: str, argv: list[str] | None) -> str:
    """The command this process was really run as (``python -m ...``, a wrapper's
    arguments and all) when ``argv`` is None; else ``command_line``. The interpreter shows
    as ``python`` and absolute paths as ``shown_path`` gives them."""
    if argv is not None:
        return command_line(script, argv)
    real = list(getattr(sys, "orig_argv", None) or [sys.executable, *sys.argv])
    shown = ["python", *(shown_path(a) if os.path.isabs(a) else a for a in real[1:])]
    return shlex.join(shown)


REPOSITORY = Path(__file__).resolve().parents[2]


def shown_path(path: str | Path) -> str:
    """``path`` as a result records it: relative to the repository when inside it, so a
    committed result names no one's home folder."""
    resolved = Path(path).resolve()
    if resolved.is_relative_to(REPOSITORY):
        return str(resolved.relative_to(REPOSITORY))
    return resolved.name


def provenance(command: str) -> dict[str, Any]:
    """The command, the machine, its load average now and the installed versions."""
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            pass
    return {
        "command": command,
        "machine": f"{os.cpu_count()}-core {platform.machine()} CPU machine "
                   f"({platform.system()})",
        "python": platform.python_version(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "versions": versions,
    }


def provenance_markdown(info: dict[str, Any]) -> str:
    """One Markdown paragraph stating the provenance."""
    versions = ", ".join(f"{k} {v}" for k, v in info["versions"].items())
    load = " / ".join(str(x) for x in info["load_average"])
    return (f"Command: `{info['command']}`. Machine: {info['machine']}, Python "
            f"{info['python']}, load average {load} (1/5/15 min) at the end. {versions}.\n")


def write_markdown_and_json(stem: str | Path, text: str, data: dict[str, Any],
                            command: str | None = None) -> None:
    """``<stem>.md`` holding ``text`` and ``<stem>.json`` holding ``data``; with
    ``command``, both also record the provenance (``data["provenance"]``)."""
    out = Path(stem)
    out.parent.mkdir(parents=True, exist_ok=True)
    if command is not None:
        info = provenance(command)
        data = {**data, "provenance": info}
        text = text.rstrip("\n") + "\n\n" + provenance_markdown(info)
    out.with_suffix(".md").write_text(text)
    out.with_suffix(".json").write_text(json.dumps(data, indent=1))
