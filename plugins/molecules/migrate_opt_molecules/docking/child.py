"""The throw-away process that docks one molecule: ``python -m
migrate_opt_molecules.docking.child`` reads a JSON job on stdin and prints one result line.

It is started as the leader of its own process group, so whoever started it can kill it
together with Vina and Open Babel (``os.killpg``). If that parent dies first (killed by a
timeout of its own, or by a user), a watchdog thread notices, removes the working folder
and kills the whole group: no orphaned Vina keeps burning CPU, no temp folder stays."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

RESULT_MARK = "@@migrate-opt-docking@@"
WATCH_INTERVAL = 0.2


def _watch_parent(parent: int, workdir: Path) -> None:
    while True:
        time.sleep(WATCH_INTERVAL)
        if os.getppid() != parent:
            shutil.rmtree(workdir, ignore_errors=True)
            os.killpg(0, signal.SIGKILL)


def run_job(job: dict[str, Any]) -> dict[str, Any]:
    from .backends import DockingInputError, resolve

    dock = resolve(job["backend"])
    start = time.perf_counter()
    try:
        vina, info = dock(job["smiles"], job["target"], Path(job["workdir"]),
                          int(job["cpus"]), int(job["seed"]))
    except DockingInputError as exc:
        return {"status": "invalid", "error": str(exc)}
    except Exception as exc:
        detail = traceback.format_exception_only(type(exc), exc)[-1].strip()
        return {"status": "error", "error": detail[:2000]}
    seconds = round(time.perf_counter() - start, 3)
    if vina is None:
        return {"status": "no_pose", "error": "Vina found no pose", "seconds": seconds}
    return {"status": "ok", "vina": vina, "info": info, "seconds": seconds}


def main() -> None:
    job = json.loads(sys.stdin.read())
    workdir = Path(job["workdir"])
    threading.Thread(target=_watch_parent, args=(int(job["parent"]), workdir),
                     daemon=True).start()
    result = run_job(job)
    print(RESULT_MARK + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
