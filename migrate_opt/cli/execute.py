"""Building a study's optimizer from its record and running it: what ``run`` and
``resume`` share once their options are settled."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

from ..configs import printable
from ..errors import ConfigError
from .endpoint import endpoint_objects, policy_of
from .tables import print_best


def execute_study(record: dict[str, Any], spec: dict[str, Any], *, as_options: bool,
             environment: dict[str, Any], discard_checkpoint: bool = False) -> int:
    """Build the optimizer (the model loads here), then run it. A new study is built in
    memory first and its file written only once everything stands: a refused or
    interrupted start leaves the storage as it was. ``run`` on a stored study goes on only
    with the record that shaped it (the budget may differ)."""
    from ..factory import build_optimizer, open_database, studies_in
    from ..storage import MemoryDatabase

    storage, study = spec["storage"], spec["study"]
    record, objects = _with_connection(record, spec)
    if spec.get("resumed") or _holds(storage, study, studies_in):
        db = open_database(storage, study)  # the writer lease first; nothing else is written
        try:
            stored = None if spec.get("resumed") else db.settings()
            opt = build_optimizer(record, db, as_options=as_options, environment=environment,
                                  objects=objects)
            if stored is not None:
                _check_identity(stored, opt.settings(), len(db), spec)
            opt.restore(discard_checkpoint=discard_checkpoint)  # before anything is written
        except BaseException:
            db.close()
            raise
    else:
        opt = build_optimizer(record, MemoryDatabase(study=study), as_options=as_options,
                              environment=environment, objects=objects)
        db = open_database(storage, study)
        if len(db) or db.settings():
            db.close()
            raise ConfigError(f"study {study!r} in {storage} was started by another process "
                              "meanwhile; nothing was written: run again to see its settings")
        opt.database = db  # empty either way: nothing built so far read a record
    with db:
        opt.write_settings()
        return _run_study(opt, spec)


def _with_connection(record: dict[str, Any], spec: dict[str, Any]
                     ) -> tuple[dict[str, Any], dict[str, Any]]:
    """The record and the objects a connection (``--endpoint``) gives: an endpoint policy
    replaces the record's policy table, a ``vllm-server`` engine its engine name."""
    from ..registry import registry

    connection = spec.get("connection") or {}
    if registry().entry("optimizer", record["optimizer"]).config is None:
        if connection.get("endpoint"):
            raise ConfigError(f"--endpoint applies to LLM presets, and "
                              f"{record['optimizer']!r} is not one")
        return record, {}
    from ..factory import with_fastest_config

    objects = endpoint_objects(connection, record["config"])
    config = dict(record["config"])
    if "policy" in objects:
        config.pop("policy", None)
    elif "engine" in objects:
        config["policy"] = {k: v for k, v in policy_of(config).items() if k != "engine"}
    else:  # the fastest engine installed here when none was chosen (never stored)
        config = with_fastest_config(config)
    return {**record, "config": config}, objects


def _holds(storage: str, study: str, studies_in: Callable[[str], list[str]]) -> bool:
    """Whether the storage holds the study already (read without writing anything)."""
    from ..factory import locate

    _, path = locate(storage)
    return path is not None and os.path.exists(path) and study in studies_in(storage)


def _check_identity(stored: dict[str, Any], record: dict[str, Any], records: int,
                    spec: dict[str, Any]) -> None:
    """``run`` continues a study only with the record that shaped it."""
    from ..factory import study_record

    where, study = spec["storage"], spec["study"]
    ways_out = (f"resume it as it was (migrate-opt resume {where} --study {study}), or start "
                "a new study with --study NAME")
    old = study_record(stored, study)
    if old is None:
        if records or stored:
            raise ConfigError(f"study {study!r} in {where} holds no record of this version "
                              f"of migrate-opt: {ways_out}")
        return  # an empty study an older version left behind: nothing to keep apart
    changed = differences({**old, "run": old["run"].get("seed")},
                          {**record, "run": record["run"].get("seed")})
    if changed:
        raise ConfigError(f"study {study!r} in {where} was started with other settings: "
                          f"{'; '.join(changed)}. To go on, {ways_out}")


def differences(stored: Any, given: Any, prefix: str = "") -> list[str]:
    """``key (stored X, now Y)`` for each setting that differs, tables walked."""
    if isinstance(stored, dict) and isinstance(given, dict):
        return [d for key in sorted(set(stored) | set(given), key=str)
                for d in differences(stored.get(key), given.get(key), f"{prefix}{key}.")]
    if stored == given:
        return []
    return [f"{prefix.rstrip('.')} (stored {printable(repr(stored), 30)}, now "
            f"{printable(repr(given), 30)})"]


def _run_study(opt: Any, spec: dict[str, Any]) -> int:
    from ..factory import create_executor
    from ..loop import run
    from ..report.story import stop_reason

    executor = create_executor(spec["executor"], **spec["executor_options"])
    verb = "resuming" if spec.get("resumed") else "starting"
    print(f"{verb} study {spec['study']!r} in {spec['storage']} "
          f"({opt.n_evaluations}/{opt.budget} evaluations done)", file=sys.stderr)
    try:
        result = run(opt, budget=opt.budget, iterations=spec.get("iterations"),
                     executor=executor, stop_when_solved=spec.get("stop_when_solved", True),
                     patience=spec["patience"], progress=not spec.get("no_progress"))
    except KeyboardInterrupt:
        print(f"\ninterrupted: everything told so far is stored. Resume with:\n"
              f"  migrate-opt resume {spec['storage']} --study {spec['study']}",
              file=sys.stderr)
        return 130
    finally:
        executor.close()
    print_best(opt.best(5))
    why = stop_reason({"stopped": result.stopped, "patience": spec["patience"]})
    print(f"stopped: {result.stopped} ({why}); evaluations: {result.evaluations}; solved: "
          f"{result.solved}; stored in {spec['storage']} (study {spec['study']!r})")
    return 0
