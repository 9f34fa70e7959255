"""Config dataclasses to and from plain mappings (a TOML file, the command line, a stored
study): one reader that refuses unknown keys with the known ones listed, and one writer whose
output the reader turns back into an equal config."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, TypeVar

from .errors import ConfigError

C = TypeVar("C")


def config_from(cls: type[C], value: C | Mapping[str, Any] | None, what: str) -> C | None:
    """``value`` as a ``cls``: itself, None, or a mapping of ``cls``'s fields. ``what``
    names it in errors (``grpo``, ``policy.lora``)."""
    if value is None or isinstance(value, cls):
        return value
    if not isinstance(value, Mapping):
        raise ConfigError(f"{what} must be a table of {cls.__name__} fields, got {value!r}")
    known = {f.name for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
    unknown = sorted(set(map(str, value)) - known)
    if unknown:
        raise ConfigError(f"unknown {what} setting(s) {', '.join(unknown)}; known: "
                          f"{', '.join(sorted(known))}")
    return cls(**{str(k): v for k, v in value.items()})


def to_mapping(value: Any) -> Any:
    """A config (nested dataclasses, tuples, mappings) as JSON-able data."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_mapping(getattr(value, f.name))
                for f in dataclasses.fields(value) if f.init}
    if isinstance(value, Mapping):
        return {str(k): to_mapping(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_mapping(v) for v in value]
    return value


__all__ = ["config_from", "to_mapping"]
