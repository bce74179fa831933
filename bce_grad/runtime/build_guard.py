"""Builds are the caller's children: they stop with the caller and leave nothing behind.

Every build process (the C++ compiler of the runtime and the adapters, the kernel package's
build process and its pool) runs under a *supervisor* (:func:`run`): a small interpreter that is
the caller's child, in the caller's process group (a terminal's Ctrl-C reaches it), which starts
the command in a process group of its own. The supervisor ends that whole group (the command and
everything it started: ``cc1plus``, ``ld``, pool workers) with SIGKILL, and removes the build's
temporary folders, when

- the caller is interrupted (SIGINT: the caller's :class:`Children` sends SIGTERM to its
  supervisors, then re-raises ``KeyboardInterrupt`` unchanged),
- the caller dies (SIGTERM, SIGKILL, a crash): Linux sends the supervisor SIGTERM
  (``prctl(PR_SET_PDEATHSIG)``, set before it starts anything; it fires when the caller's
  *thread* that started it exits, and that thread waits for the supervisor), or
- the supervisor itself gets SIGINT, SIGTERM or SIGHUP.

Pool workers call :func:`die_with_parent` at start for the same reason.

A process that waits for another's build lock says so once on stderr, naming the holder's pid
(:func:`lock`; each holder writes its pid into the lock file).
"""
from __future__ import annotations

import contextlib
import ctypes
import fcntl
import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Iterator, Sequence

#: ``prctl`` option: the signal this process gets when its parent thread exits (Linux).
PR_SET_PDEATHSIG = 1
#: Seconds a supervisor has to end its group and clean up before the caller kills it.
STOP_GRACE_S = 1.5

#: The supervisor (run with ``python -I -c``): argv = caller pid, JSON list of temp paths, command.
_SUPERVISOR = r"""
import ctypes, json, os, shutil, signal, subprocess, sys, time
parent, cleanup, argv = int(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3:]
def stop(signum, frame):
    # once: a dying caller with several threads sends PR_SET_PDEATHSIG again as each of its
    # threads inherits us and exits, and a second SystemExit would cut the cleanup short
    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(s, signal.SIG_IGN)
    raise SystemExit(128 + signum)
for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    signal.signal(s, stop)
try:
    ctypes.CDLL(None).prctl(1, signal.SIGTERM, 0, 0, 0)
except (OSError, AttributeError):
    pass
child = None
try:
    if os.getppid() != parent:
        raise SystemExit(128 + signal.SIGTERM)
    child = subprocess.Popen(argv, process_group=0)
    code = child.wait()
    raise SystemExit(code if code >= 0 else 128 - code)
finally:
    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):  # the cleanup runs to its end
        signal.signal(s, signal.SIG_IGN)
    if child is not None and child.returncode is None:
        try:
            os.killpg(child.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        child.wait()
        # the group's other members (pool workers, the compiler) may still finish a system call
        # that adds a file to a folder being removed: remove until nothing is left (bounded)
        deadline = time.monotonic() + 1.0
        while True:
            for path in cleanup:
                shutil.rmtree(path, ignore_errors=True)
            if not any(os.path.lexists(path) for path in cleanup) or time.monotonic() > deadline:
                break
            time.sleep(0.01)
"""


def die_with_parent(parent: int, sig: int = signal.SIGKILL) -> None:
    """Have Linux send ``sig`` to this process when its parent thread exits; exit at once if the
    parent (pid ``parent``) is already gone. Elsewhere than Linux, nothing happens."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:
        os._exit(128 + int(sig))


def pool_worker_init(parent: int) -> None:
    """``initializer`` of a build's process pool: die with the pool's owner; leave Ctrl-C to it."""
    die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class Children:
    """The supervised build processes of one build; :meth:`stop` ends them all.

    Thread-safe: threads of one build may :meth:`run` commands side by side. Once stopped (or
    the ``with`` block left by an exception) no new command starts.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: set[subprocess.Popen] = set()
        self._stopped = False

    def __enter__(self) -> "Children":
        return self

    def __exit__(self, kind, value, traceback) -> None:
        if kind is not None:
            self.stop()

    def run(self, argv: Sequence[str], cleanup: Sequence[os.PathLike | str] = (),
            capture: bool = False) -> subprocess.CompletedProcess:
        """Run ``argv`` supervised; on any exception here (``KeyboardInterrupt`` included) the
        command's whole process group is ended and ``cleanup`` removed, and the exception goes on
        unchanged. ``capture``: text stdout and stderr in the result, else they are ours."""
        pipe = subprocess.PIPE if capture else None
        cmd = [sys.executable, "-I", "-c", _SUPERVISOR, str(os.getpid()),
               json.dumps([os.fspath(p) for p in cleanup]), *map(str, argv)]
        with self._lock:
            if self._stopped:
                raise InterruptedError("the build was stopped")
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=pipe, stderr=pipe,
                                    text=capture or None)
            self._running.add(proc)
        try:
            out, err = proc.communicate()
        except BaseException:
            _stop(proc)
            raise
        finally:
            with self._lock:
                self._running.discard(proc)
        return subprocess.CompletedProcess(list(argv), proc.returncode, out, err)

    def stop(self) -> None:
        """End every running command (and its group) and refuse new ones."""
        with self._lock:
            self._stopped = True
            running = list(self._running)
        for proc in running:
            _stop(proc)


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM a supervisor (it ends its group and cleans up); SIGKILL it after the grace time."""
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    for pipe in (proc.stdout, proc.stderr):
        if pipe is not None:
            pipe.close()


def run(argv: Sequence[str], cleanup: Sequence[os.PathLike | str] = (),
        capture: bool = False) -> subprocess.CompletedProcess:
    """:meth:`Children.run` of one command."""
    return Children().run(argv, cleanup, capture)


def remove_stale(folder: Path, prefix: str) -> None:
    """Remove the temporary folders ``<prefix><pid>.*`` in ``folder`` whose builder is gone."""
    for path in folder.glob(f"{glob.escape(prefix)}*"):
        pid = path.name[len(prefix):].split(".", 1)[0]
        if pid.isdigit() and path.is_dir() and not pid_alive(int(pid)):
            shutil.rmtree(path, ignore_errors=True)


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists (it may belong to another user)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def acquire(fd: int, path: Path, what: str) -> None:
    """``flock`` ``fd`` (the lock file ``path``) exclusively and write our pid into it. If another
    holds it, first say once on stderr what we wait for and the holder's pid."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        try:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
        except OSError:
            holder = "unknown"
        if holder != str(os.getpid()):  # another thread of this process: nothing to say
            print(f"bce_grad: waiting for {what}: process {holder} is building it (lock {path})",
                  file=sys.stderr, flush=True)
        fcntl.flock(fd, fcntl.LOCK_EX)
    with contextlib.suppress(OSError):  # a read-only lock file: no pid, the lock still holds
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)


@contextlib.contextmanager
def lock(path: Path, what: str) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if missing) for the ``with`` block, announcing
    a wait (:func:`acquire`). A lock file that ``cache clear`` unlinked while we waited for it is
    not the lock any more: we take the one now at ``path``."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            acquire(fd, path, what)
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        except BaseException:
            os.close(fd)
            raise
        if same:
            break
        os.close(fd)
    try:
        yield
    finally:
        os.close(fd)


@contextlib.contextmanager
def try_lock(path: Path) -> Iterator[bool]:
    """Take the lock ``path`` without waiting: yields True while held (the lock file exists then),
    False when another holds it. Whoever holds it may unlink it before leaving the block."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


def lock_holder(path: Path) -> str:
    """The pid written into a lock file by its holder (:func:`acquire`), or ``unknown``."""
    try:
        return path.read_text(errors="replace").strip() or "unknown"
    except OSError:
        return "unknown"
