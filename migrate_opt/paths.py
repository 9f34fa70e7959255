"""One cache root for everything migrate-opt derives once and keeps between runs
(converted model checkpoints, embedding matrices, docking scores), and folders built into it
once: a staging folder renamed into place, so a killed conversion never leaves a
half-written folder that would load."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Callable
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


def cache_root() -> Path:
    """The one cache root, ``migrate_opt.cache_dir()`` (``$MIGRATE_OPT_CACHE``)."""
    return cache_dir(create=False)


def cached_folder(target: Path, marker: str, build: Callable[[Path], None], what: str) -> Path:
    """``target``, built by ``build(folder)`` on first use. ``marker`` is a file that
    ``build`` writes last: a folder without it is not a finished conversion."""
    if (target / marker).is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    log.info("converting %s into %s (once)", what, target)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    staging.chmod(0o755)  # mkdtemp makes it private; the cache is an ordinary folder
    try:
        build(staging)
        _publish(staging, target, marker)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _publish(staging: Path, target: Path, marker: str) -> None:
    if target.exists() and not (target / marker).is_file():
        shutil.rmtree(target)  # leftovers of an interrupted manual copy
    try:
        staging.rename(target)
    except OSError:
        # Another process published first; its copy is as good as ours.
        if not (target / marker).is_file():
            raise
