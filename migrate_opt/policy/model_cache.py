"""Converted models cached on disk: built once into a staging folder, then renamed into
place, so a killed conversion never leaves a half-written folder that would load.

The cache may be shared (``$MIGRATE_OPT_CACHE``), so an entry is data to check, not to
trust: its folder name carries a content hash of the source it was converted from, a
manifest written last records the entry format, that hash and every file's size, and an
entry owned by another user or writable by others is refused. Anything else that does not
match (stale, half-written, an older format) is rebuilt."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import stat
import tempfile
from collections.abc import Callable
from functools import cache
from pathlib import Path

from ..errors import ConfigError
from ..paths import cache_dir

log = logging.getLogger(__name__)

ENTRY_FORMAT = 1
"""Version of the manifest layout; an entry of another version is rebuilt."""
MANIFEST = ".migrate-opt-entry.json"
"""Written last into a finished entry (after the builder's own files)."""


def cache_root() -> Path:
    """The one cache root, ``migrate_opt.cache_dir()`` (``$MIGRATE_OPT_CACHE``)."""
    return cache_dir(create=False)


def content_key(path: Path) -> str:
    """A short SHA-256 of a source file's bytes (memoised while its size and mtime stay)."""
    st = path.stat()
    return _digest(str(path.resolve()), st.st_size, st.st_mtime_ns)


@cache
def _digest(path: str, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


def cached_folder(
    target: Path, marker: str, build: Callable[[Path], None], what: str, key: str = ""
) -> Path:
    """``target`` (``target-KEY`` with a source ``key``), built by ``build(folder)`` on
    first use. ``marker`` is a file that ``build`` writes last; the manifest follows it."""
    if key:
        target = target.with_name(f"{target.name}-{key}")
    if _usable(target, marker, key):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    log.info("converting %s into %s (once)", what, target)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    staging.chmod(0o755)  # mkdtemp makes it private; the cache is an ordinary folder
    try:
        build(staging)
        if not (staging / marker).is_file():
            raise ConfigError(f"converting {what} wrote no {marker}")
        _write_manifest(staging, key)
        _publish(staging, target, marker, key)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def check_owned(path: Path) -> None:
    """Refuse a cache entry another user could have planted or can still change."""
    for p in [path, *path.rglob("*")]:
        st = p.lstat()
        if stat.S_ISLNK(st.st_mode):
            raise ConfigError(f"the model cache entry {path} holds a symbolic link ({p}); "
                              "remove the entry, it is rebuilt on the next run")
        if st.st_uid != os.geteuid() or st.st_mode & stat.S_IWOTH:
            who = "writable by others" if st.st_uid == os.geteuid() else f"owned by uid {st.st_uid}"
            raise ConfigError(
                f"the model cache entry {path} is {who} ({p}): it is not used; remove it, or "
                "point MIGRATE_OPT_CACHE at a folder of your own"
            )


def _usable(target: Path, marker: str, key: str) -> bool:
    """Whether ``target`` is a finished entry of this format and source (checked owned)."""
    if not target.exists():
        return False
    check_owned(target)
    try:
        manifest = json.loads((target / MANIFEST).read_text())
        files = manifest["files"]
        complete = (
            manifest["format"] == ENTRY_FORMAT and manifest["key"] == key
            and (target / marker).is_file() and isinstance(files, dict)
            and all(os.path.getsize(target / name) == size for name, size in files.items())
        )
    except (OSError, ValueError, KeyError, TypeError):
        complete = False
    if not complete:
        log.warning("rebuilding the model cache entry %s (stale or unfinished)", target)
    return complete


def _write_manifest(folder: Path, key: str) -> None:
    files = {str(p.relative_to(folder)): p.stat().st_size
             for p in sorted(folder.rglob("*")) if p.is_file()}
    (folder / MANIFEST).write_text(json.dumps({"format": ENTRY_FORMAT, "key": key,
                                               "files": files}))


def _publish(staging: Path, target: Path, marker: str, key: str) -> None:
    if target.exists() and not _usable(target, marker, key):
        shutil.rmtree(target)  # stale, unfinished or of another format: ours replaces it
    try:
        staging.rename(target)
    except OSError:
        # Another process published first; its copy is as good as ours.
        if not _usable(target, marker, key):
            raise
