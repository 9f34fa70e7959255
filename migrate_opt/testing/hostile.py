"""A task whose evaluation misbehaves on command, for testing executors: the solution
``"hang"`` sleeps forever, ``"crash"`` kills its process, ``"raise"`` raises; any other
solution is a number that scores as itself after ``delay`` seconds. With ``meet``, every
number first waits for the others at a ``Rendezvous`` (it passes only when evaluations
overlap); with ``gate``, it announces itself and holds until the test opens the ``Gate``."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence

from ..task import Task
from ..values import Evaluation
from .events import Gate, Rendezvous


class HostileTask(Task):
    name = "hostile"

    def __init__(self, delay: float = 0.0, meet: Rendezvous | None = None,
                 gate: Gate | None = None) -> None:
        self.delay, self.meet, self.gate = delay, meet, gate

    def prompt(self) -> str:
        return "Say a number."

    def parse(self, completion: str) -> list[str]:
        return completion.split()

    def evaluate(self, solutions: Sequence[str]) -> list[Evaluation]:
        out = []
        for s in solutions:
            if s == "hang":
                time.sleep(3600)
            elif s == "crash":
                os._exit(3)
            elif s == "raise":
                raise RuntimeError("objective failed")
            self._wait(s)
            time.sleep(self.delay)
            out.append(Evaluation(float(s), {"pid": os.getpid()}))
        return out

    def _wait(self, solution: str) -> None:
        if self.meet is not None:
            self.meet.meet(solution)
        if self.gate is not None:
            self.gate.announce(solution)
            self.gate.hold()
