"""Settings of the program sandbox."""

from __future__ import annotations

from dataclasses import dataclass

from migrate_opt import ConfigError

DEFAULT_ALLOWED_IMPORTS = (
    "numpy", "math", "itertools", "collections", "functools", "copy", "random", "re",
    "typing", "dataclasses", "heapq", "bisect", "operator", "statistics", "string",
    "fractions", "array",
)
"""Modules a grid program may import: numpy and pure standard-library modules."""

ISOLATION_MODES = ("auto", "bwrap", "unshare", "none")


@dataclass(frozen=True)
class SandboxConfig:
    """Limits and defence layers for running model-written programs."""

    timeout: float = 2.0
    """Wall-clock seconds one ``transform`` call may take (program start-up included in the
    first); the child is killed past it and the rest of its inputs count as timeouts."""
    cpu_seconds: int | None = None
    """CPU seconds for one program over all its inputs; None: inputs x timeout + 1."""
    memory_mb: int = 512
    """Address space a program may add on top of the numpy-loaded worker."""
    file_mb: int = 4
    """Largest file a program may write (only inside its throw-away folder)."""
    max_side: int = 30
    """Largest output grid side accepted (ARC grids are at most 30 x 30)."""
    workers: int = 2
    """Worker processes run in parallel (each runs a batch of programs one by one)."""
    batch_size: int = 16
    """Programs per worker process: one interpreter start-up is shared by a batch."""
    isolation: str = "auto"
    """OS isolation: ``bwrap`` (bubblewrap), ``unshare``, ``none``, or ``auto`` (the
    strongest one this machine allows)."""
    audit_hook: bool = True
    """Veto file writes/reads outside the folder, sockets, processes and ctypes with
    ``sys.addaudithook`` inside each program's process."""
    import_guard: bool = True
    """Refuse imports outside ``allowed_imports`` (a ``forbidden_import`` result)."""
    drop_privileges: bool = True
    """When running as root, run programs as ``nobody`` (root ignores the process limit)."""
    allowed_imports: tuple[str, ...] = DEFAULT_ALLOWED_IMPORTS
    """Top-level modules programs may import."""
    seed: int = 0
    """Seed of ``random`` and ``numpy.random`` in every program, for reproducible scores."""
    startup_timeout: float = 30.0
    """Seconds a worker may take to start (interpreter, numpy, sandbox set-up)."""

    def __post_init__(self) -> None:
        if self.timeout <= 0:
            raise ConfigError(f"timeout must be > 0 seconds, got {self.timeout}")
        if self.cpu_seconds is not None and self.cpu_seconds < 1:
            raise ConfigError(f"cpu_seconds must be >= 1 or None, got {self.cpu_seconds}")
        for name in ("memory_mb", "file_mb", "max_side", "workers", "batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.isolation not in ISOLATION_MODES:
            raise ConfigError(f"isolation must be one of {', '.join(ISOLATION_MODES)}, "
                              f"got {self.isolation!r}")
        if self.startup_timeout <= 0:
            raise ConfigError("startup_timeout must be > 0 seconds")
        object.__setattr__(self, "allowed_imports", tuple(self.allowed_imports))
