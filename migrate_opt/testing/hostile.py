"""A task whose evaluation misbehaves on command, for testing executors: the solution
``"hang"`` sleeps forever, ``"crash"`` kills its process, ``"raise"`` raises; any other
solution is a number that scores as itself after ``delay`` seconds."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence

from ..task import Task
from ..values import Evaluation


class HostileTask(Task):
    name = "hostile"

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay

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
            time.sleep(self.delay)
            out.append(Evaluation(float(s), {"pid": os.getpid()}))
        return out
