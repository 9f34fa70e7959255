"""The error hierarchy. Every error is a MigrateOptError *and* the matching built-in,
so ``except ValueError`` in user code keeps working."""

from __future__ import annotations


class MigrateOptError(Exception):
    """Base class of every error raised by migrate-opt."""


class ConfigError(MigrateOptError, ValueError):
    """A configuration value is invalid; the message says which and what is allowed."""


class TellError(MigrateOptError, ValueError):
    """``tell`` got input it cannot accept; nothing was stored."""


class AskError(MigrateOptError, RuntimeError):
    """``ask`` cannot propose a group now (another one is still open); nothing changed."""


class PluginError(MigrateOptError, RuntimeError):
    """A plugin is broken or two plugins register the same name."""


class UnknownNameError(MigrateOptError, KeyError):
    """A task, sampler, database, policy, optimizer or executor name is not registered."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class StorageError(MigrateOptError, RuntimeError):
    """The database cannot be opened, read or written."""


class TaskError(MigrateOptError, ValueError):
    """A task was constructed with invalid options."""


class BudgetExhausted(MigrateOptError, RuntimeError):
    """``ask`` was called after the evaluation budget was spent."""


class CheckpointError(MigrateOptError, ValueError):
    """A study's training checkpoint cannot be loaded safely; nothing was changed."""


class StudyLockedError(StorageError):
    """Another live process is writing the study (it holds the writer lease)."""
class EngineError(MigrateOptError, RuntimeError):
    """A generation engine cannot run here (not installed, no GPU, unsupported model)."""


class EndpointError(MigrateOptError, RuntimeError):
    """A model server cannot be used (down, wrong URL or model, missing key, bad answer);
    the message names what to fix. Nothing stored is lost: the run stops and resumes."""
