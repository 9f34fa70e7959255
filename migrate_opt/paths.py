"""One cache root for everything migrate-opt derives once and keeps between runs
(converted model checkpoints, embedding matrices, docking scores)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

ENV = "MIGRATE_OPT_CACHE"
"""The variable that moves the cache root."""
DEPRECATED_ENV = "MIGRATE_OPT_CACHE_DIR"
"""The molecules plugin's former name for it, still read when ``ENV`` is unset."""


def cache_dir(*parts: str, create: bool = True) -> Path:
    """``$MIGRATE_OPT_CACHE/<parts...>``, by default ``$XDG_CACHE_HOME/migrate-opt`` or
    ``~/.cache/migrate-opt``; created unless ``create`` is false."""
    root = os.environ.get(ENV)
    if not root and os.environ.get(DEPRECATED_ENV):
        log.warning("%s is deprecated: set %s instead", DEPRECATED_ENV, ENV)
        root = os.environ[DEPRECATED_ENV]
    if not root:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
        root = os.path.join(base, "migrate-opt")
    path = Path(root).expanduser().joinpath(*parts)
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path

