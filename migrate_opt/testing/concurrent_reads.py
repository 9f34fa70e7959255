"""Reading a study while it is written: ``migrate-opt show``/``report`` processes and an
in-process reader hammer the file a ``reliability.writer`` process fills; every snapshot
must be consistent (no gap, no duplicate, never fewer records than before)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from .events import wait_for
from .reliability import STUDY, snapshot, writer_command


@dataclass
class ReadTally:
    reads: int = 0
    """In-process snapshot reads (records, top, settings, metrics)."""
    cli_reads: int = 0
    """`migrate-opt show` and `migrate-opt report` processes run."""
    errors: list[str] = field(default_factory=list)
    inconsistent: int = 0
    """Snapshots with a gap, a duplicate, or fewer records than an earlier one."""
    final_evaluations: int = 0


def concurrent_readers(
    workdir: Path, *, budget: int, readers: int = 2, delay: float = 0.02, seed: int = 0
) -> ReadTally:
    """Run a writer to ``budget`` while reader processes (show, report) and an in-process
    reader hammer the same file."""
    db, journal = workdir / "study.db", workdir / "journal.jsonl"
    tally = ReadTally()
    proc = subprocess.Popen(writer_command(db, journal, budget, delay, seed),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wait_for(lambda: _holds_study(db) or proc.poll() is not None,
             "the writer to create its study")
    stop = threading.Event()
    threads = [threading.Thread(target=_cli_reader, args=(db, workdir, i, stop, tally))
               for i in range(readers)]
    for t in threads:
        t.start()
    last = 0
    while proc.poll() is None:
        try:
            last = _read_once(str(db), last, tally)
        except Exception as exc:  # noqa: BLE001 - every failure is a finding to report
            tally.errors.append(f"in-process read: {type(exc).__name__}: {exc}")
        time.sleep(0.01)
    stop.set()
    for t in threads:
        t.join()
    err = proc.communicate()[1]
    if proc.returncode != 0:
        tally.errors.append(f"writer failed: {err[-500:]}")
    tally.final_evaluations = len(snapshot(str(db)))
    return tally


def _holds_study(db: Path) -> bool:
    """Whether the writer has created its study (readers open the file read-only)."""
    from ..storage import list_studies

    try:
        return db.exists() and STUDY in list_studies(str(db))
    except Exception:  # noqa: BLE001 - the schema is being written
        return False


def _read_once(db_path: str, last: int, tally: ReadTally) -> int:
    from ..storage import SQLiteDatabase

    db = SQLiteDatabase(db_path, STUDY, readonly=True)
    try:
        records = db.records()
        db.top(5), db.settings(), db.metrics(), db.groups()
    finally:
        db.close()
    seqs = [r.seq for r in records]
    if seqs != list(range(len(seqs))) or len({r.solution for r in records}) != len(records) \
            or len(records) < last:
        tally.inconsistent += 1
    tally.reads += 1
    return len(records)


def _cli_reader(db: Path, workdir: Path, i: int, stop: threading.Event, t: ReadTally) -> None:
    page = workdir / f"report{i}.html"
    while True:  # at least one read, even when the writer was quicker than this thread
        cmd = ["show", str(db), "--json"] if t.cli_reads % 2 == 0 else \
              ["report", str(db), "-o", str(page)]
        out = subprocess.run([sys.executable, "-m", "migrate_opt.cli", *cmd],
                             capture_output=True, text=True, timeout=300)
        t.cli_reads += 1
        if out.returncode != 0 or "Traceback" in out.stderr or "locked" in out.stderr:
            t.errors.append(f"{cmd[0]}: rc={out.returncode} {out.stderr.strip()[-300:]}")
        if stop.is_set():
            return


