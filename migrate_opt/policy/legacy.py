"""The old spellings of ``Policy.generate`` and ``Updater.step``, kept working for one
release. ``generate`` took five loose keywords (``system``, ``max_new_tokens``,
``response_prefix``, ``stop``, ``grammar``) and ``step`` took ``(policy, prompt, system,
members, response_prefix)``; both now take a :class:`~migrate_opt.PromptSpec`.

``Policy`` and ``Updater`` wrap every subclass's method with :func:`shim_generate` and
:func:`shim_step` (``__init_subclass__``), so both sides keep working: a caller in the old
spelling reaches a new implementation, and the optimizer's new-style call reaches a
third-party implementation written for the old one. Each path warns once per process,
naming the new spelling. Remove this module, and the two hooks, when the old forms go."""

from __future__ import annotations

import functools
import inspect
import warnings
from collections.abc import Callable, Mapping
from typing import Any

from ..task.prompt_spec import PromptSpec

GENERATE_KEYWORDS = ("system", "max_new_tokens", "response_prefix", "stop", "grammar")
"""The keywords a ``PromptSpec`` replaces in ``generate``."""
NEW_GENERATE = ("generate(prompts, spec=PromptSpec(system=..., max_new_tokens=..., "
                "response_prefix=..., stop=(...), grammar=...), sampling=..., seed=...)")
NEW_STEP = "step(policy, prompt, spec=PromptSpec(system=..., response_prefix=...), members)"

_warned: set[str] = set()
_shims: set[Callable[..., Any]] = set()
"""The wrappers installed so far (a subclass that inherits one is not wrapped again)."""


def _warn_once(key: str, message: str, frames: int = 1) -> None:
    """Warn at the caller of the wrapped method, ``frames`` calls above the warning's."""
    if key not in _warned:
        _warned.add(key)
        warnings.warn(message, DeprecationWarning, stacklevel=2 + frames)


def spec_of_keywords(spec: PromptSpec | None, keywords: Mapping[str, Any]) -> PromptSpec | None:
    """``spec`` itself, or the spec the old keyword arguments of ``generate`` describe."""
    if not keywords:
        return spec
    unknown = sorted(set(keywords) - set(GENERATE_KEYWORDS))
    if unknown:
        raise TypeError(f"generate() got unexpected keyword argument(s) {', '.join(unknown)}")
    if spec is not None:
        raise TypeError(f"generate() takes a spec or the old keywords, not both: {NEW_GENERATE}")
    _warn_once("generate", f"generate(prompts, {'=..., '.join(keywords)}=...) is deprecated: "
                           f"call {NEW_GENERATE} (a task builds its own: task.prompt_spec())",
               frames=2)
    values = dict(keywords)
    if "stop" in values:
        values["stop"] = tuple(values["stop"])  # the old form took any sequence
    return PromptSpec(**values)


def _accepted(method: Callable[..., Any], names: Mapping[str, Any]) -> dict[str, Any]:
    """The items of ``names`` that ``method`` takes as keywords (all, given ``**kwargs``)."""
    params = inspect.signature(method).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return dict(names)
    return {k: v for k, v in names.items() if k in params}


Make = Callable[[Callable[..., Any], bool, str], Callable[..., Any]]
"""Builds a wrapper from (the implementation, whether it takes a spec, its class's name)."""


def _wrap(cls: type, name: str, make: Make) -> None:
    """Replace ``cls``'s own ``name`` (a plain function, not a wrapper already) with the
    wrapper ``make`` builds for it."""
    impl = cls.__dict__.get(name)
    if not inspect.isfunction(impl) or impl in _shims:
        return
    wrapper = functools.wraps(impl)(make(impl, "spec" in inspect.signature(impl).parameters,
                                         cls.__qualname__))
    _shims.add(wrapper)
    setattr(cls, name, wrapper)


def _old_implementation(owner: str, method: str, new: str) -> None:
    _warn_once(f"impl:{owner}.{method}", f"{owner}.{method} takes the old arguments: "
                                         f"implement {new}", frames=2)


def _generate(impl: Callable[..., Any], new_style: bool, owner: str) -> Callable[..., Any]:
    def generate(self: Any, prompts: Any, spec: PromptSpec | None = None, **kw: Any) -> Any:
        rest: dict[str, Any] = {k: kw.pop(k) for k in ("sampling", "seed") if k in kw}
        spec = spec_of_keywords(spec, kw)
        if new_style:
            return impl(self, prompts, spec, **rest)
        _old_implementation(owner, "generate", NEW_GENERATE)
        spec = spec if spec is not None else PromptSpec()
        old = {"system": spec.system, "max_new_tokens": spec.max_new_tokens,
               "response_prefix": spec.response_prefix, "stop": spec.stop,
               "grammar": spec.grammar}
        return impl(self, prompts, **_accepted(impl, {**rest, **old}))

    return generate


def _step(impl: Callable[..., Any], new_style: bool, owner: str) -> Callable[..., Any]:
    def step(self: Any, policy: Any, prompt: str, spec: Any = None, members: Any = (),
             *prefix: str, **kw: Any) -> Any:
        if "system" in kw:
            spec = kw.pop("system")
        if not isinstance(spec, PromptSpec):  # the old (policy, prompt, system, members, ...)
            _warn_once("step", f"step(policy, prompt, system, members, response_prefix) is "
                               f"deprecated: call {NEW_STEP}")
            response_prefix = prefix[0] if prefix else kw.pop("response_prefix", "")
            spec = PromptSpec(system=spec, response_prefix=response_prefix)
        if new_style:
            return impl(self, policy, prompt, spec, members, **kw)
        _old_implementation(owner, "step", NEW_STEP)
        extra = _accepted(impl, {"response_prefix": spec.response_prefix})
        return impl(self, policy, prompt, spec.system, members, **extra, **kw)

    return step


def shim_generate(cls: type) -> None:
    """Let ``cls.generate`` take both spellings (``Policy.__init_subclass__`` calls this)."""
    _wrap(cls, "generate", _generate)


def shim_step(cls: type) -> None:
    """Let ``cls.step`` take both spellings (``Updater.__init_subclass__`` calls this)."""
    _wrap(cls, "step", _step)
