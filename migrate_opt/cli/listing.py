"""``migrate-opt plugins`` and ``migrate-opt methods``: what is installed, as tables."""

from __future__ import annotations

import argparse

from .tables import print_table


def cmd_plugins(args: argparse.Namespace) -> int:
    from ..registry import registry

    reg = registry()
    rows = [
        (e.kind, e.name, e.distribution, e.version, e.plugin)
        for kind in reg.entries
        for e in reg.entries[kind].values()
    ]
    print_table(["kind", "name", "distribution", "version", "plugin"], rows)
    for s in reg.skipped:
        print(f"skipped plugin {s.name} ({s.distribution}): {s.error}")
    return 0


def cmd_methods(args: argparse.Namespace) -> int:
    from ..registry import registry

    rows = [(e.name, "llm" if e.config is not None else "optimizer", e.description)
            for e in registry().entries["optimizer"].values()]
    print_table(["method", "kind", "description"], rows)
    return 0
