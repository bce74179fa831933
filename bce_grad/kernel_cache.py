"""The kernel cache: one compiled kernel per (SoC, target, dtypes, pattern, reduction, source).

A key hashes everything that changes the generated code: the SoC family, the
backend target (its config and CPU features), the input and output dtypes, the
broadcast pattern, the reduction, whether weight is present, the TVM version, and
the text of every source file that shapes the compile: the operator (``impl/``),
the host backend, this module (it writes the compile's descriptions) and the API.
Kernels live in ``<cache root>/kernels`` (``$BCE_GRAD_CACHE/kernels``, default
``~/.cache/bce-grad/kernels``; :mod:`bce_grad.cache_root`) as ``kernel_meta`` files, so a new
process reuses a kernel an earlier one built. The folder is created ``0700`` and refused when
other users can write it. :func:`cache_info` and :func:`clear_all` cover every subfolder of the
root (kernels, packages, the runtime library, the framework adapters).

Nothing lost, nothing crashes:

- **Verified before use.** The ``.json`` records the SHA-256 of the ``.so``; an entry
  whose JSON is unreadable, whose ``.so`` is missing or does not match, is rebuilt with
  one :class:`KernelCacheWarning`, never opened.
- **Safe to share.** Builders of one key, threads or processes, take ``<key>.lock``
  (``fcntl.flock``; the holder writes its pid there, and a process that waits says once on
  stderr for what and for whom) and check again once they hold it; files are renamed into place.
- **Stopped builds keep their work.** A kernel package build compiles each kernel into
  ``aot_<hash>/`` here as it finishes (``kernel_set.build_package``'s ``stage_root``), so a
  build stopped by Ctrl-C or a kill resumes there; the package removes them once complete.
- **Self-cleaning.** Temporary files of a build that was killed (its pid is gone, or
  older than :data:`ORPHAN_AGE_S`) are removed at the next build.
- **Bounded.** Past ``$BCE_GRAD_CACHE_MAX_MB`` (default :data:`DEFAULT_MAX_MB`) the
  least recently used kernels are evicted; each use touches ``<key>.lock``.

The warm path (key, check, load, launch) does not import ``tvm``; a miss does, to compile.
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import functools
import hashlib
import importlib.metadata
import importlib.util
import json
import math
import os
import re
import shutil
import sys
import tempfile
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Mapping

import numpy as np

from bce_grad import cache_root as bce_cache
from bce_grad.host_backend import launch, platform, targets
from bce_grad.host_backend.dsl.classify import UNKNOWN_DIM, canonical_pattern
from bce_grad.host_backend.errors import OpError, OpValueError
from bce_grad.host_backend.soc_table import SocInfo
from bce_grad.resources import host_backend_dir, impl_dir
from bce_grad.runtime.build_guard import acquire, lock_holder, pid_alive, try_lock

CACHE_ENV = bce_cache.CACHE_ENV
MAX_MB_ENV = "BCE_GRAD_CACHE_MAX_MB"
#: Size cap in MiB when ``$BCE_GRAD_CACHE_MAX_MB`` is not set.
DEFAULT_MAX_MB = 512
#: A temporary file older than this (seconds) is an orphan even if its pid was reused.
ORPHAN_AGE_S = 600
PREFIX = "bce_grad_"
#: Temporary files: ``.<kernel file>.<pid>.<random>`` (build) and ``...<pid>.load.<random>.so``.
_TEMP = re.compile(rf"^\.(?:{PREFIX}\w+\.(?:so|o|json)|targets_[0-9a-f]+\.json)\.(\d+)\.")
_ENTRY = re.compile(rf"^({PREFIX}[0-9a-f]+)\.(so|o|json|lock)$")


class KernelCacheWarning(RuntimeWarning):
    """A cached kernel was unusable (damaged, incomplete) and is being rebuilt."""


class _Damaged(Exception):
    """A cache entry that exists but cannot be used; the message says why."""


def cache_dir() -> Path:
    """Where kernels are cached: ``<cache root>/kernels`` (``$BCE_GRAD_CACHE/kernels``, else
    ``~/.cache/bce-grad/kernels``).

    Raises
    ------
    OpValueError
        E80000 naming ``BCE_GRAD_CACHE`` when it is set but empty, or names a file.
    """
    return bce_cache.folder("kernels")


def writable_cache_dir() -> Path:
    """:func:`cache_dir`, created ``0700`` if needed, checked to be private
    (:func:`bce_grad.cache_root.check_private`) and to accept new files.

    Raises
    ------
    OpValueError
        E80000 naming ``BCE_GRAD_CACHE`` when the directory cannot be created or written, or
        naming the folder when other users can write it.
    """
    path = cache_dir()
    try:
        bce_cache.private_folder(path)
        fd, probe = tempfile.mkstemp(prefix=".probe.", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise OpValueError("E80000", f"the environment variable[{CACHE_ENV}] should name a "
                           f"writable directory for compiled kernels, but [{path}] is not one "
                           f"({err.strerror or err})", param_name=CACHE_ENV) from None
    return path


def max_bytes() -> int:
    """The size cap: ``$BCE_GRAD_CACHE_MAX_MB`` MiB (a positive number), else :data:`DEFAULT_MAX_MB`."""
    value = os.environ.get(MAX_MB_ENV)
    if value is None:
        return DEFAULT_MAX_MB << 20
    try:
        megabytes = float(value)
    except ValueError:
        megabytes = -1.0
    if not (megabytes > 0 and math.isfinite(megabytes)):
        raise OpValueError("E80000", f"the environment variable[{MAX_MB_ENV}] should be a "
                           f"positive number of MiB, but actually is [{value}]",
                           param_name=MAX_MB_ENV)
    return int(megabytes * (1 << 20))


@functools.lru_cache(maxsize=None)
def source_hash() -> str:
    """SHA-256 over every source that shapes a compile (read once per process)."""
    digest = hashlib.sha256()
    api = importlib.util.find_spec("bce_grad.api")
    files = [(f"{folder.name}/{path.relative_to(folder).as_posix()}", path)
             for folder in (impl_dir(), host_backend_dir()) for path in sorted(folder.rglob("*"))
             if path.suffix in (".py", ".json") and "__pycache__" not in path.parts]
    files += [("bce_grad/kernel_cache.py", Path(__file__)),
              ("bce_grad/api.py", Path(api.origin) if api and api.origin else Path(__file__))]
    for name, path in files:
        if path.is_file():
            digest.update(name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


@functools.lru_cache(maxsize=None)
def tvm_version() -> str:
    """The installed Apache TVM's version, read without importing ``tvm``."""
    try:
        return importlib.metadata.version("apache-tvm")
    except importlib.metadata.PackageNotFoundError:  # a source build of TVM
        import tvm

        return str(tvm.__version__)


def target_features(kind: str, directory: Path | None = None) -> tuple[str, ...]:
    """:func:`targets.target_features` of ``kind``, remembered in the cache directory.

    The features are a function of the target config and TVM's LLVM; asking LLVM
    imports the ``tvm`` compiler (about 1 s), so the answer is kept in
    ``targets_<hash>.json`` (keyed by both) and a warm call reads it back.
    """
    config = targets.target_config(kind)
    blob = json.dumps({"target": config, "tvm": tvm_version()}, sort_keys=True)
    memo = (directory or cache_dir()) / f"targets_{hashlib.sha256(blob.encode()).hexdigest()[:16]}.json"
    with contextlib.suppress(OSError, ValueError):
        known = json.loads(memo.read_text())
        if isinstance(known, list) and all(isinstance(f, str) for f in known):
            return tuple(known)
    features = tuple(targets.target_features(kind))
    with contextlib.suppress(OSError):
        bce_cache.private_folder(memo.parent)
        fd, tmp = tempfile.mkstemp(prefix=f".{memo.name}.{os.getpid()}.", dir=memo.parent)
        with os.fdopen(fd, "w") as handle:
            json.dump(list(features), handle)
        os.replace(tmp, memo)
    return features


def kernel_key(dtypes: Mapping[str, str], pattern: list[tuple[int, ...]], out_dtype: str,
               reduction: str, info: SocInfo, target: str | None = None) -> str:
    """The content key of one kernel (``target`` defaults to this context's backend target)."""
    kind = target or platform.backend_target()
    masks = [[d == 1 for d in shape] for shape in pattern]
    features = target_features(kind)
    blob = json.dumps({
        "soc": info.short_soc_version, "target": targets.target_config(kind),
        "features": list(features), "dtypes": dict(dtypes), "out": out_dtype, "pattern": masks,
        "reduction": reduction, "tvm": tvm_version(), "source": source_hash(),
    }, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Entry:
    """The files of one cached kernel."""

    name: str
    directory: Path

    @property
    def json(self) -> Path:
        return self.directory / f"{self.name}.json"

    @property
    def so(self) -> Path:
        return self.directory / f"{self.name}.so"

    @property
    def obj(self) -> Path:
        """CANN's ``<kernel>.o`` that ``build`` writes beside the ``.so`` (the cache never reads it)."""
        return self.directory / f"{self.name}.o"

    @property
    def lock(self) -> Path:
        return self.directory / f"{self.name}.lock"


def _read_meta(entry: Entry) -> dict:
    """The entry's JSON, checked for the fields a launch needs; raises :class:`_Damaged`."""
    try:
        meta = json.loads(entry.json.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise _Damaged(f"{entry.json.name} is unreadable ({type(err).__name__})") from None
    if not isinstance(meta, dict) or meta.get("name") != entry.name:
        raise _Damaged(f"{entry.json.name} does not describe kernel {entry.name}")
    cases = meta.get("cases")
    if not isinstance(cases, list) or not cases or not isinstance(meta.get("so_sha256"), str) \
            or not isinstance(meta.get("target"), dict) or not isinstance(meta.get("compile_info"), dict):
        raise _Damaged(f"{entry.json.name} lacks cases, target, compile_info or so_sha256")
    return meta


def _load(entry: Entry) -> launch.Kernel:
    """Load a complete, verified entry; FileNotFoundError for a clean miss, else :class:`_Damaged`."""
    kernel = launch.cached_kernel(entry.json)
    if kernel is not None:
        return kernel
    has_json, has_so = entry.json.exists(), entry.so.exists()
    if not has_json and not has_so:
        raise FileNotFoundError(entry.json)
    if not has_so:
        raise _Damaged(f"{entry.so.name} is missing")
    bce_cache.check_private(entry.directory)  # code from a folder others can write: refused
    meta = _read_meta(entry)
    try:
        return launch.load_kernel(entry.json, meta)
    except FileNotFoundError:
        raise _Damaged("a file vanished while loading") from None
    except OpError as err:  # the .so does not match the SHA-256 in the JSON
        raise _Damaged(err.detail) from None
    except Exception as err:  # noqa: BLE001 - a .so the loader refuses is damaged, whatever the error
        raise _Damaged(f"{entry.so.name} could not be opened ({type(err).__name__}: {err})") from None


def _touch(entry: Entry) -> None:
    """Record a use for LRU eviction (``<key>.lock``'s mtime); a read-only cache just skips it."""
    with contextlib.suppress(OSError):
        os.utime(entry.lock)


@contextlib.contextmanager
def _locked(path: Path, blocking: bool = True, what: str = "") -> Iterator[bool]:
    """Hold ``fcntl.flock`` on ``path`` (created if needed); yields False if not blocking and busy.

    A blocking wait for another process says once on stderr what it waits for (``what``, default
    the kernel) and the holder's pid (:func:`bce_grad.runtime.build_guard.acquire`).
    """
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            if blocking:
                acquire(fd, path, what or f"kernel {path.stem} in {path.parent}")
            else:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            yield False
            return
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:  # not a lock file that an evictor unlinked while we waited for it
            break
        os.close(fd)
    try:
        yield True
    finally:
        os.close(fd)


def orphans(directory: Path) -> list[Path]:
    """Temporary files left by killed builds or loads: their pid is gone, or they are old."""
    found = []
    now = time.time()
    with contextlib.suppress(FileNotFoundError, NotADirectoryError):
        for path in directory.iterdir():
            match = _TEMP.match(path.name)
            if not match:
                continue
            with contextlib.suppress(FileNotFoundError):
                if not pid_alive(int(match.group(1))) or now - path.stat().st_mtime > ORPHAN_AGE_S:
                    found.append(path)
    return found


def remove_orphans(directory: Path) -> int:
    """Remove :func:`orphans`; returns how many were removed."""
    removed = 0
    for path in orphans(directory):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            removed += 1
    return removed


def entries(directory: Path) -> dict[str, dict]:
    """The cached kernels by name: ``{"bytes": ..., "used": ...}`` (used: last access time)."""
    found: dict[str, dict] = {}
    with contextlib.suppress(FileNotFoundError, NotADirectoryError):
        for path in directory.iterdir():
            match = _ENTRY.match(path.name)
            if not match:
                continue
            with contextlib.suppress(FileNotFoundError):
                st = path.stat()
                item = found.setdefault(match.group(1), {"bytes": 0, "used": 0.0})
                item["bytes"] += st.st_size
                item["used"] = max(item["used"], st.st_mtime)
    return found


def _remove_entry(entry: Entry) -> bool:
    """Remove an entry nobody is building; False if its lock is held."""
    with _locked(entry.lock, blocking=False) as held:
        if not held:
            return False
        for path in (entry.json, entry.so, entry.obj):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        with contextlib.suppress(FileNotFoundError):
            entry.lock.unlink()
    return True


def evict(directory: Path, keep: str = "", limit: int | None = None) -> list[str]:
    """Remove least recently used kernels until the cache fits ``limit`` (default :func:`max_bytes`)."""
    limit = max_bytes() if limit is None else limit
    found = entries(directory)
    total = sum(item["bytes"] for item in found.values())
    removed = []
    for name, item in sorted(found.items(), key=lambda kv: kv[1]["used"]):
        if total <= limit:
            break
        if name != keep and _remove_entry(Entry(name, directory)):
            total -= item["bytes"]
            removed.append(name)
    return removed


def clear(directory: Path | None = None, keep_stages: bool = False) -> tuple[int, int]:
    """Remove every kernel nobody is building, and orphans; returns (removed, busy).

    ``keep_stages``: leave ``aot_*`` (a package build that is running now writes there)."""
    directory = directory or cache_dir()
    removed = busy = 0
    for name in entries(directory):
        if _remove_entry(Entry(name, directory)):
            removed += 1
        else:
            busy += 1
    for stage in [] if keep_stages else directory.glob("aot_*"):  # what a stopped build kept
        shutil.rmtree(stage, ignore_errors=True)
    for memo in directory.glob("targets_*.json"):
        with contextlib.suppress(FileNotFoundError):
            memo.unlink()
    remove_orphans(directory)
    return removed, busy


def _warn(entry: Entry, reason: str) -> None:
    warnings.warn(f"bce_grad kernel cache: {entry.name} in {entry.directory} is unusable "
                  f"({reason}); rebuilding it", KernelCacheWarning, stacklevel=4)


#: Seconds a kernel compile runs before it says, once on stderr, what it compiles and why.
COMPILE_NOTICE_S = 1.0


def _say_compiling(entry: Entry, arrays: Mapping[str, np.ndarray], pattern: list, out_dtype: str,
                   reduction: str, info: SocInfo) -> None:
    dtypes = ", ".join(f"{name}={a.dtype}" for name, a in arrays.items())
    shapes = " ".join("x".join(map(str, shape)) or "()" for shape in pattern)
    print(f"bce_grad: compiling one kernel for {info.soc_version} ({dtypes} -> {out_dtype}, "
          f"reduction={reduction}, canonical shapes {shapes}): no cached or shipped kernel serves "
          f"this call; it is kept in {entry.directory} for later calls", file=sys.stderr,
          flush=True)


def _compile(entry: Entry, arrays: Mapping[str, np.ndarray], pattern: list[tuple[int, ...]],
             out_dtype: str, reduction: str, info: SocInfo) -> None:
    from bce_grad.host_backend.build import kernel_meta_at
    from bce_grad.host_backend.op_context import OpContext
    from bce_grad._impl.dynamic.binary_cross_entropy_grad import binary_cross_entropy_grad

    dtypes = {name: str(a.dtype) for name, a in arrays.items()}
    # a canonical pattern's dims other than 1 are > 1: range (2, None) makes classify compile
    # this one pattern, not its "may be 1" variants
    descs = {n: {"shape": [UNKNOWN_DIM if d != 1 else 1 for d in shape], "dtype": dtypes[n],
                 "format": "ND", "range": [(1, 1) if d == 1 else (2, None) for d in shape]}
             for n, shape in zip(arrays, pattern)}
    output = {"shape": descs["x"]["shape"], "dtype": out_dtype, "format": "ND"}
    with platform.use_soc(info.soc_version), kernel_meta_at(entry.directory), OpContext("dynamic"):
        binary_cross_entropy_grad(descs["x"], descs["y"], descs["grad_output"], descs.get("weight"),
                                  output, reduction, entry.name)


def get_kernel(arrays: Mapping[str, np.ndarray], out_dtype: str, reduction: str,
               info: SocInfo) -> tuple[launch.Kernel, list[tuple[int, ...]]]:
    """Return the loaded kernel for these inputs (building it if needed) and their pattern.

    Parameters
    ----------
    arrays : mapping of str to numpy.ndarray
        The inputs by name, x first, in the operator's order.
    out_dtype, reduction : str
        The output dtype and the reduction.
    info : SocInfo
        The SoC compiled for.

    Raises
    ------
    OpValueError
        When the cache directory is unusable (named ``BCE_GRAD_CACHE``).
    """
    pattern = canonical_pattern([a.shape for a in arrays.values()])
    dtypes = {name: str(a.dtype) for name, a in arrays.items()}
    entry = Entry(PREFIX + kernel_key(dtypes, pattern, out_dtype, reduction, info), cache_dir())
    try:
        kernel = _load(entry)
        _touch(entry)
        return kernel, pattern
    except FileNotFoundError:
        warned = False
    except _Damaged as damage:
        _warn(entry, str(damage))
        warned = True
    writable_cache_dir()
    with _locked(entry.lock):
        try:
            kernel = _load(entry)  # another thread or process built it while we waited
        except (FileNotFoundError, _Damaged) as damage:
            if isinstance(damage, _Damaged) and not warned:
                _warn(entry, str(damage))
            remove_orphans(entry.directory)
            for path in (entry.json, entry.so, entry.obj):  # JSON first: never a JSON without its .so
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
            announce = threading.Timer(COMPILE_NOTICE_S, _say_compiling,
                                       (entry, arrays, pattern, out_dtype, reduction, info))
            announce.daemon = True
            announce.start()  # a compile that takes longer than a second says what and why
            try:
                _compile(entry, arrays, pattern, out_dtype, reduction, info)
            finally:
                announce.cancel()
            try:
                kernel = _load(entry)
            except (FileNotFoundError, _Damaged) as err:
                raise OpError("E61001", f"kernel {entry.name} was built in {entry.directory} but "
                              f"cannot be loaded ({err})", param_name=CACHE_ENV) from None
    try:
        evict(entry.directory, keep=entry.name)
    except OSError as err:
        if err.errno not in (errno.EROFS, errno.EACCES, errno.EPERM):
            raise
    return kernel, pattern


def get_or_build(arrays: Mapping[str, np.ndarray], out_dtype: str, reduction: str,
                 info: SocInfo) -> tuple[Path, list[tuple[int, ...]]]:
    """Like :func:`get_kernel`, but return the kernel's JSON path (kept for callers of old)."""
    kernel, pattern = get_kernel(arrays, out_dtype, reduction, info)
    return kernel.json_path, pattern


#: A temporary entry of a build in a subfolder other than ``kernels``:
#: ``.<what>.<pid>.<random>`` (``.build.<pid>.*``, ``.<package>.<pid>.*``, records being written).
_BUILD_TEMP = re.compile(r"^\..*?\.(\d+)\.[^.]*$")


def _size(path: Path) -> int:
    """Bytes of a file, or of every file under a folder (links not followed)."""
    try:
        if not path.is_dir() or path.is_symlink():
            return path.lstat().st_size
    except FileNotFoundError:
        return 0
    total = 0
    for folder, _, files in os.walk(path):
        for name in files:
            with contextlib.suppress(FileNotFoundError):
                total += os.lstat(os.path.join(folder, name)).st_size
    return total


def _artefacts(folder: Path) -> tuple[dict[str, list[Path]], list[Path]]:
    """A build folder's artefacts by name (``<name>`` with its ``.sha256`` record and ``.lock``)
    and its temporary entries (names starting with a dot)."""
    groups: dict[str, list[Path]] = {}
    temps = []
    with contextlib.suppress(FileNotFoundError, NotADirectoryError):
        for path in folder.iterdir():
            if path.name.startswith("."):
                temps.append(path)
                continue
            base = path.name
            for suffix in (bce_cache.SHA256_SUFFIX, ".lock"):
                base = base.removesuffix(suffix)
            groups.setdefault(base, []).append(path)
    return groups, temps


def _orphaned_temps(temps: list[Path]) -> list[Path]:
    now, found = time.time(), []
    for path in temps:
        match = _BUILD_TEMP.match(path.name)
        with contextlib.suppress(FileNotFoundError):
            if (match and not pid_alive(int(match.group(1)))) or now - path.lstat().st_mtime > ORPHAN_AGE_S:
                found.append(path)
    return found


def cache_info() -> dict[str, dict]:
    """What every subfolder of the cache root holds: ``{name: {"path", "count", "bytes",
    "orphans"}}``; ``count`` is kernels for ``kernels``, else artefacts (libraries, packages)."""
    info = {}
    for name in bce_cache.SUBFOLDERS:
        folder = bce_cache.folder(name)
        if name == "kernels":
            count, orphaned = len(entries(folder)), len(orphans(folder))
        else:
            groups, temps = _artefacts(folder)
            count = sum(any(not p.name.endswith(".lock") for p in items) for items in groups.values())
            orphaned = len(_orphaned_temps(temps))
        info[name] = {"path": folder, "count": count, "bytes": _size(folder), "orphans": orphaned}
    return info


def _clear_builds(folder: Path) -> tuple[int, list[tuple[str, str]]]:
    """Remove a build folder's artefacts whose lock nobody holds, and temporary entries whose
    builder is gone; returns (removed, [(artefact, lock holder's pid)] left because busy)."""
    removed, busy = 0, []
    groups, temps = _artefacts(folder)
    for base, items in sorted(groups.items()):
        lock = folder / f"{base}.lock"
        with try_lock(lock) as held:
            if not held:
                busy.append((base, lock_holder(lock)))
                continue
            for path in items:
                if path.name.endswith(".lock"):
                    continue
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)
            lock.unlink(missing_ok=True)  # a builder waiting on it takes the new one
        removed += any(not p.name.endswith(".lock") for p in items)
    for path in _orphaned_temps(temps):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    return removed, busy


def clear_all() -> dict[str, tuple[int, list[tuple[str, str]]]]:
    """Empty every subfolder of the cache root (:data:`bce_grad.cache_root.SUBFOLDERS`), never
    anything else there: ``{name: (removed, [(entry, holder pid)] left because a process holds
    its lock now)}``. A kernel being built, a library or package being built, and (while a
    package build runs) the kernels it staged in ``kernels/aot_*`` are left."""
    done = {}
    for name in bce_cache.SUBFOLDERS:
        if name != "kernels":
            done[name] = _clear_builds(bce_cache.folder(name))
    folder = bce_cache.folder("kernels")
    busy_before = {n for n in entries(folder)}
    removed, _ = clear(folder, keep_stages=bool(done["packages"][1]))
    left = [(n, lock_holder(Entry(n, folder).lock)) for n in busy_before & set(entries(folder))]
    done = {"kernels": (removed, left), **done}
    return done
