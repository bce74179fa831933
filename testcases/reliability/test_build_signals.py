"""A build is the caller's child: SIGINT or SIGTERM of the caller stops it and leaves nothing.

Each test starts a cold build of the ``minimal`` kernel package (10 kernels, compiled in a pool of
one process per core) in a private cache, waits for the pool and the first finished kernel, and
signals the caller. Before the fix the pool's workers (about 260 MB each) kept compiling after
their caller was gone, a killed caller left ``packages/.ascend910b-*`` behind, and every kernel
was lost with the temporary folder.
"""
from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from bce_grad.host_backend.build import file_sha256

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")

SOC = "Ascend910B1"
#: What every test's caller runs: the default package's cold build (``default_package``).
BUILD = f"from bce_grad.runtime.packages import default_package; default_package({SOC!r})"
#: Seconds every build process has to be gone after the caller was signalled (issue 24).
STOP_S = 2.0


def _parents() -> dict[int, int]:
    """pid -> parent pid of every live process (zombies count as gone)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        state, ppid = stat[stat.rindex(")") + 2:].split()[:2]
        if state != "Z":
            found[int(entry.name)] = int(ppid)
    return found


def _descendants(pid: int) -> set[int]:
    parents = _parents()
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _start(cache: Path, log: Path, code: str = BUILD) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k not in ("BCE_GRAD_PACKAGE", "BCE_GRAD_SOC")}
    env.update(BCE_GRAD_CACHE=str(cache), BCE_GRAD_PACKAGE_SET="minimal",
               TVM_NUM_THREADS="1")
    with log.open("w") as stderr:
        return subprocess.Popen([sys.executable, "-c", code], env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=stderr)


def _staged(cache: Path) -> list[Path]:
    """Kernels the build finished, in the kernel cache (``kernels/aot_*``)."""
    return sorted((cache / "kernels").glob("aot_*/bce_grad_*.json"))


def _interrupt_cold_build(tmp_path: Path, sig: int,
                          code: str = BUILD) -> tuple[subprocess.Popen, str, Path]:
    """Start a cold build, wait for its pool and a finished kernel, send ``sig`` to the caller;
    check that within STOP_S every process it started is gone."""
    cache, log = tmp_path / "cache", tmp_path / "stderr.txt"
    caller = _start(cache, log, code)
    try:
        deadline = time.monotonic() + 240
        # a kernel finished (the build logs it), and the caller has its build process and at
        # least two more (the pool's workers)
        while not ("aot: [" in log.read_text() and len(_descendants(caller.pid)) >= 3):
            assert caller.poll() is None, f"the build ended early:\n{log.read_text()}"
            assert time.monotonic() < deadline, f"no kernel finished:\n{log.read_text()}"
            time.sleep(0.1)
        started = _descendants(caller.pid)
        os.kill(caller.pid, sig)
        signalled = time.monotonic()
        caller.wait(30)
        left = started
        while left and time.monotonic() < signalled + STOP_S:
            time.sleep(0.05)
            left = started & set(_parents())
        assert not left, f"build processes alive {STOP_S} s after the caller got signal {sig}: " \
                         f"{sorted(left)}"
    finally:
        if caller.poll() is None:
            caller.kill()
            caller.wait()
    return caller, log.read_text(), cache


def _assert_nothing_left_but_kernels(cache: Path) -> None:
    temporary = [p for p in (cache / "packages").iterdir() if p.name.startswith(".")]
    assert temporary == [], "temporary folders left: " + "; ".join(
        f"{p.name} (modified {time.time() - p.stat().st_mtime:.2f} s ago, holding "
        f"{sorted(str(q.relative_to(p)) for q in p.rglob('*'))})" for p in temporary)
    assert not [p for p in (cache / "packages").iterdir() if (p / "manifest.json").exists()]
    staged = _staged(cache)
    assert staged, "the finished kernels were lost"
    for path in staged:  # complete and verified: the next build links them instead of compiling
        assert file_sha256(path.with_suffix(".so")) == json.loads(path.read_text())["so_sha256"]


def test_sigint_during_a_package_build_raises_keyboard_interrupt_and_stops_every_process(tmp_path):
    caller, stderr, cache = _interrupt_cold_build(tmp_path, signal.SIGINT)
    assert caller.returncode != 0
    assert stderr.rstrip().splitlines()[-1] == "KeyboardInterrupt", stderr[-2000:]
    assert "E61001" not in stderr, stderr[-2000:]
    _assert_nothing_left_but_kernels(cache)


def test_sigterm_during_a_package_build_stops_every_process(tmp_path):
    caller, stderr, cache = _interrupt_cold_build(tmp_path, signal.SIGTERM)
    assert caller.returncode == -signal.SIGTERM, stderr[-2000:]
    _assert_nothing_left_but_kernels(cache)


def test_a_process_waiting_for_a_package_build_says_once_what_it_waits_for_and_who_holds_it(
        tmp_path, monkeypatch):
    from bce_grad.runtime import packages

    cache = tmp_path / "cache"
    monkeypatch.setenv("BCE_GRAD_CACHE", str(cache))
    root = packages.packages_root()
    root.mkdir(parents=True)
    final = root / f"ascend910b-{packages.package_key(SOC, 'minimal')}"
    log = tmp_path / "stderr.txt"
    with packages.file_lock(root / f"{final.name}.lock"):  # this process builds it, it seems
        waiter = _start(cache, log)
        try:
            deadline = time.monotonic() + 60
            while "waiting for" not in log.read_text():
                assert waiter.poll() is None, log.read_text()
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.1)
            time.sleep(1.0)  # still waiting: nothing more is said
            (final / "kernels").mkdir(parents=True)
            (final / "manifest.json").write_text("{}")
        except BaseException:
            waiter.kill()
            raise
    assert waiter.wait(60) == 0, log.read_text()  # it found the package this process "built"
    lines = [line for line in log.read_text().splitlines() if "waiting for" in line]
    assert len(lines) == 1, lines
    assert "minimal kernel package" in lines[0] and final.name in lines[0]
    assert f"process {os.getpid()} " in lines[0], lines[0]


#: A first ``loss.backward()`` through ``bce_grad.torch`` where no package is ready: it compiles
#: the one kernel it needs (issue 25), inside the C++ op's miss handler.
TORCH_BACKWARD = ("import torch, bce_grad.torch as b; x = torch.rand(8, 4, requires_grad=True); "
                  "b.binary_cross_entropy(x, torch.rand(8, 4)).backward(); print('done')")


def _torch_caller(tmp_path: Path) -> tuple[subprocess.Popen, Path, Path]:
    cache, log = tmp_path / "cache", tmp_path / "stderr.txt"
    return _start(cache, log, TORCH_BACKWARD), cache, log


@pytest.mark.torch
def test_the_first_torch_backward_compiles_one_kernel_and_no_package(tmp_path):
    pytest.importorskip("torch")
    caller, cache, log = _torch_caller(tmp_path)
    assert caller.wait(600) == 0, log.read_text()[-3000:]
    assert not (cache / "packages").exists(), log.read_text()[-3000:]
    assert len(list((cache / "kernels").glob("bce_grad_*.so"))) == 1
    assert "aot:" not in log.read_text()


@pytest.mark.torch
def test_sigint_while_the_first_torch_backward_compiles_its_kernel_raises_keyboard_interrupt(
        tmp_path):
    pytest.importorskip("torch")
    caller, cache, log = _torch_caller(tmp_path)
    try:
        deadline = time.monotonic() + 600
        # the kernel's lock is taken just before it compiles (about a second)
        while not list((cache / "kernels").glob("bce_grad_*.lock")):
            assert caller.poll() is None, f"the call ended early:\n{log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.01)
        os.kill(caller.pid, signal.SIGINT)
        caller.wait(60)
    finally:
        if caller.poll() is None:
            caller.kill()
            caller.wait()
    stderr = log.read_text()
    assert caller.returncode != 0, stderr[-3000:]
    assert stderr.rstrip().splitlines()[-1] == "KeyboardInterrupt", stderr[-3000:]
    assert "RuntimeError" not in stderr, stderr[-3000:]
    assert not list((cache / "kernels").glob("bce_grad_*.so")), "an interrupted compile left a kernel"


#: A build whose process leaves a writer behind (in a session of its own, so the supervisor's
#: group kill misses it): it adds files to the build's folder for 0.3 s after the build died, as
#: a pool worker or the linker still finishing a system call after the SIGKILL does.
_LINGERING_WRITER = r"""
import os, subprocess, sys, time
folder = sys.argv[1]
writer = ("import itertools, os, sys, time\n"
          "parent, end = os.getppid(), float('inf')\n"
          "for i in itertools.count():\n"
          "    if os.getppid() != parent:  # the build is gone: 0.3 s more of writing\n"
          "        end = min(end, time.monotonic() + 0.3)\n"
          "    if time.monotonic() > end:\n"
          "        break\n"
          "    try:\n"
          "        open(os.path.join(sys.argv[1], str(i)), 'w').close()\n"
          "    except FileNotFoundError:\n"
          "        break\n")
proc = subprocess.Popen([sys.executable, "-c", writer, folder], start_new_session=True)
open(os.path.join(folder, "writer.pid"), "w").write(str(proc.pid))
time.sleep(600)
"""


@contextlib.contextmanager
def _build_with_a_straggler(tmp_path: Path):
    """A supervised build (:class:`build_guard.Children`) whose folder a straggler keeps writing
    into; yields (the build's folder, its supervisor, the runner thread); kills the writer."""
    from bce_grad.runtime import build_guard

    work = tmp_path / "work"
    work.mkdir()
    children = build_guard.Children()
    runner = threading.Thread(target=children.run, kwargs=dict(
        argv=[sys.executable, "-c", _LINGERING_WRITER, str(work)], cleanup=[work]))
    runner.start()
    deadline = time.monotonic() + 30
    while len(list(work.glob("*"))) < 100:  # the writer is busy
        assert time.monotonic() < deadline
        time.sleep(0.01)
    writer = int((work / "writer.pid").read_text())
    (supervisor,) = children._running
    try:
        yield work, supervisor, runner
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(writer, signal.SIGKILL)


def test_a_stopped_build_removes_its_folder_while_a_straggler_still_writes_into_it(tmp_path):
    with _build_with_a_straggler(tmp_path) as (work, supervisor, runner):
        supervisor.send_signal(signal.SIGTERM)
        runner.join(10)
        assert not work.exists(), f"left {len(list(work.iterdir()))} files"


def test_a_second_signal_during_the_cleanup_does_not_cut_it_short(tmp_path):
    """A dying caller with several threads sends its supervisors PR_SET_PDEATHSIG once per
    thread that inherits them and exits: a second SIGTERM came 10 ms after the first, while the
    supervisor removed the build's folder, and left it there (CI at acc3985)."""
    with _build_with_a_straggler(tmp_path) as (work, supervisor, runner):
        supervisor.send_signal(signal.SIGTERM)
        time.sleep(0.1)  # the supervisor is removing the folder: the writer lingers 0.3 s
        supervisor.send_signal(signal.SIGTERM)
        runner.join(10)
        assert not work.exists(), f"left {len(list(work.iterdir()))} files"
