"""Hostile programs against the sandbox: every one must come back as a bounded invalid
result within its limits, leaving this process and the machine unharmed. Then each defence
layer is tested on its own, with the others switched off."""

from __future__ import annotations

import os
import socket
import time

import pytest
from migrate_opt_arc.sandbox import Sandbox, SandboxConfig, layers, works

GRID = ((1, 2), (3, 4))
TIMEOUT = 1.0
IS_ROOT = os.geteuid() == 0

# The escape most sandboxes of this kind forget: reach the `os` module without importing
# it, through a class that the interpreter has already loaded.
ESCAPE = ("OS = [c for c in ().__class__.__base__.__subclasses__() "
          "if c.__name__ == '_wrap_close'][0].__init__.__globals__\n")


def _hostile(marker: str) -> dict[str, tuple[str, set[str]]]:
    """name -> (program, acceptable outcome kinds). ``marker`` is a host path that must
    never be created."""
    return {
        "infinite loop": ("def transform(g):\n    while True:\n        pass", {"timeout"}),
        "fork bomb": ("import os\ndef transform(g):\n    while True:\n        os.fork()",
                      {"forbidden_import"}),
        "fork bomb, escaped": (ESCAPE + "def transform(g):\n    while True:\n"
                               "        OS['fork']()", {"forbidden"}),
        "memory bomb": ("import numpy as np\ndef transform(g):\n"
                        "    return np.ones((10**5, 10**5))", {"memory"}),
        "memory bomb, pure python": ("def transform(g):\n    x = []\n    while True:\n"
                                     "        x.append(' ' * 10**7)", {"memory"}),
        "huge output": ("import numpy as np\ndef transform(g):\n"
                        "    return np.zeros((3000, 3000), dtype=int)", {"malformed"}),
        "huge nested list": ("def transform(g):\n    return [[0] * 10**6] * 10",
                             {"malformed"}),
        "not a grid": ("def transform(g):\n    return [[1, 2], [3]]", {"malformed"}),
        "colour out of range": ("def transform(g):\n    return [[10]]", {"malformed"}),
        "read outside the folder": (
            "def transform(g):\n    return [[len(open('/etc/hostname').read()) % 10]]",
            {"forbidden"}),
        "write outside the folder": (
            f"def transform(g):\n    open({marker!r}, 'w').write('x')\n    return g",
            {"forbidden"}),
        "write outside, escaped": (
            ESCAPE + f"def transform(g):\n    OS['open']({marker!r}, OS['O_CREAT'] | "
            "OS['O_WRONLY'])\n    return g", {"forbidden"}),
        "socket": ("import socket\ndef transform(g):\n    socket.socket()\n    return g",
                   {"forbidden_import"}),
        "socket, escaped": (
            ESCAPE + "def transform(g):\n    s = OS['sys'].modules['builtins'].__import__("
            "'socket')\n    s.socket()\n    return g", {"forbidden"}),
        "os.system": (f"import os\ndef transform(g):\n    os.system('touch {marker}')\n"
                      "    return g", {"forbidden_import"}),
        "os.system, escaped": (ESCAPE + f"def transform(g):\n    OS['system']('touch "
                               f"{marker}')\n    return g", {"forbidden"}),
        "import ctypes": ("import ctypes\ndef transform(g):\n    return g",
                          {"forbidden_import"}),
        "ctypes through numpy": ("import numpy as np\ndef transform(g):\n"
                                 "    np.ctypeslib.ctypes.CDLL(None)\n    return g",
                                 {"forbidden"}),
        "import subprocess": ("import subprocess\ndef transform(g):\n"
                              "    subprocess.run(['true'])\n    return g",
                              {"forbidden_import"}),
        "subprocess, lazily": ("def transform(g):\n    __import__('subprocess')\n"
                               "    return g", {"forbidden_import"}),
        "deep recursion": ("def f(n):\n    return f(n + 1)\ndef transform(g):\n"
                           "    return f(0)", {"exception"}),
        "many files": ("def transform(g):\n    for i in range(10**6):\n"
                       "        open(f'f{i}', 'w').write('x' * 1000)\n    return g",
                       {"forbidden"}),
        "printing megabytes": ("def transform(g):\n    for _ in range(50):\n"
                               "        print('x' * 10**6)\n    return [[1]]", {"ok"}),
        "syntax error": ("def transform(g) return g", {"syntax"}),
        "no transform": ("def other(g):\n    return g", {"no_transform"}),
    }


@pytest.fixture(scope="module")
def hostile_results(tmp_path_factory: pytest.TempPathFactory):
    marker = str(tmp_path_factory.mktemp("host") / "pwned")
    programs = _hostile(marker)
    sandbox = Sandbox(SandboxConfig(timeout=TIMEOUT, memory_mb=256))
    # Children from earlier tests (e.g. multiprocessing's resource tracker) are not ours.
    before = _children()
    start = time.monotonic()
    outcomes = sandbox.run([p for p, _ in programs.values()], [GRID])
    seconds = time.monotonic() - start
    results = {name: o[0] for name, o in zip(programs, outcomes)}
    return results, programs, seconds, marker, before


def _stat(pid: int | str) -> list[str] | None:
    """State, parent pid, ... of a process; None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None


def _children() -> set[str]:
    """Live (non-zombie) child processes of this process."""
    me = str(os.getpid())
    return {pid for pid in filter(str.isdigit, os.listdir("/proc"))
            if (st := _stat(pid)) is not None and st[1] == me and st[0] != "Z"}


@pytest.mark.parametrize("name", sorted(_hostile("/nowhere")))
def test_hostile_program_gets_a_bounded_result(hostile_results, name: str) -> None:
    results, programs, _, _, _ = hostile_results
    outcome = results[name]
    assert outcome.kind in programs[name][1], outcome
    if outcome.kind != "ok":
        assert outcome.output is None and outcome.error
        assert len(outcome.error) <= 300


def test_hostile_batch_stays_within_its_limits(hostile_results) -> None:
    results, programs, seconds, marker, _ = hostile_results
    timeouts = sum(o.kind == "timeout" for o in results.values())
    # 2 workers share the batch: at most the timeouts plus start-up and memory faulting.
    assert seconds < 30 + timeouts * (TIMEOUT + 1.5), seconds
    assert not os.path.exists(marker)


def test_host_keeps_no_stray_processes(hostile_results) -> None:
    assert _children() - hostile_results[4] == set()


def test_printing_does_not_reach_the_host(capfd: pytest.CaptureFixture[str]) -> None:
    out = Sandbox(SandboxConfig(timeout=TIMEOUT)).run(
        ["def transform(g):\n    print('LEAK' * 1000)\n    return g"], [GRID])
    assert out[0][0].output == GRID
    captured = capfd.readouterr()
    assert "LEAK" not in captured.out + captured.err


def test_results_are_deterministic_and_programs_isolated() -> None:
    sandbox = Sandbox(SandboxConfig(timeout=TIMEOUT, workers=1))
    poison = "import numpy as np\nnp.zeros = None\ndef transform(g):\n    return g"
    rand = ("import random\nimport numpy as np\ndef transform(g):\n"
            "    return [[random.randint(0, 9), int(np.random.randint(10))]]")
    uses = "import numpy as np\ndef transform(g):\n    return np.zeros((1, 1), dtype=int)"
    first = sandbox.run([poison, rand, uses], [GRID])
    second = sandbox.run([rand], [GRID])
    assert first[2][0].output == ((0,),)  # the poisoning program could not reach it
    assert first[1][0].output == second[0][0].output


def test_an_overrun_input_does_not_cost_the_earlier_ones() -> None:
    slow_on_big = ("def transform(g):\n    while g.size > 4:\n        pass\n    return g")
    big = ((1, 2, 3), (4, 5, 6))
    (row,) = Sandbox(SandboxConfig(timeout=TIMEOUT)).run([slow_on_big], [GRID, big, GRID])
    assert [o.kind for o in row] == ["ok", "timeout", "timeout"]


def test_layers_report_names_every_layer() -> None:
    report = layers(SandboxConfig())
    assert set(report) == {"process", "rlimits", "privileges", "audit_hook", "import_guard",
                           "environment", "os_isolation"}
    print("\nsandbox layers on this machine:", *(f"  {k}: {v}" for k, v in report.items()),
          sep="\n")


# -- each layer on its own ----------------------------------------------------------------
ONLY_AUDIT = {"import_guard": False, "isolation": "none"}
ONLY_GUARD = {"audit_hook": False, "isolation": "none"}
ONLY_RLIMITS = {"audit_hook": False, "import_guard": False, "isolation": "none"}


def _run_one(program: str, **options):
    config = SandboxConfig(**{"timeout": TIMEOUT, "workers": 1, **options})
    return Sandbox(config).run([program], [GRID])[0][0]


def test_audit_hook_alone_vetoes_process_socket_ctypes_and_writes(tmp_path) -> None:
    marker = tmp_path / "pwned"
    programs = [
        f"import os\ndef transform(g):\n    os.system('touch {marker}')\n    return g",
        "import os\ndef transform(g):\n    os.fork()\n    return g",
        "import socket\ndef transform(g):\n    socket.socket()\n    return g",
        "import ctypes\ndef transform(g):\n    ctypes.CDLL(None)\n    return g",
        "import subprocess\ndef transform(g):\n    subprocess.run(['true'])\n    return g",
        f"def transform(g):\n    open({str(marker)!r}, 'w')\n    return g",
    ]
    config = SandboxConfig(timeout=TIMEOUT, **ONLY_AUDIT)
    kinds = [row[0].kind for row in Sandbox(config).run(programs, [GRID])]
    assert kinds == ["forbidden"] * len(programs)
    assert not marker.exists()


def test_import_guard_alone_refuses_modules_off_the_list() -> None:
    modules = ("os", "subprocess", "ctypes", "socket", "sys", "importlib")
    programs = [f"import {m}\ndef transform(g):\n    return g" for m in modules] + [
        "from numpy import ctypeslib\ndef transform(g):\n    return g",
        "import math, itertools, collections\nimport numpy as np\n"
        "def transform(g):\n    return g",
    ]
    config = SandboxConfig(timeout=TIMEOUT, **ONLY_GUARD)
    outcomes = [row[0] for row in Sandbox(config).run(programs, [GRID])]
    for module, outcome in zip(modules, outcomes):
        assert outcome.kind == "forbidden_import" and module in outcome.error
    assert outcomes[-2].kind == "forbidden_import" and outcomes[-1].kind == "ok"


def test_rlimits_alone_bound_memory_cpu_and_files() -> None:
    memory = _run_one("def transform(g):\n    x = bytearray(2 * 10**9)\n    return g",
                      memory_mb=256, **ONLY_RLIMITS)
    assert memory.kind == "memory"
    cpu = _run_one("def transform(g):\n    while True:\n        pass", timeout=30.0,
                   cpu_seconds=1, **ONLY_RLIMITS)
    assert cpu.kind == "timeout"
    big_file = _run_one("def transform(g):\n    open('f', 'wb').write(b'x' * 10**7)\n"
                        "    return g", **ONLY_RLIMITS)
    assert big_file.kind == "exception" and "File too large" in big_file.error


def test_rlimits_alone_stop_a_fork_bomb() -> None:
    outcome = _run_one("import os\ndef transform(g):\n    while True:\n        os.fork()",
                       **ONLY_RLIMITS)
    assert outcome.kind == "exception" and "BlockingIOError" in outcome.error


@pytest.mark.skipif(not IS_ROOT, reason="privilege drop only applies when running as root")
def test_programs_run_as_nobody_when_we_are_root() -> None:
    outcome = _run_one("import os\ndef transform(g):\n    return [[os.getuid() % 10]]",
                       **ONLY_RLIMITS)
    assert outcome.output == ((65534 % 10,),)


@pytest.mark.skipif(not IS_ROOT, reason="needs root without the privilege drop, where the "
                    "process limit does not apply, so a program can leave a child behind")
def test_worker_process_group_is_killed_with_stray_children(tmp_path) -> None:
    pid_file = tmp_path / "child.pid"
    program = (
        "import os, time\ndef transform(g):\n    pid = os.fork()\n    if pid == 0:\n"
        "        time.sleep(600)\n"
        f"    open({str(pid_file)!r}, 'w').write(str(pid))\n    return g"
    )
    outcome = _run_one(program, drop_privileges=False, allowed_imports=("os", "time"),
                       **ONLY_RLIMITS)
    assert outcome.kind == "ok"
    pid = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(pid)


def _alive(pid: int) -> bool:
    st = _stat(pid)
    return st is not None and st[0] != "Z"


# The OS layer alone: no audit hook, no import guard, and no privilege drop (which would
# stop a root-owned interpreter from loading lazily imported modules such as codecs).
ONLY_OS = {**ONLY_RLIMITS, "drop_privileges": False}


@pytest.fixture
def listener():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    yield server.getsockname()[1]
    server.close()


@pytest.mark.parametrize("mode", ["bwrap", "unshare"])
def test_os_isolation_alone_cuts_the_network(mode: str, tmp_path, listener: int) -> None:
    if not works(mode):
        pytest.skip(f"{mode} is not usable on this machine (missing or refused by the kernel)")
    # Loopback only: inside a network namespace this host's listener is unreachable.
    program = (f"import socket\ndef transform(g):\n    socket.create_connection(("
               f"'127.0.0.1', {listener}), timeout=0.5)\n    return g")
    options = {**ONLY_OS, "isolation": mode}
    outcome = _run_one(program, **options)
    assert outcome.kind == "exception" and "Error" in outcome.error, outcome
    # Control: the same program reaches the listener without the OS layer.
    assert _run_one(program, **{**options, "isolation": "none"}).kind == "ok"


def test_bwrap_alone_hides_the_host_filesystem(tmp_path) -> None:
    if not works("bwrap"):
        pytest.skip("bubblewrap is not usable here (apt-get install bubblewrap)")
    secret, marker = tmp_path / "secret", tmp_path / "pwned"
    secret.write_text("1234567")
    write = f"def transform(g):\n    open({str(marker)!r}, 'w').write('x')\n    return g"
    read = f"def transform(g):\n    return [[len(open({str(secret)!r}).read())]]"
    outcomes = [_run_one(p, **{**ONLY_OS, "isolation": "bwrap"}) for p in (write, read)]
    assert [o.kind for o in outcomes] == ["exception", "exception"]
    assert "No such file" in outcomes[1].error and not marker.exists()
    # Control: without the OS layer the same programs reach the host's files.
    assert _run_one(read, **{**ONLY_OS, "isolation": "none"}).output == ((7,),)


# -- escapes through the current directory and through modules a program can reach -------
# Every allowed module that imports `sys` (typing does) hands a program `sys.modules`: the
# worker's own globals, `os`, `posixpath` and `builtins`, none of them importable directly.
REACH = "import typing\nSYS = typing.sys\nOS = SYS.modules['os']\n"


def _isolation_modes() -> list:
    return [pytest.param(mode, marks=pytest.mark.skipif(
        mode != "none" and not works(mode), reason=f"{mode} is not usable on this machine"))
        for mode in ("none", "unshare", "bwrap")]


def _escapes(target: str) -> dict[str, str]:
    """name -> program that tries to write ``target/pwned`` (a host folder) or read a host
    file with a relative path after moving the current directory."""
    return {
        "chdir, then read a relative path": REACH + (
            "def transform(g):\n    OS.chdir('/')\n"
            "    return [[len(open('etc/passwd').read()) % 10]]"),
        "chdir, then write a relative path": REACH + (
            f"def transform(g):\n    OS.chdir({target!r})\n"
            "    open('pwned', 'w').write('x')\n    return g"),
        "fchdir": REACH + (
            "def transform(g):\n    OS.fchdir(OS.open('.', OS.O_RDONLY))\n    return g"),
        "rebind the hook's globals": REACH + (
            "W = SYS.modules['__main__']\nW._under = lambda path, roots: True\n"
            "W.BLOCKED_EVENTS, W.BLOCKED_PREFIXES = frozenset(), ()\n"
            f"def transform(g):\n    open({target + '/pwned'!r}, 'w').write('x')\n"
            "    return g"),
        "a directory outside as dir_fd": REACH + (
            "import numpy\nD = OS.open(OS.path.dirname(numpy.__file__), OS.O_RDONLY)\n"
            "def transform(g):\n    return g"),
        "a path object that changes its mind": REACH + (
            "class P:\n    n = 0\n    def __fspath__(self):\n        P.n += 1\n"
            f"        return 'x' if P.n % 2 == 0 else {target + '/pwned'!r}\n"
            "def transform(g):\n    OS.close(OS.open(P(), OS.O_CREAT | OS.O_WRONLY))\n"
            "    return g"),
    }


@pytest.mark.parametrize("mode", _isolation_modes())
def test_programs_cannot_escape_through_the_current_directory(mode: str, tmp_path) -> None:
    target = tmp_path / "host"
    target.mkdir(mode=0o777)
    target.chmod(0o777)
    programs = _escapes(str(target))
    # No privilege drop: the program may write what its user may, as for a non-root user.
    config = SandboxConfig(timeout=TIMEOUT, isolation=mode, drop_privileges=False)
    outcomes = Sandbox(config).run(list(programs.values()), [GRID])
    kinds = {name: row[0].kind for name, row in zip(programs, outcomes)}
    assert kinds == dict.fromkeys(programs, "forbidden"), [o[0] for o in outcomes]
    assert list(target.iterdir()) == []


def test_a_program_that_stays_in_its_folder_still_works() -> None:
    program = ("from collections import namedtuple\nimport numpy as np\n"
               "P = namedtuple('P', 'x y')\nclass Count:\n    n = 0\n"
               "def transform(g):\n    Count.n += 1\n    open('scratch', 'w').write('xyz')\n"
               "    return np.zeros((1, 1), dtype=int) + len(open('./scratch').read())")
    assert _run_one(program).output == ((3,),)


def test_the_audit_hook_looks_up_no_global_or_builtin_name() -> None:
    """A program can rebind any module-level or builtin name (it reaches them through
    ``sys.modules``), so the hook and its helpers must find everything in their closure."""
    import dis
    import importlib.util

    from migrate_opt_arc.sandbox.isolation import WORKER

    spec = importlib.util.spec_from_file_location("sandbox_worker_under_test", WORKER)
    assert spec is not None and spec.loader is not None
    worker = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(worker)
    hook = worker._make_audit_hook("/w", ("/r",), frozenset({"numpy"}), [])
    codes, seen = [hook.__code__], []
    for cell in hook.__closure__ or ():
        if callable(cell.cell_contents) and hasattr(cell.cell_contents, "__code__"):
            codes.append(cell.cell_contents.__code__)
    while codes:
        code = codes.pop()
        seen.append(code.co_name)
        codes += [c for c in code.co_consts if hasattr(c, "co_code")]
        lookups = {i.argval for i in dis.get_instructions(code)
                   if i.opname in ("LOAD_GLOBAL", "LOAD_NAME")}
        assert not lookups, (code.co_name, lookups)
    assert {"hook", "check_open", "absolute", "veto"} <= set(seen)
