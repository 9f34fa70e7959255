"""The docking engine: docks (target, SMILES) pairs in parallel child processes, each with
a timeout and a configurable number of Vina CPUs, behind a persistent cache.

Every docking runs in a fresh process (``child.py``) that leads its own process group and
works in a temp folder this engine creates and always removes: a timeout kills the group
(Vina included), a crash costs one result, and nothing ever stops the batch. The engine
holds no state that cannot be rebuilt, so a task using it can be pickled and evaluated in
any process (a process pool, a Ray task)."""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from migrate_opt import ConfigError

from .backends import BACKENDS, program, with_obabel_on_path
from .cache import DockingCache, DockResult, default_path
from .child import RESULT_MARK

log = logging.getLogger(__name__)

DOCKSTRING_SEED = 974528263
"""dockstring's default seed: the published DOCKSTRING scores used it."""
TMP_PREFIX = "migrate-opt-dock-"


@dataclass(frozen=True)
class DockingConfig:
    """How dockings run."""

    backend: str = "dockstring"
    """Docking program: dockstring (Vina 1.1.2), vina (1.2, faster, own scores) or any
    ``package.module:function`` with the backend signature (the test doubles in
    ``migrate_opt_molecules.testing`` are named so)."""
    timeout: float | None = 600.0
    """Seconds one docking may take before its process group is killed; None: no limit."""
    cpus: int = 1
    """CPUs Vina uses per docking (``--cpu``). Two 1-CPU dockings in parallel give the
    same throughput as one 2-CPU docking, and parallel dockings lose less to stragglers."""
    parallel: int = 2
    """Dockings running at once. cpus x parallel should not exceed the machine's cores."""
    seed: int = DOCKSTRING_SEED
    """Seed of conformer embedding and of Vina (dockings are deterministic for a seed)."""
    cache: bool = True
    """Keep results on disk and never dock a (program, target, SMILES) twice."""
    cache_path: str | None = None
    """The cache file; None: ``$MIGRATE_OPT_CACHE/docking.sqlite`` or
    ``~/.cache/migrate-opt/docking.sqlite``."""
    tmp_dir: str | None = None
    """Where working folders are made (and removed); None: the system temp folder."""

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS and ":" not in self.backend:
            raise ConfigError(
                f"unknown docking backend {self.backend!r}; choose one of "
                f"{', '.join(BACKENDS)} or give package.module:function"
            )
        if self.timeout is not None and self.timeout <= 0:
            raise ConfigError(f"timeout must be > 0 seconds or None, got {self.timeout}")
        if self.cpus < 1 or self.parallel < 1:
            raise ConfigError(
                f"cpus and parallel must be >= 1, got cpus={self.cpus}, parallel={self.parallel}"
            )

    @property
    def program(self) -> str:
        return program(self.backend, self.seed)


class DockingEngine:
    """Docks batches of (target, canonical SMILES) pairs."""

    def __init__(self, config: DockingConfig = DockingConfig()) -> None:
        self.config = config
        self._cache: DockingCache | None = None
        self._live: set[subprocess.Popen[str]] = set()
        self._lock = threading.Lock()
        self.dockings = 0
        """Dockings actually run by this engine object (cache hits excluded)."""

    # -- pickling: a fresh cache connection and no live processes in the copy ------------
    def __getstate__(self) -> dict[str, Any]:
        return {"config": self.config, "dockings": self.dockings}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["config"])  # type: ignore[misc]
        self.dockings = state["dockings"]

    @property
    def cache(self) -> DockingCache | None:
        if self.config.cache and self._cache is None:
            self._cache = DockingCache(self.config.cache_path or default_path())
        return self._cache

    # -- docking ------------------------------------------------------------------------
    def dock(self, jobs: Sequence[tuple[str, str]]) -> list[DockResult]:
        """One result per (target, SMILES) pair, in order; repeats and cache hits are free."""
        results: dict[tuple[str, str], DockResult] = {}
        todo = []
        for key in dict.fromkeys(jobs):
            hit = self.cache.get(self.config.program, *key, timeout=self.config.timeout) \
                if self.cache is not None else None
            if hit is not None:
                results[key] = hit
            else:
                todo.append(key)
        if todo:
            results.update(self._run_all(todo))
        return [results[k] for k in jobs]

    def _run_all(self, todo: list[tuple[str, str]]) -> dict[tuple[str, str], DockResult]:
        out: dict[tuple[str, str], DockResult] = {}
        pool = ThreadPoolExecutor(max_workers=min(self.config.parallel, len(todo)))
        try:
            futures = {pool.submit(self._dock_one, *key): key for key in todo}
            for fut in as_completed(futures):
                key = futures[fut]
                out[key] = fut.result()
                self.dockings += 1
                if self.cache is not None:
                    self.cache.put(self.config.program, *key, out[key])
        except BaseException:
            self.kill_all()  # Ctrl-C or a cancelled Ray task: stop every Vina now
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        return out

    def _dock_one(self, target: str, smiles: str) -> DockResult:
        workdir = Path(tempfile.mkdtemp(prefix=TMP_PREFIX, dir=self.config.tmp_dir))
        start = time.perf_counter()
        try:
            return self._spawn(target, smiles, workdir, start)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    def _spawn(self, target: str, smiles: str, workdir: Path, start: float) -> DockResult:
        job = {"backend": self.config.backend, "smiles": smiles, "target": target,
               "workdir": str(workdir), "cpus": self.config.cpus, "seed": self.config.seed,
               "parent": os.getpid()}
        proc = subprocess.Popen(
            [sys.executable, "-m", "migrate_opt_molecules.docking.child"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            start_new_session=True, cwd=workdir, env=with_obabel_on_path(dict(os.environ)),
        )
        with self._lock:
            self._live.add(proc)
        try:
            out, err = proc.communicate(json.dumps(job), timeout=self.config.timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            proc.communicate()
            limit = self.config.timeout
            log.warning("docking of %s on %s timed out after %g s", smiles, target, limit)
            return DockResult("timeout", error=f"docking took longer than {limit:g} s",
                              seconds=time.perf_counter() - start, timeout=limit)
        finally:
            with self._lock:
                self._live.discard(proc)
        return _parse(out, err, proc.returncode, time.perf_counter() - start)

    def kill_all(self) -> None:
        with self._lock:
            for proc in list(self._live):
                _kill_group(proc)

    def close(self) -> None:
        self.kill_all()
        if self._cache is not None:
            self._cache.close()
            self._cache = None


def _kill_group(proc: subprocess.Popen[str]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()


def _parse(out: str, err: str, returncode: int, seconds: float) -> DockResult:
    for line in reversed(out.splitlines()):
        if line.startswith(RESULT_MARK):
            data = json.loads(line[len(RESULT_MARK):])
            return DockResult(data["status"], data.get("vina"), data.get("error"),
                              round(seconds, 3), info=data.get("info", {}))
    tail = err.strip().splitlines()[-3:]
    reason = f"docking process died (exit code {returncode})"
    log.warning("%s: %s", reason, " | ".join(tail))
    return DockResult("crash", error=reason + (": " + " | ".join(tail) if tail else ""),
                      seconds=round(seconds, 3))
