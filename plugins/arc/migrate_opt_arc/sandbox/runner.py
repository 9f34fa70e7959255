"""The host side of the sandbox: start workers, feed them batches of programs, read their
results under a deadline and a size cap, and kill their whole process group at the end.

Nothing coming back from a worker is trusted: lines are parsed as JSON (never unpickled),
checked field by field, and grids are validated again here."""

from __future__ import annotations

import json
import logging
import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .config import SandboxConfig
from .isolation import WORKER, Launch, layers, minimal_env, read_roots, resolve

log = logging.getLogger(__name__)

Grid = tuple[tuple[int, ...], ...]

KINDS = ("ok", "exception", "timeout", "memory", "forbidden_import", "forbidden",
         "malformed", "crashed", "syntax", "no_transform", "sandbox")
LINE_BYTES = 8192
"""Largest result line accepted from a worker (a 30 x 30 grid is about 2.7 kB)."""
PROGRAM_STARTUP = 1.0
"""Extra seconds for a program's first input (fork, module-level code)."""


@dataclass(frozen=True)
class Outcome:
    """What one program did on one input."""

    kind: str
    """``ok`` or why there is no output: exception, timeout, memory, forbidden_import,
    forbidden (the audit hook vetoed something), malformed (not a grid of 0-9), crashed,
    syntax, no_transform, sandbox (our own failure, not the program's)."""
    output: Grid | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.kind == "ok"


def as_grid(value: Any, max_side: int = 30) -> Grid | None:
    """``value`` as a grid of ints 0-9 with sides in [1, max_side], or None."""
    if not isinstance(value, (list, tuple)) or not 1 <= len(value) <= max_side:
        return None
    rows = []
    for row in value:
        if not isinstance(row, (list, tuple)) or not 1 <= len(row) <= max_side:
            return None
        if not all(type(c) is int and 0 <= c <= 9 for c in row):
            return None
        rows.append(tuple(row))
    if len({len(r) for r in rows}) != 1:
        return None
    return tuple(rows)


@dataclass
class _Job:
    """One worker process running one batch of programs."""

    first: int
    count: int
    proc: subprocess.Popen[bytes]
    deadline: float
    host_dir: str
    buffer: bytes = b""
    received: int = 0
    done: bool = False
    results: dict[tuple[int, int], Outcome] = field(default_factory=dict)


class Sandbox:
    """Runs ``transform(grid)`` programs in isolated worker processes."""

    def __init__(self, config: SandboxConfig | None = None) -> None:
        self.config = config or SandboxConfig()
        self._launch: Launch | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {"config": self.config}  # the launch is re-detected in a new process

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["config"])  # type: ignore[misc]

    @property
    def launch(self) -> Launch:
        if self._launch is None:
            self._launch = resolve(self.config)
        return self._launch

    def layers(self) -> dict[str, str]:
        """The defence layers active on this machine, in words."""
        return layers(self.config)

    def run(self, programs: Sequence[str], inputs: Sequence[Grid]) -> list[list[Outcome]]:
        """Each program's outcome on each input: ``result[program][input]``."""
        if not programs:
            return []
        if not inputs:
            return [[] for _ in programs]
        # Spread the programs over the workers, at most batch_size per worker process.
        size = min(self.config.batch_size, -(-len(programs) // self.config.workers))
        batches = [(i, min(size, len(programs) - i)) for i in range(0, len(programs), size)]
        results: dict[tuple[int, int], Outcome] = {}
        running: list[_Job] = []
        with selectors.DefaultSelector() as sel:
            while batches or running:
                while batches and len(running) < self.config.workers:
                    first, count = batches.pop(0)
                    job = self._start(programs[first:first + count], inputs, first, count)
                    sel.register(job.proc.stdout, selectors.EVENT_READ, job)  # type: ignore[arg-type]
                    running.append(job)
                self._pump(sel, running, len(inputs), results)
        return [[results.get((p, j), Outcome("sandbox", None, "no result from the sandbox"))
                 for j in range(len(inputs))] for p in range(len(programs))]

    # -- one worker ----------------------------------------------------------------------
    def _start(self, programs: Sequence[str], inputs: Sequence[Grid], first: int,
               count: int) -> _Job:
        launch = self.launch
        host_dir = tempfile.mkdtemp(prefix="migrate-opt-arc-")
        os.chmod(host_dir, 0o711)  # a program dropped to `nobody` must reach its folder
        workdir = launch.inside_tmp or os.path.join(host_dir, "work")
        request = {
            "programs": list(programs),
            "inputs": [[list(r) for r in g] for g in inputs],
            "workdir": workdir,
            "limits": {"timeout": self.config.timeout, "cpu_seconds": self.config.cpu_seconds,
                       "memory_mb": self.config.memory_mb, "file_mb": self.config.file_mb,
                       "max_side": self.config.max_side, "max_line": LINE_BYTES,
                       "startup": PROGRAM_STARTUP},
            "allowed_imports": list(self.config.allowed_imports),
            "audit_hook": self.config.audit_hook,
            "import_guard": self.config.import_guard,
            "drop_privileges": launch.drop_privileges,
            "read_roots": list(read_roots()),
            "seed": self.config.seed,
        }
        request_path = os.path.join(host_dir, "request.json")
        with open(request_path, "w") as f:
            json.dump(request, f)
        with open(request_path, "rb") as stdin:
            proc = subprocess.Popen(
                [*launch.prefix, sys.executable, "-I", "-B", WORKER],
                stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                cwd=host_dir, env=minimal_env(workdir if launch.inside_tmp else host_dir),
                start_new_session=True, close_fds=True,
            )
        assert proc.stdout is not None
        os.set_blocking(proc.stdout.fileno(), False)
        per_program = len(inputs) * self.config.timeout + PROGRAM_STARTUP + 1.0
        deadline = time.monotonic() + self.config.startup_timeout + count * per_program
        return _Job(first, count, proc, deadline, host_dir)

    def _pump(self, sel: selectors.BaseSelector, running: list[_Job], n_inputs: int,
              results: dict[tuple[int, int], Outcome]) -> None:
        now = time.monotonic()
        timeout = max(0.0, min(j.deadline for j in running) - now)
        for key, _ in sel.select(timeout=min(timeout, 1.0)):
            job: _Job = key.data
            self._read(job, n_inputs)
        for job in list(running):
            overdue = time.monotonic() >= job.deadline
            if job.done or overdue:
                sel.unregister(job.proc.stdout)  # type: ignore[arg-type]
                self._finish(job, n_inputs, overdue and not job.done)
                results.update(job.results)
                running.remove(job)

    def _read(self, job: _Job, n_inputs: int) -> None:
        assert job.proc.stdout is not None
        try:
            chunk = os.read(job.proc.stdout.fileno(), 65536)
        except BlockingIOError:
            return
        if not chunk:
            job.done = True
            return
        job.received += len(chunk)
        job.buffer += chunk
        lines = job.buffer.split(b"\n")
        job.buffer = lines.pop()
        for line in lines:
            if self._accept(job, line, n_inputs):
                job.done = True
        cap = job.count * n_inputs * LINE_BYTES + LINE_BYTES
        if len(job.buffer) > LINE_BYTES or job.received > cap:
            log.warning("sandbox worker sent too much output; killing it")
            job.done = True

    def _accept(self, job: _Job, line: bytes, n_inputs: int) -> bool:
        """Store one result line; True on the worker's final line."""
        try:
            d = json.loads(line)
        except ValueError:
            return False
        if not isinstance(d, dict):
            return False
        if d.get("done") is True:
            return True
        p, j, kind = d.get("p"), d.get("j"), d.get("kind")
        if not (isinstance(p, int) and 0 <= p < job.count and isinstance(j, int)
                and 0 <= j < n_inputs and kind in KINDS):
            return False
        error = d.get("error")
        error = str(error)[:300] if error is not None else None
        output = None
        if kind == "ok":
            output = as_grid(d.get("output"), self.config.max_side)
            if output is None:
                kind, error = "malformed", "output is not a grid of integers 0-9"
        job.results[(job.first + p, j)] = Outcome(kind, output, error)
        return False

    def _finish(self, job: _Job, n_inputs: int, overdue: bool) -> None:
        """Kill the worker's whole process group (stray children included) and clean up."""
        try:
            os.killpg(job.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        job.proc.wait()
        assert job.proc.stdout is not None
        job.proc.stdout.close()
        shutil.rmtree(job.host_dir, ignore_errors=True)
        missing = "timeout" if overdue else "sandbox"
        error = ("the worker overran its deadline and was killed" if overdue
                 else f"the worker ended early (exit code {job.proc.returncode})")
        for p in range(job.first, job.first + job.count):
            for j in range(n_inputs):
                job.results.setdefault((p, j), Outcome(missing, None, error))
