"""What a task asks of every generation besides the prompt itself: one frozen value the
optimizer builds once (:meth:`Task.prompt_spec <migrate_opt.task.Task.prompt_spec>`) and
hands to ``Policy.generate`` and ``Updater.step``, instead of five loose arguments."""

from __future__ import annotations

from dataclasses import dataclass

from ..configs import is_count
from ..errors import ConfigError
from .grammar import Grammar


@dataclass(frozen=True)
class PromptSpec:
    """How a prompt is framed and its completion bounded."""

    system: str | None = None
    """The system message (None: none)."""
    response_prefix: str = ""
    """Opens the answer before sampling starts (e.g. ``["`` for a JSON list): generated
    texts start with it, the sampled tokens do not."""
    stop: tuple[str, ...] = ()
    """Generation ends after the first of these strings."""
    grammar: Grammar | None = None
    """What the whole answer (prefix included) may be; None samples freely. A policy that
    cannot constrain its sampling ignores it (the task's parser still judges the answer)."""
    max_new_tokens: int = 64
    """Completion length cap (``SamplingConfig.max_new_tokens``, when set, overrides it)."""

    def __post_init__(self) -> None:
        if not is_count(self.max_new_tokens) or self.max_new_tokens < 1:
            raise ConfigError(f"max_new_tokens must be an integer >= 1, got "
                              f"{self.max_new_tokens!r}")
        # A bare string would stop at each of its characters; a list is not hashable.
        if not isinstance(self.stop, tuple) or not all(isinstance(s, str) and s
                                                       for s in self.stop):
            raise ConfigError(f"stop must be a tuple of non-empty strings (stop=(']',)), got "
                              f"{self.stop!r}")
        if self.system is not None and not isinstance(self.system, str):
            raise ConfigError(f"system must be a string or None, got {self.system!r}")
        if not isinstance(self.response_prefix, str):
            raise ConfigError(f"response_prefix must be a string, got "
                              f"{self.response_prefix!r}")
        if self.grammar is not None and not isinstance(self.grammar, Grammar):
            raise ConfigError(f"grammar must be a migrate_opt.Grammar or None, got "
                              f"{self.grammar!r}")
