"""Config dataclasses to and from plain mappings (a TOML file, the command line, a stored
study): one reader that refuses unknown keys with the known ones listed, one writer whose
output the reader turns back into an equal config, and typed checks of the options a
factory takes, so a mistyped value from a file is one line and never a traceback."""

from __future__ import annotations

import dataclasses
import inspect
import math
import types
import typing
from collections.abc import Callable, Mapping, Sequence
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


# -- numbers a config accepts -----------------------------------------------------------------
def is_finite_number(value: Any) -> bool:
    """True for finite ints and floats; False for nan, inf, bools, text and None."""
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


def is_count(value: Any) -> bool:
    """True for an int (not a flag)."""
    return isinstance(value, int) and not isinstance(value, bool)


# -- typed options --------------------------------------------------------------------------
def factory_hints(factory: Callable[..., Any]) -> dict[str, Any]:
    """Keyword options of ``factory`` and their full type hints (Any where none is given);
    a ``config`` parameter holding a dataclass contributes that dataclass's fields."""
    target = factory.__init__ if inspect.isclass(factory) else factory  # type: ignore[misc]
    try:
        hints = typing.get_type_hints(target)
    except Exception:
        hints = {}
    out: dict[str, Any] = {}
    for name, param in inspect.signature(factory).parameters.items():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        hint = hints.get(name, Any)
        config = _dataclass_in(hint)
        if name == "config" and config is not None:
            out.update(dataclass_hints(config))
            continue
        out[name] = hint
    return out


def dataclass_hints(kind: type) -> dict[str, Any]:
    """The init fields of a config dataclass and their type hints."""
    hints = typing.get_type_hints(kind)
    return {f.name: hints.get(f.name, Any) for f in dataclasses.fields(kind) if f.init}


def _dataclass_in(hint: Any) -> type | None:
    for h in (hint, *typing.get_args(hint)):
        if inspect.isclass(h) and dataclasses.is_dataclass(h):
            return h
    return None


_UNIONS = (typing.Union, getattr(types, "UnionType", None))
_SCALARS: dict[Any, Callable[[Any], bool]] = {
    bool: lambda v: isinstance(v, bool),
    int: lambda v: isinstance(v, int) and not isinstance(v, bool),
    float: lambda v: (isinstance(v, (int, float)) and not isinstance(v, bool)
                      and math.isfinite(v)),
    str: lambda v: isinstance(v, str),
}


def accepts(hint: Any, value: Any) -> bool:
    """Whether ``value`` is what ``hint`` describes; numbers must be finite, and a value
    with no hint must be plain (text, a number, a flag, or a list of those)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in _UNIONS:
        return any(accepts(h, value) for h in args)
    if value is None or hint is type(None):
        return value is None and (hint is type(None) or hint is Any)
    if origin is typing.Literal:
        return any(value == a and type(value) is type(a) for a in args)
    if hint in _SCALARS:
        return _SCALARS[hint](value)
    if origin in (tuple, list, Sequence) and args:
        if args[0] is str and isinstance(value, str):
            return True  # one name for a list of names (LoRA target_modules)
        return isinstance(value, (list, tuple)) and all(accepts(args[0], v) for v in value)
    if hint is Mapping or origin is Mapping:
        return isinstance(value, Mapping)
    plain = str | float | bool
    if isinstance(value, (list, tuple)):
        return all(accepts(plain, v) for v in value)
    return accepts(plain, value)


def describe(hint: Any) -> str:
    """``hint`` in words, for an error message."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, getattr(types, "UnionType", None)):
        return " or ".join(describe(h) for h in args if h is not type(None))
    if origin is typing.Literal:
        return "one of " + ", ".join(map(repr, args))
    if origin in (tuple, list, Sequence):
        return "a list"
    return {bool: "true or false", int: "an integer", float: "a finite number", str: "text",
            Mapping: "a table"}.get(hint, "text, a number or a flag")


def shown(value: Any, n: int = 40) -> str:
    """A value from a file, short and printable, for an error message."""
    return printable(repr(value), n)


def printable(text: str, n: int = 200) -> str:
    """Text from a file, safe to print on a terminal (no control characters), shortened."""
    text = text if text.isprintable() else text.encode("unicode_escape").decode("ascii")
    return text if len(text) <= n else text[: n - 3] + "..."


def check_value(name: str, hint: Any, value: Any) -> None:
    if not accepts(hint, value):
        raise ConfigError(f"{name} must be {describe(hint)}, got {shown(value)}")


def check_options(what: str, options: Any, hints: Mapping[str, Any]) -> dict[str, Any]:
    """``options`` (a mapping of ``what``'s options), each known and of its hinted type."""
    if not isinstance(options, Mapping):
        raise ConfigError(f"{what} options must be a table, got {shown(options)}")
    unknown = sorted(str(k) for k in options if k not in hints)
    if unknown:
        raise ConfigError(f"unknown {what} option(s) {', '.join(unknown)}; it accepts: "
                          f"{', '.join(hints) or 'none'}")
    for key, value in options.items():
        check_value(f"{what} option {key!r}", hints[key], value)
    return dict(options)


__all__ = ["accepts", "check_options", "check_value", "config_from", "dataclass_hints",
           "describe", "factory_hints", "is_count", "is_finite_number", "printable", "shown",
           "to_mapping"]
