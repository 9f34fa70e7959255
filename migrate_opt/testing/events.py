"""Waiting on events instead of the clock: markers that workers in other processes (a
process pool, Ray, a docking child) leave in a shared folder, and the waits tests block on.

A test that asserts "these ran in parallel" should not time them: it makes the evaluations
meet (``Rendezvous``), which only succeeds when they really overlap. A test that kills a
worker mid-evaluation should not race a sleep: the evaluation announces itself and holds
until the test opens its ``Gate``."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

POLL = 0.005
"""Seconds between looks at the folder (cheap: one directory listing)."""


class EventTimeout(AssertionError):
    """An awaited event did not happen; the message says which."""


def wait_for(check: Callable[[], T], what: str, timeout: float = 60.0) -> T:
    """Block until ``check()`` returns something truthy and return it. ``timeout`` is a
    safety net against a broken test, not a margin the test depends on."""
    end = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > end:
            raise EventTimeout(f"waited {timeout:g} s for {what}")
        time.sleep(POLL)


class Rendezvous:
    """``parties`` callers of ``meet`` (in any processes sharing ``folder``) all return
    once every one of them has arrived; a caller that would wait longer than ``timeout``
    raises, so work that does not overlap fails instead of passing slowly."""

    def __init__(self, folder: str | Path, parties: int, timeout: float = 60.0) -> None:
        self.folder, self.parties, self.timeout = str(folder), parties, timeout

    def meet(self, name: str) -> None:
        Path(self.folder, f"arrived-{name}-{os.getpid()}").touch()
        wait_for(lambda: len(self.arrived()) >= self.parties,
                 f"{self.parties} parties to meet in {self.folder}", self.timeout)

    def arrived(self) -> list[str]:
        return [f for f in os.listdir(self.folder) if f.startswith("arrived-")]


class Gate:
    """Workers ``announce`` themselves (leaving ``started-<name>-<pid>``) and ``hold``
    until the test calls ``open``; once open, later workers pass at once."""

    def __init__(self, folder: str | Path, timeout: float = 120.0) -> None:
        self.folder, self.timeout = str(folder), timeout

    def announce(self, name: str) -> None:
        Path(self.folder, f"started-{name}-{os.getpid()}").touch()

    def hold(self) -> None:
        wait_for(self.is_open, f"the gate in {self.folder} to open", self.timeout)

    def is_open(self) -> bool:
        return os.path.exists(os.path.join(self.folder, "open"))

    def open(self) -> None:
        Path(self.folder, "open").touch()

    def started(self) -> list[tuple[str, int]]:
        """``(name, pid)`` of every announcement so far."""
        out = []
        for f in os.listdir(self.folder):
            if f.startswith("started-"):
                name, _, pid = f[len("started-"):].rpartition("-")
                out.append((name, int(pid)))
        return out
