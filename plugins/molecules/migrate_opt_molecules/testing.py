"""Docking test doubles: backends with a real backend's process behaviour and no Vina, for
tests of the docking engine and task. They are not user options; name one as a backend
with its ``module:function`` (the constants below)::

    DockstringTask(backend=testing.FAKE)

``dock_fake`` scores at once by size; ``dock_hang`` starts a child that never ends (as a
runaway Vina would) after writing both pids to ``pids`` in its working folder;
``dock_crash`` kills its own process; ``dock_together`` scores only when ``TOGETHER``
dockings run at once (a rendezvous in the engine's ``tmp_dir``), so a test of parallelism
waits on the others instead of timing sleeps."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path
from typing import Any

from migrate_opt.testing.events import Rendezvous

from .docking.backends import DockingInputError

FAKE = f"{__name__}:dock_fake"
HANG = f"{__name__}:dock_hang"
CRASH = f"{__name__}:dock_crash"
TOGETHER_BACKEND = f"{__name__}:dock_together"
TOGETHER = 4
"""Dockings that must overlap before ``dock_together`` answers."""


def dock_fake(smiles: str, target: str, workdir: Path, cpus: int,
              seed: int) -> tuple[float | None, dict[str, Any]]:
    from rdkit import Chem

    (workdir / "ligand.txt").write_text(smiles)  # a working file, as Vina would leave
    mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        raise DockingInputError("RDKit cannot read this SMILES")
    return -0.25 * mol.GetNumHeavyAtoms(), {}


def dock_hang(smiles: str, target: str, workdir: Path, cpus: int,
              seed: int) -> tuple[float | None, dict[str, Any]]:
    proc = subprocess.Popen(["sleep", "3600"])  # stands in for a Vina run that never ends
    (workdir / "pids.tmp").write_text(f"{os.getpid()} {proc.pid}")
    (workdir / "pids.tmp").rename(workdir / "pids")  # whole or absent, never half-written
    proc.wait()
    return None, {}


def dock_crash(smiles: str, target: str, workdir: Path, cpus: int,
               seed: int) -> tuple[float | None, dict[str, Any]]:
    os.kill(os.getpid(), signal.SIGKILL)
    return None, {}


def dock_together(smiles: str, target: str, workdir: Path, cpus: int,
                  seed: int) -> tuple[float | None, dict[str, Any]]:
    Rendezvous(workdir.parent, TOGETHER, timeout=60).meet(smiles)
    return dock_fake(smiles, target, workdir, cpus, seed)


def hang_pids(tmp_dir: Path) -> list[int] | None:
    """The pids a running ``dock_hang`` wrote under the engine's ``tmp_dir`` (None: none yet)."""
    for f in tmp_dir.glob("*/pids"):
        return [int(p) for p in f.read_text().split()]
    return None
