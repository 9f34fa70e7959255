"""The sandbox worker: runs model-written ARC programs, one forked child per program.

This file is executed as a script (``python -I _worker.py``), possibly inside bubblewrap, and
imports only the standard library and numpy: it must not depend on the plugin package.

Protocol: one JSON request on stdin; JSON lines on stdout, one per (program, input):
``{"p": program, "j": input, "kind": ..., "output": grid | null, "error": str | null}``,
then ``{"done": true}``. The parent trusts none of it and validates every line again.

Each program runs in a child forked from this (already numpy-warm) process, so programs
cannot see or poison one another, and each gets its own limits: rlimits (CPU, address
space, file size, processes, open files, no core dumps), a non-root uid when the worker
runs as root, an audit hook vetoing file, socket, process and current-directory events, and
an import guard.
The child streams one line per input; the worker kills it when an input overruns its
wall-clock limit and reports the inputs it never finished as timeouts.
"""

from __future__ import annotations

import builtins
import importlib
import json
import os
import random
import resource
import select
import signal
import sys
import time
from typing import Any

import numpy as np

# Loaded before any child is forked: a child dropped to `nobody` may not be able to read
# the interpreter's files, and its audit hook restricts reads anyway.
NUMPY_PARTS = ("numpy.fft", "numpy.lib.stride_tricks", "numpy.linalg", "numpy.random")

KINDS = ("ok", "exception", "timeout", "memory", "forbidden_import", "forbidden",
         "malformed", "crashed", "syntax", "no_transform")

# Audit events a grid program never needs: processes, network, foreign code, persistence.
BLOCKED_EVENTS = frozenset({
    "os.system", "os.fork", "os.forkpty", "os.kill", "os.killpg", "os.putenv",
    "os.unsetenv", "os.chmod", "os.chown", "os.link", "os.symlink", "os.remove",
    "os.rename", "os.rmdir", "os.mkdir", "os.truncate", "os.utime", "os.setxattr",
    "os.removexattr", "os.chflags", "os.lchflags", "os.startfile", "os.add_dll_directory",
    "os.chroot", "os.mknod", "os.mkfifo",
    "subprocess.Popen", "pty.spawn", "mmap.__new__", "marshal.loads", "marshal.load",
    "code.__new__", "function.__new__", "sys.addaudithook", "sys.settrace", "sys.setprofile",
    "resource.setrlimit", "resource.prlimit", "pickle.find_class", "webbrowser.open",
    "sys.remote_exec", "signal.pthread_kill", "_posixsubprocess.fork_exec",
    # The current directory anchors every relative path: a program keeps the one it got.
    "os.chdir", "os.fchdir",
})
BLOCKED_PREFIXES = ("socket.", "os.exec", "os.spawn", "os.posix_spawn", "ctypes.",
                    "urllib.", "http.", "ftplib.", "smtplib.", "imaplib.", "poplib.",
                    "nntplib.", "telnetlib.", "sqlite3.", "shutil.", "glob.", "winreg.",
                    "_winapi.", "msvcrt.",
                    "gc.")  # gc would hand a program the hook itself
PATH_EVENTS = frozenset({"os.listdir", "os.scandir", "os.walk", "os.fwalk"})
FORBIDDEN_SUBMODULES = ("numpy.ctypeslib", "numpy.f2py", "numpy.distutils", "numpy.testing")
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
NOBODY = 65534
MAX_ERROR = 300
MAX_WRITE_OPENS = 16
"""Files a program may open for writing: with the file-size limit, this bounds the disk a
program can fill when there is no private tmpfs."""


class ForbiddenImport(ImportError):
    """A program imported a module outside the allow-list."""


class SandboxViolation(PermissionError):
    """The audit hook vetoed an event."""


# -- limits and privileges (child side) -------------------------------------------------
def _vm_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


def _set_limits(limits: dict, n_inputs: int) -> None:
    cpu = int(limits["cpu_seconds"] or n_inputs * limits["timeout"] + 1)
    memory = _vm_bytes() + int(limits["memory_mb"]) * 2**20
    # CPU: SIGXCPU at the soft limit (reported as a timeout), SIGKILL a second later.
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    for name, value in (
        ("RLIMIT_AS", memory),
        ("RLIMIT_FSIZE", int(limits["file_mb"]) * 2**20),
        ("RLIMIT_CORE", 0),
        ("RLIMIT_NOFILE", 32),
        ("RLIMIT_NPROC", 0),
    ):
        resource.setrlimit(getattr(resource, name), (value, value))


def _drop_privileges(workdir: str) -> bool:
    """Become ``nobody`` when running as root: root ignores RLIMIT_NPROC and owns files."""
    if os.geteuid() != 0:
        return False
    os.chown(workdir, NOBODY, NOBODY)
    os.setgroups([])
    os.setgid(NOBODY)
    os.setuid(NOBODY)
    return True


# -- audit hook and import guard ---------------------------------------------------------
# One closure on purpose. The hook runs on every audited event of untrusted code, which can
# reach this module (``typing.sys.modules['__main__']``), ``posixpath`` and ``builtins`` and
# rebind any name in them; so the hook looks up no global or builtin name at all: all it
# uses is bound here, in closure cells of a function no program can reach (``gc`` is
# vetoed). It calls no Python code a program could replace or define (a path must be an
# exact str or bytes, never an object with ``__fspath__``) and raises no audited events.
def _make_audit_hook(workdir: str, read_roots: tuple[str, ...], allowed: frozenset,  # noqa: C901, PLR0915
                     violations: list):
    """A hook that vetoes dangerous events. It must not itself raise audited events."""
    blocked, blocked_prefixes, path_events = BLOCKED_EVENTS, BLOCKED_PREFIXES, PATH_EVENTS
    forbidden_submodules, write_flags = FORBIDDEN_SUBMODULES, WRITE_FLAGS
    max_write_opens, violation, oserror = MAX_WRITE_OPENS, SandboxViolation, OSError
    getcwd, stat, str_, bytes_, int_, type_, len_ = os.getcwd, os.stat, str, bytes, int, \
        type, len
    home = (workdir.rstrip("/"),)
    roots = tuple(r.rstrip("/") for r in read_roots)
    write_opens = [0]

    def veto(event: str, detail: str) -> None:
        message = f"sandbox blocked {event}{detail}"
        if len_(violations) < 8:
            violations.append(message)
        raise violation(message)

    def under(path: str, prefixes: tuple) -> bool:
        for r in prefixes:
            if path == r or path.startswith(r + "/"):
                return True
        return False

    def absolute(path) -> str | None:
        """``path`` normalised against the REAL current directory (a program cannot change
        it: chdir is vetoed, but the kernel's view is the one that counts); None for
        anything but a plain str or bytes path."""
        kind = type_(path)
        if kind is bytes_:
            path = path.decode("utf-8", "surrogateescape")
        elif kind is not str_:
            return None
        if "\x00" in path:
            return None
        if not path.startswith("/"):
            path = getcwd() + "/" + path
        parts: list[str] = []
        for part in path.split("/"):
            if part == "..":
                if parts:
                    parts.pop()
            elif part and part != ".":
                parts.append(part)
        return "/" + "/".join(parts)

    def shown(path) -> str:
        return f"{path!r}" if type_(path) in (str_, bytes_) else f"<{type_(path).__name__}>"

    def is_dir(path: str) -> bool:
        try:
            return stat(path).st_mode & 0o170000 == 0o040000
        except oserror:
            return False

    def check_open(event: str, args: tuple) -> None:
        path: Any = args[0] if len_(args) > 0 else None
        mode: Any = args[1] if len_(args) > 1 else None
        flags: Any = args[2] if len_(args) > 2 else None
        full = absolute(path)
        writes = (type_(mode) is str_ and ("w" in mode or "a" in mode or "x" in mode
                                          or "+" in mode)) or (
            type_(flags) is int_ and flags & write_flags != 0)
        inside = full is not None and under(full, home)
        # Outside the folder: reads of the interpreter's files only, and never a directory
        # (a directory descriptor passed as ``dir_fd`` would anchor relative paths there).
        if not inside and (full is None or writes or not under(full, roots) or is_dir(full)):
            veto(event, f"({shown(path)}, {'write' if writes else 'read'})")
        if writes:
            write_opens[0] += 1
            if write_opens[0] > max_write_opens:
                veto(event, f": more than {max_write_opens} files opened for writing")

    def hook(event: str, args: tuple) -> None:
        if event in blocked or event.startswith(blocked_prefixes):
            veto(event, "")
        elif event == "open":
            check_open(event, args)
        elif event in path_events:
            path = args[0] if len_(args) > 0 and args[0] is not None else "."
            full = absolute(path)
            if full is None or not under(full, home):
                veto(event, f"({shown(path)})")
        elif event == "import":
            name: Any = args[0] if len_(args) > 0 else None
            if type_(name) is not str_:
                veto(event, "(a module name that is not a str)")
            top = name.split(".")[0]
            if (top not in allowed and top != "encodings") or name.startswith(
                    forbidden_submodules):
                veto(event, f"({name})")

    return hook


def _guarded_builtins(allowed: frozenset, violations: list) -> dict:
    # Names bound here, like the audit hook's: a program can rebind this module's globals.
    real_import, forbidden_submodules, refused = builtins.__import__, FORBIDDEN_SUBMODULES, \
        ForbiddenImport
    str_, type_, len_ = str, type, len

    def guarded_import(name, globals=None, locals=None, fromlist=(), level=0):
        if type_(name) is not str_ or level != 0 or name.split(".")[0] not in allowed:
            refuse(name, level)
        for wanted in (name, *[f"{name}.{x}" for x in (fromlist or ()) if type_(x) is str_]):
            if wanted.startswith(forbidden_submodules):
                refuse(name, level)
        return real_import(name, globals, locals, fromlist, level)

    def refuse(name, level) -> None:
        message = f"forbidden import: {name if level == 0 else '.' * level + name}"
        if len_(violations) < 8:
            violations.append(message)
        raise refused(message)

    safe = dict(vars(builtins))
    for name in ("breakpoint", "input", "help", "exit", "quit", "copyright", "credits",
                 "license"):
        safe.pop(name, None)
    safe["__import__"] = guarded_import
    return safe


# -- running one program (child side) ----------------------------------------------------
def _as_grid(out, max_side: int) -> list:
    """The program's output as a list of lists of ints 0-9, or raise ValueError."""
    if isinstance(out, (list, tuple)) and (len(out) > max_side or any(
            isinstance(row, (list, tuple)) and len(row) > max_side for row in out)):
        raise ValueError(f"output must be a 2-D grid of at most {max_side}x{max_side}")
    arr = np.asarray(out)
    if arr.ndim != 2 or not 1 <= arr.shape[0] <= max_side or not 1 <= arr.shape[1] <= max_side:
        raise ValueError(f"output must be a 2-D grid of at most {max_side}x{max_side}, "
                         f"got shape {arr.shape}")
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.number):
        raise ValueError(f"output cells must be integers 0-9, got dtype {arr.dtype}")
    if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
        raise ValueError("output cells must be integers 0-9")
    if arr.min() < 0 or arr.max() > 9:
        raise ValueError("output cells must be integers 0-9")
    return arr.astype(int).tolist()


def _classify(exc: BaseException, violations: list) -> str:
    if isinstance(exc, ForbiddenImport):
        return "forbidden_import"
    if isinstance(exc, SandboxViolation) or violations:
        return "forbidden"
    if isinstance(exc, MemoryError):
        return "memory"
    return "exception"


def _describe(exc: BaseException) -> str:
    try:
        text = f"{type(exc).__name__}: {exc}"
    except Exception:
        text = type(exc).__name__
    return text[:MAX_ERROR]


def _emit(fd: int, j: int, kind: str, output=None, error: str | None = None) -> None:
    line = json.dumps({"j": j, "kind": kind, "output": output, "error": error}) + "\n"
    data = line.encode()
    while data:
        data = data[os.write(fd, data):]


def _child(fd: int, source: str, inputs: list, request: dict, workdir: str) -> None:
    """Runs in the forked child; never returns."""
    status = 0
    try:
        devnull = os.open(os.devnull, os.O_RDWR)
        for std in (0, 1, 2):
            os.dup2(devnull, std)
        os.closerange(3, fd)
        os.closerange(fd + 1, 1 << 16)
        os.makedirs(workdir, exist_ok=True)
        os.chdir(workdir)
        if request["drop_privileges"]:
            _drop_privileges(workdir)
        _set_limits(request["limits"], len(inputs))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # an oversized write raises instead
        random.seed(request["seed"])
        np.random.seed(request["seed"])
        _run_program(fd, source, inputs, request, workdir)
    except BaseException:  # the child must never fall back into the worker's loop
        status = 1
    finally:
        os._exit(status)


def _run_program(fd: int, source: str, inputs: list, request: dict, workdir: str) -> None:
    allowed = frozenset(request["allowed_imports"])
    violations: list[str] = []
    namespace = {"__name__": "__program__", "__builtins__": (
        _guarded_builtins(allowed, violations) if request["import_guard"] else builtins)}
    try:
        code = compile(source, "<program>", "exec")
    except (SyntaxError, ValueError, MemoryError, RecursionError) as exc:
        return _fail_all(fd, len(inputs), "syntax", _describe(exc))
    if request["audit_hook"]:
        sys.addaudithook(_make_audit_hook(workdir, tuple(request["read_roots"]), allowed,
                                          violations))
    try:
        exec(code, namespace)
        transform = namespace.get("transform")
        if not callable(transform):
            return _fail_all(fd, len(inputs), "no_transform", "no function `transform` defined")
    except BaseException as exc:  # noqa: BLE001 - anything the program raises is its result
        return _fail_all(fd, len(inputs), _classify(exc, violations), _describe(exc))
    for j, grid in enumerate(inputs):
        _run_one(fd, j, transform, grid, request["limits"]["max_side"], violations)


def _run_one(fd: int, j: int, transform, grid: list, max_side: int, violations: list) -> None:
    before = len(violations)
    try:
        out = transform(np.array(grid, dtype=int))
    except BaseException as exc:  # noqa: BLE001
        return _emit(fd, j, _classify(exc, violations[before:]), None, _describe(exc))
    if len(violations) > before:
        return _emit(fd, j, "forbidden", None, violations[before][:MAX_ERROR])
    try:
        result = _as_grid(out, max_side)
    except BaseException as exc:  # noqa: BLE001 - hostile objects can raise anything
        return _emit(fd, j, "memory" if isinstance(exc, MemoryError) else "malformed", None,
                     _describe(exc))
    _emit(fd, j, "ok", result)


def _fail_all(fd: int, n: int, kind: str, error: str) -> None:
    for j in range(n):
        _emit(fd, j, kind, None, error)


# -- supervising children (worker side) --------------------------------------------------
def _supervise(pid: int, fd: int, n_inputs: int, limits: dict) -> dict[int, dict]:
    """Collect the child's lines; kill it when an input overruns its wall-clock limit."""
    results: dict[int, dict] = {}
    buffer = b""
    max_line = int(limits["max_line"])
    deadline = time.monotonic() + limits["timeout"] + limits["startup"]
    reason = None
    while len(results) < n_inputs:
        left = deadline - time.monotonic()
        if left <= 0:
            reason = "timeout"
            break
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            continue
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            parsed = _parse_child_line(line, n_inputs)
            if parsed is not None and parsed["j"] not in results:
                results[parsed["j"]] = parsed
                deadline = time.monotonic() + limits["timeout"]
        if len(buffer) > max_line:
            reason = "malformed"
            break
    status = _reap(pid, reason is not None)
    if len(results) < n_inputs:
        if reason is None:
            reason = "timeout" if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGXCPU \
                else "crashed"
        _fill_missing(results, n_inputs, reason, limits)
    return results


def _parse_child_line(line: bytes, n_inputs: int) -> dict | None:
    try:
        d = json.loads(line)
        if not isinstance(d, dict) or d.get("kind") not in KINDS:
            return None
        j = d.get("j")
        if not isinstance(j, int) or not 0 <= j < n_inputs:
            return None
        error = d.get("error")
        return {"j": j, "kind": d["kind"], "output": d.get("output") if d["kind"] == "ok"
                else None, "error": str(error)[:MAX_ERROR] if error is not None else None}
    except (ValueError, RecursionError):
        return None


def _reap(pid: int, kill: bool) -> int:
    """Wait for the child (killing it first if asked); its wait status."""
    if kill:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return os.waitpid(pid, 0)[1]


def _fill_missing(results: dict, n_inputs: int, reason: str, limits: dict) -> None:
    error = {
        "timeout": f"no result within {limits['timeout']:g} s wall or the CPU limit (killed)",
        "malformed": "output line too long (killed)",
        "crashed": "the program's process died (memory, CPU or stack limit, or a crash)",
    }[reason]
    for j in range(n_inputs):
        results.setdefault(j, {"j": j, "kind": reason, "output": None, "error": error})


def _run_batch(request: dict) -> None:
    inputs = request["inputs"]
    base = request["workdir"]
    for p, source in enumerate(request["programs"]):
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read_fd)
            _child(write_fd, source, inputs, request, os.path.join(base, f"p{p}"))
        os.close(write_fd)
        try:
            results = _supervise(pid, read_fd, len(inputs), request["limits"])
        finally:
            os.close(read_fd)
        for j in range(len(inputs)):
            sys.stdout.write(json.dumps({"p": p, **results[j]}) + "\n")
        sys.stdout.flush()


def main() -> None:
    # The parent kills our whole process group on its own deadline; children inherit it.
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    request = json.loads(sys.stdin.buffer.read())
    for name in (*NUMPY_PARTS, *request["allowed_imports"]):
        try:
            importlib.import_module(name)
        except ImportError:
            pass  # the program gets the ImportError itself
    np.random.seed(0)  # loads numpy.random's lazy parts (zlib) while files are readable
    os.makedirs(request["workdir"], exist_ok=True)
    _run_batch(request)
    sys.stdout.write(json.dumps({"done": True}) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
