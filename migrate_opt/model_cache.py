"""Converted models cached on disk: built once into a staging folder, then renamed into
place, so a killed conversion never leaves a half-written folder that would load."""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from .paths import cache_dir

log = logging.getLogger(__name__)


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
