"""Writing a report page without destroying what is at its path: only a report written
here is replaced (``force`` replaces any regular file but a study); the page goes to a
fresh temporary file beside it, created exclusively, then renamed into place."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile

from ..errors import ConfigError

GENERATOR = '<meta name="generator" content="migrate-opt report">'
"""In the head of every report page: how a later write knows the page is ours."""
SQLITE_MAGIC = b"SQLite format 3\x00"


def is_report(path: str) -> bool:
    """Whether the regular file at ``path`` is a report page migrate-opt wrote."""
    with open(path, "rb") as fh:
        head = fh.read(4096)
    return head.startswith(b"<!DOCTYPE html>") and (
        GENERATOR.encode() in head or b"migrate-opt report, " in head)


def write_page(path: str, page: str, *, force: bool = False) -> str:
    """Write ``page`` to ``path``; refuse (one line) to replace anything but an earlier
    report, a study file even with ``force``, and anything that is not a regular file."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        st = None
    if st is not None:
        if stat.S_ISLNK(st.st_mode) and not force:
            raise ConfigError(f"{path} is a symbolic link; give another -o, or --force to "
                              "replace the link (never what it points to)")
        if not stat.S_ISLNK(st.st_mode):
            if not stat.S_ISREG(st.st_mode):
                raise ConfigError(f"{path} is not a regular file; write the report elsewhere")
            with open(path, "rb") as fh:
                if fh.read(len(SQLITE_MAGIC)) == SQLITE_MAGIC:
                    raise ConfigError(f"{path} is a database (a study file?); the report "
                                      "never replaces one: give another -o")
            if not force and not is_report(path):
                raise ConfigError(f"{path} exists and is not a report written by migrate-opt; "
                                  "give another -o, or --force to replace it")
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    try:  # mkstemp: O_CREAT | O_EXCL on a fresh name, so a planted link is never followed
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(page)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # as an ordinary new file, not mkstemp's 0600
        os.replace(tmp, path)  # a reader never sees half a page; replaces a link, not its target
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path
