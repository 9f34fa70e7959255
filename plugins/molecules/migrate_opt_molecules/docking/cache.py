"""A persistent cache of docking results keyed by (program, target, canonical SMILES), so
no molecule is docked twice, across runs and across the objectives that share a target.

SQLite in WAL mode: several processes (parallel runs, Ray workers on one machine) may read
and write it at once. Timeouts are stored with their limit and count as a hit only for a
limit no larger (a longer limit may succeed); crashes are not stored (they may be
transient)."""

from __future__ import annotations

import json
import os
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from migrate_opt import cache_dir

_SCHEMA = """
CREATE TABLE IF NOT EXISTS dockings (
    program TEXT NOT NULL,
    target TEXT NOT NULL,
    smiles TEXT NOT NULL,
    status TEXT NOT NULL,
    vina REAL,
    error TEXT,
    seconds REAL,
    timeout REAL,
    info TEXT NOT NULL DEFAULT '{}',
    created REAL NOT NULL DEFAULT (strftime('%s', 'now')),
    PRIMARY KEY (program, target, smiles)
)
"""


def default_path() -> Path:
    """``docking.sqlite`` in the cache root (``migrate_opt.cache_dir``)."""
    return cache_dir() / "docking.sqlite"


@dataclass(frozen=True)
class DockResult:
    """The outcome of docking one molecule against one target."""

    status: str
    """ok, no_pose, invalid (bad input), error (Vina or Open Babel failed), timeout, crash."""
    vina: float | None = None
    """Best Vina score in kcal/mol (lower binds better) when status is ok."""
    error: str | None = None
    seconds: float | None = None
    """Wall time of the docking itself (not of a cache hit)."""
    cached: bool = False
    timeout: float | None = None
    """The limit that was hit, for status timeout."""
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "ok"


class DockingCache:
    """Docking results on disk. Open one per process (a connection does not survive a
    fork or pickling); it may be used from any thread of that process, one at a time."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, timeout=60, isolation_level=None,
                                   check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(_SCHEMA)

    def get(self, program: str, target: str, smiles: str,
            timeout: float | None = None) -> DockResult | None:
        row = self._db.execute(
            "SELECT status, vina, error, seconds, timeout, info FROM dockings "
            "WHERE program=? AND target=? AND smiles=?", (program, target, smiles),
        ).fetchone()
        if row is None:
            return None
        status, vina, error, seconds, limit, info = row
        if status == "timeout" and (timeout is None or limit is None or timeout > limit):
            return None  # a longer limit deserves another try
        return DockResult(status, vina, error, seconds, True, limit, json.loads(info))

    def put(self, program: str, target: str, smiles: str, result: DockResult) -> None:
        if result.status == "crash":
            return
        self._db.execute(
            "INSERT OR REPLACE INTO dockings "
            "(program, target, smiles, status, vina, error, seconds, timeout, info) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (program, target, smiles, result.status, result.vina, result.error,
             result.seconds, result.timeout, json.dumps(result.info)),
        )

    def __len__(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM dockings").fetchone()[0])

    def close(self) -> None:
        self._db.close()
