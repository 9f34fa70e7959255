"""OS-level isolation of the worker: bubblewrap, unshare, or none, whichever the kernel
allows; and the report of which defence layers are active on this machine."""

from __future__ import annotations

import functools
import logging
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass

from migrate_opt import ConfigError

from .config import SandboxConfig

log = logging.getLogger(__name__)

WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_worker.py")
SANDBOX_TMP = "/sandbox"  # not /tmp: a checkout under /tmp would be hidden by it
"""Where the worker's throw-away folder lives inside bubblewrap (a private tmpfs)."""
TMPFS_BYTES = 64 * 2**20
SYSTEM_DIRS = ("/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin", "/etc/ld.so.cache",
               "/etc/localtime")


@dataclass(frozen=True)
class Launch:
    """How to start a worker: the command prefix and the folder programs may write in."""

    mode: str
    prefix: tuple[str, ...]
    inside_tmp: str | None
    """Folder programs write to, seen from inside the sandbox; None: the host folder."""
    drop_privileges: bool


def read_roots() -> tuple[str, ...]:
    """Folders a program's process may read: the interpreter, numpy and the worker."""
    import numpy

    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
             os.path.dirname(os.path.dirname(numpy.__file__)), os.path.dirname(WORKER),
             os.path.dirname(os.path.realpath(sys.executable))}
    roots |= {os.path.realpath(r) for r in roots}
    return tuple(sorted(r for r in roots if r and r != "/"))


def _is_root() -> bool:
    return os.geteuid() == 0


def _bwrap_prefix(drop: bool) -> tuple[str, ...]:
    args = ["bwrap", "--die-with-parent", "--unshare-net", "--unshare-pid", "--unshare-ipc",
            "--unshare-uts", "--unshare-cgroup-try"]
    if _is_root():
        # Root keeps the host uid (no user namespace) so that programs can be dropped to
        # `nobody`, whose process limit the kernel enforces; bwrap drops the other caps.
        if drop:
            args += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    else:
        args += ["--unshare-user"]
    for path in SYSTEM_DIRS + read_roots():
        args += ["--ro-bind-try", path, path]
    args += ["--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--size",
             str(TMPFS_BYTES), "--tmpfs", SANDBOX_TMP, "--chdir", SANDBOX_TMP]
    return tuple(args)


def _unshare_prefix() -> tuple[str, ...]:
    args = ["unshare", "--net", "--ipc", "--uts", "--pid", "--fork", "--kill-child"]
    if not _is_root():
        args.append("--map-root-user")
    return tuple(args)


def _launch(mode: str, drop: bool) -> Launch:
    if mode == "bwrap":
        return Launch(mode, _bwrap_prefix(drop), SANDBOX_TMP + "/work", drop)
    if mode == "unshare":
        return Launch(mode, _unshare_prefix(), None, drop)
    return Launch("none", (), None, drop)


@functools.cache
def works(mode: str, drop: bool = False) -> bool:
    """Whether a worker can start under ``mode`` here (the binary exists and the kernel
    lets it create its namespaces)."""
    if mode == "none":
        return True
    if shutil.which(mode) is None:
        return False
    launch = _launch(mode, drop)
    try:
        done = subprocess.run(
            [*launch.prefix, sys.executable, "-I", "-c", "import numpy"],
            stdin=subprocess.DEVNULL, capture_output=True, timeout=60, env=minimal_env("/"),
        )
    except (OSError, subprocess.SubprocessError) as exc:
        log.info("%s is unusable here: %s", mode, exc)
        return False
    if done.returncode != 0:
        log.info("%s is unusable here: %s", mode, done.stderr.decode(errors="replace")[-300:])
    return done.returncode == 0


def resolve(config: SandboxConfig) -> Launch:
    """The launch for ``config``: ``auto`` picks bwrap, then unshare, then none."""
    drop = config.drop_privileges and _is_root()
    if config.isolation == "auto":
        for mode in ("bwrap", "unshare"):
            if works(mode, drop):
                return _launch(mode, drop)
        log.warning("no OS isolation available (install bubblewrap); programs run with "
                    "rlimits, the audit hook and the import guard only")
        return _launch("none", drop)
    if not works(config.isolation, drop):
        raise ConfigError(
            f"isolation {config.isolation!r} does not work on this machine (missing binary "
            "or the kernel refuses namespaces); use isolation='auto' or 'none'"
        )
    return _launch(config.isolation, drop)


def minimal_env(home: str) -> dict[str, str]:
    """The worker's whole environment: no secrets, one BLAS thread, UTF-8."""
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": home,
        "TMPDIR": home,
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "PYTHONHASHSEED": "0",
        "PYTHONDONTWRITEBYTECODE": "1",
    }


def layers(config: SandboxConfig) -> dict[str, str]:
    """Which defence layers are active for ``config`` on this machine, in words."""
    launch = resolve(config)
    unprivileged = not _is_root() or launch.drop_privileges
    return {
        "process": "a worker process per batch in its own process group, killed whole on "
                   "its deadline; a forked child per program, killed on its wall-clock limit",
        "rlimits": "CPU, address space, file size, open files, no core dumps; process "
                   + ("limit enforced" if unprivileged else "limit NOT enforced (root)"),
        "privileges": ("programs run as nobody" if launch.drop_privileges
                       else "not root" if not _is_root() else "programs run as root"),
        "audit_hook": "on" if config.audit_hook else "off",
        "import_guard": "on" if config.import_guard else "off",
        "environment": "minimal (no inherited variables)",
        "os_isolation": {
            "bwrap": "bubblewrap: no network, private pid/ipc/uts, read-only system and "
                     "python folders only, private tmpfs",
            "unshare": "unshare: no network, private pid/ipc/uts (host filesystem visible)",
            "none": "none available",
        }[launch.mode],
    }
