"""The kernel packages: the one the framework adapters open, the one ``default_package`` builds.

:func:`ready_package` answers 1 and 2 below, and 3 where it exists, without building anything:
the framework adapters use it, and where it answers None they compile each kernel on the first
call that needs it. :func:`default_package` answers in this order and builds 3 if needed (a
deliberate step, as ``bce-grad aot`` is):

1. ``$BCE_GRAD_PACKAGE``, when set: a package directory written by ``bce-grad aot``
   (validated: it must hold a ``manifest.json``, for the SoC asked, else a clean error naming
   the variable). Nothing is built.
2. A binary wheel's shipped package for the best CPU level this machine runs, where it
   serves the SoC, kernel set and environment (:mod:`bce_grad.runtime.prebuilt`). Nothing is
   built.
3. ``<cache root>/packages/<soc_dir>-<key>``, where the cache root is ``$BCE_GRAD_CACHE``
   (default ``~/.cache/bce-grad``; :mod:`bce_grad.cache_root`, a private folder) and the key hashes
   the operator's sources, the TVM version, the target (config and CPU features), the SoC
   and the kernel set. It is built on first use: under a file lock (threads and processes
   build it once), into a private directory renamed into place (a killed build leaves
   nothing that looks complete), with progress on stderr.

The kernel set (:func:`package_kernel_set`) is chosen by ``$BCE_GRAD_PACKAGE_SET``:

``minimal``
    float32 only: the generic strided kernels (canonical ranks 1-8) and the same-shape fast
    path. Every float32 call is served; a quick build (10 kernels) for tests.
``default``
    every dtype the SoC's op info lists for all tensors: the generic strided kernels (they
    serve every broadcast pattern, with or without weight), the float32-input generic kernels
    for the other output dtypes (mixed input dtypes and ``out_dtype``, inputs widened
    exactly), and the compact fast paths (same shape, scalar grad_output / weight, a column
    of grad_output, a row of weight).
``full``
    ``default`` plus compact kernels for the common patterns up to canonical rank 3.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import sys
import tempfile
import threading
from pathlib import Path

from bce_grad import cache_root as bce_cache
from bce_grad.host_backend.errors import OpValueError
from bce_grad.runtime import build_guard, prebuilt
from bce_grad.runtime.build import file_lock

PACKAGE_ENV = "BCE_GRAD_PACKAGE"
PACKAGE_SET_ENV = "BCE_GRAD_PACKAGE_SET"
PACKAGE_SETS = ("minimal", "default", "full")
DEFAULT_SET = "default"
_lock = threading.Lock()


def package_set_name(name: str | None = None) -> str:
    """The kernel set to build: ``name``, else ``$BCE_GRAD_PACKAGE_SET``, else ``default``.

    Raises
    ------
    OpValueError
        E80000 naming ``BCE_GRAD_PACKAGE_SET`` for a value not in :data:`PACKAGE_SETS`.
    """
    value = name if name is not None else os.environ.get(PACKAGE_SET_ENV, "").strip() or DEFAULT_SET
    if value not in PACKAGE_SETS:
        raise OpValueError("E80000", f"the environment variable[{PACKAGE_SET_ENV}] should be one of "
                           f"{list(PACKAGE_SETS)}, but actually is [{value}]",
                           param_name=PACKAGE_SET_ENV)
    return value


def package_kernel_set(soc_version: str, name: str | None = None) -> list:
    """The :class:`~bce_grad.runtime.kernel_set.KernelSpec` list of set ``name`` for a SoC."""
    from bce_grad.runtime import kernel_set

    name = package_set_name(name)
    info = kernel_set.op_info_dtypes(soc_version)
    uniform = [d for d in info["x"] if all(d in info[p] for p in info)]
    if name == "minimal":
        dtypes = [d for d in uniform if d == "float32"] or uniform[:1]
        return kernel_set.generic_set(dtypes) + kernel_set.fast_set(dtypes, same_shape_only=True)
    specs = kernel_set.generic_set(uniform) + kernel_set.cast_generic_set(info)
    specs += kernel_set.fast_set(uniform)
    if name == "full":
        specs += [spec for spec in kernel_set.kernel_set(uniform, max_rank=3)
                  if spec.key not in {s.key for s in specs}]
    return specs


def _shipped_serves(soc_version: str) -> bool:
    """Whether shipped packages may serve calls for this SoC in this environment."""
    return (soc_version == prebuilt.SOC
            and os.environ.get(prebuilt.TARGET_ENV, "llvm").strip() in ("", "llvm")
            and not os.environ.get(prebuilt.MCPU_ENV, "").strip()
            and any((prebuilt.PREBUILT_DIR / "packages" / level / "manifest.json").is_file()
                    for level in prebuilt.LEVELS))


def shipped_package(soc_version: str, set_name: str | None = None) -> Path | None:
    """A binary wheel's shipped package (:mod:`bce_grad.runtime.prebuilt`) of the best level
    this CPU runs, or None where none serves.

    ``set_name``: only a package of that kernel set (the framework adapters ask for the set
    they would build); None takes any, the numpy API compiling what it lacks.
    """
    if not _shipped_serves(soc_version):
        return None
    for level in prebuilt.LEVELS:
        path = prebuilt.PREBUILT_DIR / "packages" / level
        if set_name in (None, prebuilt.LEVEL_SETS[level]) and _runs_here(str(path)):
            return path
    return None


@functools.lru_cache(maxsize=None)
def _runs_here(path: str) -> bool:
    """Whether the shipped package at ``path`` opens on this CPU (asked once per process: the
    CPU and the installed files do not change; ``default_package`` asks on every resolution)."""
    from bce_grad.host_backend.errors import OpError
    from bce_grad.runtime.native import Runtime

    if not os.path.isfile(os.path.join(path, "manifest.json")):
        return False
    try:
        Runtime(path).close()  # refuses a package that needs CPU features this one lacks
    except OpError:
        return False
    return True


def packages_root() -> Path:
    """``<cache root>/packages`` (:func:`bce_grad.cache_root.folder`)."""
    return bce_cache.folder("packages")


def _from_env(value: str, soc: str | None) -> Path:
    path = Path(value).expanduser()
    manifest = path / "manifest.json"
    if not value.strip() or not manifest.is_file():
        raise OpValueError("E80000", f"the environment variable[{PACKAGE_ENV}] should name a kernel "
                           f"package directory (one with a manifest.json, written by `bce-grad aot "
                           f"--out DIR`), but actually is [{value}], which has no manifest.json; "
                           f"unset it to use the default package", param_name=PACKAGE_ENV)
    if soc is not None:
        from bce_grad.host_backend.soc_table import soc_info

        try:
            recorded = json.loads(manifest.read_text()).get("short_soc_version")
        except (OSError, ValueError, AttributeError):
            recorded = None
        wanted = soc_info(soc).short_soc_version
        if recorded != wanted:
            raise OpValueError("E80000", f"the environment variable[{PACKAGE_ENV}] names the "
                               f"package [{value}] built for [{recorded}], but the call asks for "
                               f"[{soc}] ({wanted}); unset it or point it at a package of that SoC",
                               param_name=PACKAGE_ENV)
    return path


def package_key(soc_version: str, set_name: str) -> str:
    """Short hash of what decides a package's kernels: sources, TVM, target, SoC, kernel set."""
    from bce_grad.host_backend import targets
    from bce_grad.host_backend.soc_table import soc_info
    from bce_grad.runtime import kernel_set
    from bce_grad import kernel_cache

    blob = json.dumps({
        "source": kernel_cache.source_hash(), "tvm": kernel_cache.tvm_version(),
        "target": targets.target_config("llvm"), "features": list(kernel_cache.target_features("llvm")),
        "soc": soc_info(soc_version).soc_version, "set": set_name,
        "kernel_set": hashlib.sha256(Path(kernel_set.__file__).read_bytes()).hexdigest(),
        "format": kernel_set.FORMAT_VERSION,
    }, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def default_package(soc: str | None = None, *, kernel_set: str | None = None) -> Path:
    """The kernel package for a SoC, built now if none is ready (:func:`ready_package`).

    Building one (minutes for the ``default`` set) is a deliberate step, as ``bce-grad aot`` is:
    the framework adapters never call this inside a user's call; where no package is ready they
    compile each kernel on its first call instead (:mod:`bce_grad.runtime.adapter`).

    Parameters
    ----------
    soc : str, optional
        Full SoC version; default: this context's SoC (``platform.use_soc``), else
        ``$BCE_GRAD_SOC``, else Ascend910B1.
    kernel_set : str, optional
        ``minimal``, ``default`` or ``full``; default ``$BCE_GRAD_PACKAGE_SET``, else ``default``.

    Returns
    -------
    pathlib.Path
        A directory holding ``manifest.json`` and ``kernels/``, for ``bce_grad_package_open``.

    Raises
    ------
    OpValueError
        E80000 naming ``BCE_GRAD_PACKAGE`` (no manifest, other SoC), ``BCE_GRAD_PACKAGE_SET``
        or ``BCE_GRAD_CACHE`` (not writable) when one is unusable.
    """
    ready = ready_package(soc, kernel_set=kernel_set)
    if ready is not None:
        return ready
    info = soc_of(soc)
    set_name = package_set_name(kernel_set)
    found = _default_package(info.soc_version, set_name, str(packages_root()))
    if not (found / "manifest.json").is_file():  # removed since this process found it
        _default_package.cache_clear()
        found = _default_package(info.soc_version, set_name, str(packages_root()))
    return found


def soc_of(soc: str | None):
    """The SoC info of ``soc``, else of this context's SoC (``platform.use_soc``, else
    ``$BCE_GRAD_SOC``, else Ascend910B1)."""
    from bce_grad.host_backend import platform
    from bce_grad.host_backend.soc_table import soc_info

    return soc_info(soc) if soc is not None else platform.current_soc()


def ready_package(soc: str | None = None, *, kernel_set: str | None = None) -> Path | None:
    """The package :func:`default_package` answers without building anything, else None.

    In this order: ``$BCE_GRAD_PACKAGE`` (validated), a binary wheel's shipped package where it
    serves the SoC, kernel set and this CPU (:mod:`bce_grad.runtime.prebuilt`), the cache's
    package of this SoC, kernel set, sources and target when one was built (its folder checked
    as private first). Arguments and errors as :func:`default_package`'s.
    """
    value = os.environ.get(PACKAGE_ENV)
    if value is not None:
        return _from_env(value, soc)
    set_name = package_set_name(kernel_set)
    info = soc_of(soc)
    shipped = shipped_package(info.soc_version, set_name)  # a binary wheel's: no build
    if shipped is not None:
        return shipped
    root = packages_root()
    built = _built_folder(root, info.soc_version, set_name)
    if not (built / "manifest.json").is_file():
        return None
    bce_cache.check_private(root)  # its kernels are loaded: refused when others can write it
    return built


def _built_folder(root: Path, soc_version: str, set_name: str) -> Path:
    """``<root>/<soc_dir>-<key>``: where the cache keeps the package of that SoC and kernel set."""
    from bce_grad.host_backend.soc_table import soc_info

    soc_dir = soc_info(soc_version).short_soc_version.lower()
    return root / f"{soc_dir}-{package_key(soc_version, set_name)}"


@functools.lru_cache(maxsize=None)
def _default_package(soc_version: str, set_name: str, root_text: str) -> Path:
    from bce_grad.kernel_cache import writable_cache_dir

    root = Path(root_text)
    final = _built_folder(root, soc_version, set_name)
    if root.is_dir():
        bce_cache.check_private(root)  # its kernels are loaded: refused when others can write it
    if (final / "manifest.json").is_file():
        return final
    writable_cache_dir()  # names BCE_GRAD_CACHE when the cache cannot be written
    bce_cache.private_folder(root)
    with _lock, file_lock(root / f"{final.name}.lock",
                          f"the {set_name} kernel package build for {soc_version} ({final.name})"):
        if (final / "manifest.json").is_file():  # another thread or process built it meanwhile
            return final
        build_guard.remove_stale(root, f".{final.name}.")  # what a killed builder left
        specs = package_kernel_set(soc_version, set_name)
        _say(f"bce_grad: building the {set_name} kernel package for {soc_version} ({len(specs)} "
             f"kernels, once per machine and version) into {final}")
        work = Path(tempfile.mkdtemp(prefix=f".{final.name}.{os.getpid()}.", dir=root))
        try:
            _build_in_child(work, soc_version, set_name)
            shutil.rmtree(final, ignore_errors=True)  # a manifest-less leftover
            os.replace(work, final)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return final


#: What the build process runs: the caller's import path, then :func:`build_default`.
_CHILD_CODE = ("import json, sys; sys.path[:] = json.loads(sys.argv[1]); "
               "from bce_grad.runtime.packages import build_default; build_default(*sys.argv[2:])")


def _build_in_child(work: Path, soc_version: str, set_name: str) -> None:
    """Build the package into ``work`` in a fresh interpreter, its progress on our stderr.

    The build compiles in a pool of ``spawn`` processes, and ``spawn`` makes each worker import
    the parent's ``__main__``: inside a user's process that is their script, which, without an
    ``if __name__ == "__main__"`` guard, would run again in every worker (training included) and
    wait there forever on this build's lock. A child started with ``-c`` has no main script, so
    its workers import only the operator. It gets this process's import path and environment.

    It runs supervised (:mod:`build_guard`): when this process is interrupted or dies, the build
    process and its pool end within a second or two and ``work`` is removed; an interrupted
    caller gets its ``KeyboardInterrupt`` unchanged. Kernels that finished stay in the kernel
    cache (``build_package``'s ``stage_root``), and the next build takes them from there.

    Raises
    ------
    OpError
        E61001 with the child's exit status when the build fails (its messages precede it).
    """
    from bce_grad.host_backend.errors import OpError

    if not sys.executable:  # an embedded interpreter with no python to start: build here
        build_default(str(work), soc_version, set_name)
        return
    argv = [sys.executable, "-c", _CHILD_CODE, json.dumps(sys.path), str(work), soc_version, set_name]
    status = build_guard.run(argv, cleanup=[work]).returncode
    if status != 0:
        raise OpError("E61001", f"building the {set_name} kernel package for {soc_version} failed "
                      f"in its build process ({sys.executable}, exit status {status}); its "
                      f"messages are above", "binary_cross_entropy_grad")


def build_default(work: str, soc_version: str, set_name: str) -> None:
    """The build process's body: compile set ``set_name`` for ``soc_version`` into ``work``."""
    from bce_grad.runtime.kernel_set import build_package

    from bce_grad.kernel_cache import cache_dir

    build_package(Path(work), soc_version, package_kernel_set(soc_version, set_name),
                  jobs=max(1, len(os.sched_getaffinity(0))), log=_say, stage_root=cache_dir())
