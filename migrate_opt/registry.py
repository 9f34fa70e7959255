"""Plugin discovery and the registry of named tasks, samplers, databases, policies,
optimizers and executors.

Built-ins register through the same hooks as third-party plugins. Loading is tolerant: a
plugin that fails to import is skipped with a warning. Environment variables:
``MIGRATE_OPT_PLUGINS`` (comma-separated allow-list of plugin names; empty string loads none)
and ``MIGRATE_OPT_DISABLE_PLUGINS`` (deny-list)."""

from __future__ import annotations

import difflib
import importlib
import importlib.metadata as md
import logging
import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pluggy

from . import hookspecs
from .errors import PluginError, UnknownNameError

log = logging.getLogger(__name__)

BUILTIN_MODULES = (
    "migrate_opt.builtin_plugins",
)


@dataclass(frozen=True)
class Entry:
    """One registered name."""

    kind: str
    name: str
    factory: Callable[..., Any]
    plugin: str
    distribution: str
    version: str
    description: str = ""


@dataclass(frozen=True)
class SkippedPlugin:
    name: str
    distribution: str
    error: str


class Registry:
    """Everything the loaded plugins registered, by kind and name."""

    def __init__(
        self,
        pm: pluggy.PluginManager,
        skipped: list[SkippedPlugin],
        dists: dict[int, tuple[str, str]],
    ) -> None:
        self.pm = pm
        self.skipped = skipped
        self._dists = dists
        self.entries: dict[str, dict[str, Entry]] = {k: {} for k in hookspecs.KINDS}
        for kind, hook_name in hookspecs.KINDS.items():
            self._collect(kind, hook_name)

    def _collect(self, kind: str, hook_name: str) -> None:
        for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
            plugin_name = self.pm.get_name(impl.plugin) or repr(impl.plugin)
            dist, version = self._dists.get(id(impl.plugin), _distribution_of(impl.plugin))

            def register(
                name: str,
                factory: Callable[..., Any],
                *,
                description: str = "",
                _plugin: str = plugin_name,
                _dist: str = dist,
                _version: str = version,
            ) -> None:
                self._add(Entry(kind, name, factory, _plugin, _dist, _version, description))

            impl.function(register=register)

    def _add(self, entry: Entry) -> None:
        if not callable(entry.factory):
            raise PluginError(f"plugin {entry.plugin!r} registered a non-callable {entry.kind}")
        table = self.entries[entry.kind]
        if entry.name in table:
            other = table[entry.name]
            raise PluginError(
                f"{entry.kind} {entry.name!r} is registered twice: by plugin {other.plugin!r} "
                f"({other.distribution}) and by plugin {entry.plugin!r} ({entry.distribution}). "
                "Uninstall one, or disable it with MIGRATE_OPT_DISABLE_PLUGINS."
            )
        table[entry.name] = entry

    def names(self, kind: str) -> list[str]:
        return sorted(self.entries[kind])

    def entry(self, kind: str, name: str) -> Entry:
        table = self.entries[kind]
        if name in table:
            return table[name]
        by_case = {n.lower(): n for n in table}  # the paper writes MiGrATe
        close = difflib.get_close_matches(name.lower(), by_case, n=1)
        close = [by_case[close[0]]] if close else []
        hint = f" Did you mean {close[0]!r}?" if close else ""
        installed = ", ".join(sorted(table)) or "none"
        raise UnknownNameError(f"unknown {kind} {name!r}.{hint} Installed {kind}s: {installed}.")

    def create(self, kind: str, name: str, *args: Any, **options: Any) -> Any:
        return self.entry(kind, name).factory(*args, **options)


def _distribution_of(plugin: object) -> tuple[str, str]:
    module = getattr(plugin, "__name__", "")
    if module.startswith("migrate_opt"):
        return "migrate-opt", _own_version()
    return "(registered in code)", ""


def _own_version() -> str:
    try:
        return md.version("migrate-opt")
    except md.PackageNotFoundError:
        return "dev"


def _env_list(var: str) -> set[str] | None:
    raw = os.environ.get(var)
    if raw is None:
        return None
    return {_normal(x) for x in raw.split(",") if x.strip()}


def _normal(name: str) -> str:
    """Names compared as package names are (PEP 503: case, and - _ . alike)."""
    return re.sub(r"[-_.]+", "-", name.strip()).lower()


def _warn_unmatched(var: str, names: set[str] | None, seen: set[str]) -> None:
    for name in sorted((names or set()) - seen):
        log.warning("%s names %r, which is no installed plugin (entry point or package); "
                    "`migrate-opt plugins` lists them", var, name)


def _load_entry_points(
    pm: pluggy.PluginManager, skipped: list[SkippedPlugin], dists: dict[int, tuple[str, str]]
) -> None:
    allow = _env_list("MIGRATE_OPT_PLUGINS")
    deny = _env_list("MIGRATE_OPT_DISABLE_PLUGINS") or set()
    seen: set[str] = set()
    for dist in md.distributions():
        for ep in dist.entry_points:
            if ep.group != hookspecs.PROJECT:
                continue
            # A plugin is named by its entry point or by the package that installs it.
            names = {_normal(ep.name), _normal(dist.metadata["name"] or "")}
            seen |= names
            if (allow is not None and not names & allow) or names & deny:
                continue
            if pm.get_plugin(ep.name) is not None:
                continue
            try:
                module = ep.load()
                pm.register(module, name=ep.name)
                dists[id(module)] = (dist.metadata["name"], dist.version)
            except Exception as exc:  # a broken plugin must not kill the host
                dist_name = dist.metadata["name"]
                log.warning("skipping plugin %r (%s): %s", ep.name, dist_name, exc)
                skipped.append(SkippedPlugin(ep.name, dist_name, f"{type(exc).__name__}: {exc}"))
    _warn_unmatched("MIGRATE_OPT_PLUGINS", allow, seen)
    _warn_unmatched("MIGRATE_OPT_DISABLE_PLUGINS", deny, seen)


def build_registry(extra_plugins: tuple[object, ...] = ()) -> Registry:
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    skipped: list[SkippedPlugin] = []
    dists: dict[int, tuple[str, str]] = {}
    for module_name in BUILTIN_MODULES:
        pm.register(importlib.import_module(module_name), name=module_name)
    _load_entry_points(pm, skipped, dists)
    for plugin in extra_plugins:
        pm.register(plugin)
    try:
        pm.check_pending()  # a hook implementation with a typo'd name fails loudly
    except pluggy.PluginValidationError as exc:
        raise PluginError(str(exc)) from exc
    return Registry(pm, skipped, dists)


_lock = threading.Lock()
_registry: Registry | None = None
_extra: list[object] = []


def registry() -> Registry:
    """The process-wide registry, built on first use."""
    global _registry
    with _lock:
        if _registry is None:
            _registry = build_registry(tuple(_extra))
        return _registry


def register_plugin(plugin: object) -> None:
    """Register a plugin object in code (tests, notebooks); undo with ``unregister_plugin``."""
    with _lock:
        _extra.append(plugin)
    reload()


def unregister_plugin(plugin: object) -> None:
    with _lock:
        _extra.remove(plugin)
    reload()


def reload() -> None:
    """Forget the registry so the next use rediscovers plugins."""
    global _registry
    with _lock:
        _registry = None


def create(kind: str, name: str, *args: Any, **options: Any) -> Any:
    """Build a registered object: ``create("task", "semantle", target="computer")``."""
    return registry().create(kind, name, *args, **options)
