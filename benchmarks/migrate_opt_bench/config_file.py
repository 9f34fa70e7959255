"""Reading a benchmark config (TOML) into the grid of :mod:`.config`.

::

    [benchmark]
    name = "toy"
    budget = 200          # evaluations of new unique solutions per run
    seeds = [0, 1, 2]
    log_every = 10        # best-so-far logged every this many evaluations (AUC, plots)
    families = { digits = ["toy"] }   # named sets of tasks: paired statistics per family,
                                      # and a method's task_options may name one

    [tasks.toy]           # a label; `task` is the registered name
    task = "toy"
    options = { target = "421337" }
    # metrics = "migrate_opt_arc:prediction_metrics"   # extra numbers per run (a hook)

    [methods.ga]          # a registered optimizer (baselines plugin) and its config
    optimizer = "ga"
    config = { population_size = 16 }

    [methods.migrate]     # an LLM preset: MigrateConfig's fields, as create(...) takes them
    optimizer = "migrate"
    config = { group_size = 8, grpo = { learning_rate = 5e-5 },
               policy = { name = "smollm2-135m-instruct", engine = "openvino" } }
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from migrate_opt import ConfigError

from .config import LABEL, AdapterSource, BenchmarkConfig, MethodSpec, TaskSpec

log = logging.getLogger(__name__)

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10
    import tomli as tomllib


def load_config(path: str | Path, *, tasks: Sequence[str] | None = None,
                methods: Sequence[str] | None = None, llm_iterations: int | None = None,
                **overrides: Any) -> BenchmarkConfig:
    """Read a TOML config; ``overrides`` (budget, seeds, workers...) replace its values,
    ``tasks``/``methods`` keep only the named labels and ``llm_iterations`` caps the groups
    of every LLM method."""
    with open(path, "rb") as f:
        raw = tomllib.load(f)
    kept = _keep(raw, "methods", methods)
    if llm_iterations is not None:
        kept = {k: {**v, "max_iterations": llm_iterations} if "llm" in v else v
                for k, v in kept.items()}
    if tasks is not None:  # a method's per-task settings of tasks left out do not apply
        families = {name: kept_tasks for name, members in _families(raw).items()
                    if (kept_tasks := [t for t in members if t in tasks])}
        kept = {k: trimmed for k, v in kept.items()
                if (trimmed := _for_tasks(v, set(tasks), set(families))) is not None}
        raw = {**raw, "benchmark": {**raw.get("benchmark", {}), "families": families}}
    raw = {**raw, "tasks": _keep(raw, "tasks", tasks), "methods": kept}
    return parse_config(raw, default_name=Path(path).stem, **overrides)


def _families(raw: Mapping[str, Any]) -> dict[str, list[str]]:
    families = raw.get("benchmark", {}).get("families", {})
    if not isinstance(families, Mapping) or not all(
        isinstance(v, list) and all(isinstance(t, str) for t in v) for v in families.values()
    ):
        raise ConfigError("[benchmark] families maps a name to a list of task labels, e.g. "
                          'families = { molecules = ["qed", "celecoxib"] }')
    return {str(k): list(v) for k, v in families.items()}


def _expand_families(raw: Mapping[str, Any]) -> dict[str, Any]:
    """``raw`` with each method's ``task_options`` for a family copied to its tasks (a
    task's own entry is laid over the family's)."""
    families = _families(raw)
    if not families or not isinstance(raw.get("methods"), Mapping):
        return dict(raw)
    clash = sorted(set(families) & set(raw.get("tasks") or {}))
    if clash:
        raise ConfigError(f"families {clash} have the names of tasks: rename them")
    methods = {}
    for label, spec in raw.get("methods", {}).items():
        options = spec.get("task_options") if isinstance(spec, Mapping) else None
        if isinstance(options, Mapping) and set(options) & set(families):
            expanded: dict[str, Any] = {}
            ordered = sorted(options, key=lambda k: k not in families)  # families first
            for key in ordered:
                for task in families.get(key, [key]):
                    expanded[task] = {**expanded.get(task, {}), **options[key]}
            spec = {**spec, "task_options": expanded}
        methods[label] = spec
    return {**raw, "methods": methods}


def _for_tasks(method: Mapping[str, Any], labels: set[str],
               families: set[str]) -> dict[str, Any] | None:
    """``method`` with its ``tasks`` and ``task_options`` cut to ``labels`` (and the
    ``families`` still holding some of them); None when it runs on none of them."""
    out = dict(method)
    if "tasks" in out:
        out["tasks"] = [t for t in out["tasks"] if t in labels]
        if not out["tasks"]:
            return None
    if "task_options" in out:
        out["task_options"] = {t: o for t, o in out["task_options"].items()
                               if t in labels or t in families}
    if "adapter_from" in out:  # the source tasks may be left out: their runs are on disk
        kept = {t: s for t, s in out["adapter_from"].get("tasks", {}).items() if t in labels}
        if not kept:
            return None
        out["adapter_from"] = {**out["adapter_from"], "tasks": kept}
    return out


def _keep(raw: Mapping[str, Any], key: str, labels: Sequence[str] | None) -> Any:
    table = raw.get(key, {})
    if labels is None:
        return table
    unknown = sorted(set(labels) - set(table))
    if unknown:
        raise ConfigError(f"no {key} {unknown} in the config; it has {sorted(table)}")
    return {k: v for k, v in table.items() if k in labels}


def parse_config(raw: Mapping[str, Any], default_name: str = "benchmark",
                 **overrides: Any) -> BenchmarkConfig:
    raw = _expand_families(raw)
    top = dict(raw.get("benchmark", {}))
    top.update({k: v for k, v in overrides.items() if v is not None})
    tasks = tuple(_task(label, spec) for label, spec in _table(raw, "tasks").items())
    methods = tuple(_method(label, spec) for label, spec in _table(raw, "methods").items())
    known = {"name", "budget", "seeds", "log_every", "workers", "stop_when_solved", "families"}
    unknown = set(top) - known
    if unknown:
        raise ConfigError(f"[benchmark] has unknown keys {sorted(unknown)}; known: {sorted(known)}")
    if "budget" not in top:
        raise ConfigError("[benchmark] needs `budget` (evaluations per run)")
    return BenchmarkConfig(
        name=str(top.get("name", default_name)), budget=int(top["budget"]),
        seeds=tuple(int(s) for s in top.get("seeds", (0,))), tasks=tasks, methods=methods,
        log_every=int(top.get("log_every", 10)), workers=int(top.get("workers", 2)),
        stop_when_solved=bool(top.get("stop_when_solved", False)),
        families={k: tuple(v) for k, v in _families({"benchmark": top}).items()},
    )


def _table(raw: Mapping[str, Any], key: str) -> dict[str, dict[str, Any]]:
    table = raw.get(key)
    if not isinstance(table, dict) or not table:
        raise ConfigError(f"the config needs a [{key}.<label>] table")
    for label in table:
        if not LABEL.match(label):
            raise ConfigError(f"{key} label {label!r}: use letters, digits, _ . + -")
    return table


def _task(label: str, spec: Mapping[str, Any]) -> TaskSpec:
    _only(f"tasks.{label}", spec,
          {"task", "options", "metrics", "seed_options", "max_iterations"})
    return TaskSpec(label, str(spec.get("task", label)), dict(spec.get("options", {})),
                    spec.get("metrics"), tuple(spec.get("seed_options", ())),
                    spec.get("max_iterations"))


OLD_METHOD_KEYS = {"llm", "policy", "policy_options", "grpo", "sampling", "options"}
"""The method table's former form (``llm = "migrate"``, ``policy_options``, ...)."""
POLICY_FIELDS = ("lora", "engine", "device", "dtype")


def _method(label: str, spec: Mapping[str, Any]) -> MethodSpec:
    if OLD_METHOD_KEYS & set(spec) and "config" not in spec:
        spec = _translated(label, spec)
    _only(f"methods.{label}", spec,
          {"optimizer", "config", "tasks", "max_iterations", "task_options", "adapter_from"})
    adapter_from = _parse_adapter_from(label, spec.get("adapter_from"))
    tasks = spec.get("tasks", adapter_from.tasks if adapter_from else ())
    config = spec.get("config", {})
    if not isinstance(config, Mapping):
        raise ConfigError(f"[methods.{label}] config is a table of the optimizer's options")
    return MethodSpec(
        label=label, optimizer=str(spec.get("optimizer", "")), config=dict(config),
        tasks=tuple(tasks), max_iterations=spec.get("max_iterations"),
        task_options=dict(spec.get("task_options", {})), adapter_from=adapter_from,
    )


def _translated(label: str, spec: Mapping[str, Any]) -> dict[str, Any]:
    """A method table in the former form, read once in the new one (with a warning that
    shows the new form)."""
    out = {k: v for k, v in spec.items() if k not in OLD_METHOD_KEYS}
    config = dict(spec.get("options", {}))
    if "llm" in spec:
        if "optimizer" in spec:
            raise ConfigError(f"[methods.{label}] give `optimizer` and `config`, not `llm`")
        options = dict(spec.get("policy_options", {}))
        policy = {"name": str(spec.get("policy", "smollm2-135m-instruct")),
                  **{k: options.pop(k) for k in POLICY_FIELDS if k in options}}
        if options:
            policy["options"] = options
        config.update(policy=policy, **{k: dict(spec[k]) for k in ("grpo", "sampling")
                                        if spec.get(k)})
        out["optimizer"] = spec["llm"]
    elif OLD_METHOD_KEYS - {"options"} & set(spec):
        raise ConfigError(f"[methods.{label}] grpo, sampling and policy_options apply to LLM "
                          "presets: put them under `config`")
    out["config"] = config
    log.warning("[methods.%s] uses the former keys %s; write it as optimizer = %r, config = %s",
                label, ", ".join(sorted(OLD_METHOD_KEYS & set(spec))), out.get("optimizer"),
                json.dumps(config))
    return out


def _parse_adapter_from(label: str, spec: Any) -> AdapterSource | None:
    if spec is None:
        return None
    if not isinstance(spec, Mapping):
        raise ConfigError(f"[methods.{label}] adapter_from is a table: "
                          '{ method = "migrate", tasks = { target = "source-task" } }')
    _only(f"methods.{label}.adapter_from", spec, {"method", "tasks"})
    try:
        return AdapterSource(str(spec.get("method", "")), dict(spec.get("tasks", {})))
    except ConfigError as exc:
        raise ConfigError(f"[methods.{label}] {exc}") from None


def _only(where: str, spec: Mapping[str, Any], keys: set[str]) -> None:
    unknown = set(spec) - keys
    if unknown:
        raise ConfigError(f"[{where}] has unknown keys {sorted(unknown)}; known: {sorted(keys)}")
