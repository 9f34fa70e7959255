"""Molecule design tasks for migrate-opt: DOCKSTRING docking objectives (AutoDock Vina via
the ``dockstring`` package) and fast RDKit objectives (QED, similarity, Osimertinib MPO).

Registered through the ``migrate_opt`` entry point (``plugin.py``). Names are imported on
first use, so loading the plugin does not import RDKit."""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "MoleculeTask": ".base",
    "DockingConfig": ".docking.engine",
    "DockingEngine": ".docking.engine",
    "DockstringTask": ".docking.task",
    "GraphGASpace": ".space",
    "OsimertinibMPOTask": ".objectives",
    "QEDTask": ".objectives",
    "SimilarityTask": ".objectives",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name], __name__), name)
