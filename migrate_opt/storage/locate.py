"""Which registered database a study file uses: its scheme (``sqlite:///runs/a.db``,
``memory:``) or, for a plain path, its extension (``.db`` -> sqlite). A database plugin
declares the extensions it owns with a ``suffixes`` attribute on its factory."""

from __future__ import annotations

import os
from typing import Any

from ..errors import ConfigError
from .base import Database


def locate(url: str) -> tuple[str, str | None]:
    """``(database name, path)`` of a storage location."""
    from ..registry import registry

    table = registry().entries["database"]
    scheme, sep, rest = url.partition(":")
    if sep and scheme in table and (rest.startswith("//") or not rest):
        path = rest[2:] if rest.startswith("//") else ""
        return scheme, (path or None)
    suffix = os.path.splitext(url)[1].lower()
    for name, entry in table.items():
        if suffix and suffix in getattr(entry.factory, "suffixes", ()):
            return name, url
    owned = sorted(s for e in table.values() for s in getattr(e.factory, "suffixes", ()))
    raise ConfigError(
        f"no database owns {url!r}: name a file ending in {', '.join(owned)}, or give the "
        f"database as a scheme (NAME://path; installed: {', '.join(sorted(table))})"
    )


def open_database(url: str, study: str, *, readonly: bool = False) -> Database:
    """The study ``study`` in the storage ``url``, through the registry."""
    from ..registry import create

    name, path = locate(url)
    options: dict[str, Any] = {"readonly": True} if readonly else {}
    return create("database", name, path, study, **options)  # type: ignore[no-any-return]


def studies_in(url: str) -> list[str]:
    """The names of the studies a storage holds, oldest first."""
    from ..registry import registry

    name, path = locate(url)
    lister = getattr(registry().entry("database", name).factory, "list_studies", None)
    if lister is None or path is None:
        raise ConfigError(f"the {name} database cannot list its studies; give --study")
    if not os.path.exists(path):
        raise ConfigError(f"no such storage file: {path}")
    return list(lister(path))


def pick_study(url: str, study: str | None) -> str:
    """``study``, checked to exist, or the storage's only study; errors name the studies."""
    studies = studies_in(url)
    if study is not None:
        if study not in studies:
            raise ConfigError(f"no study {study!r} in {url}; studies: "
                              f"{', '.join(studies) or 'none'}")
        return study
    if len(studies) != 1:
        raise ConfigError(f"{url} holds {len(studies)} studies; pick one with "
                          f"--study: {', '.join(studies) or 'none'}")
    return studies[0]
