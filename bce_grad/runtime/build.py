"""Build the native runtime from its sources, once per (sources, compiler, TVM) on this machine.

The runtime ships as C++ sources (``src/``) and one C header (``include/``); no binary is
committed. The first :func:`library_path` call compiles them with the system C++ compiler
(``$CXX``, else ``g++``) against the TVM FFI headers and libraries of the installed wheels,
and caches ``libbce_grad_runtime-<key>.so`` under :func:`cache_root`. The key hashes the
sources, the compiler's version and target, the TVM and TVM-FFI versions and the flags, so
any change builds afresh. The library is linked in a private temporary directory and renamed
into place, and its SHA-256 is recorded beside it (``<lib>.sha256``) and checked before every
load; builders of one key (threads, processes) take a file lock and check again.
"""
from __future__ import annotations

import concurrent.futures
import functools
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import shutil
import subprocess
import tempfile
import warnings
from pathlib import Path

from bce_grad import cache_root as bce_cache
from bce_grad.host_backend.errors import OpError
from bce_grad.runtime import build_guard

HERE = Path(__file__).resolve().parent
INCLUDE_DIR = HERE / "include"
SOURCE_DIR = HERE / "src"
CXX_ENV = "CXX"
CXXFLAGS = ("-std=c++17", "-O2", "-fPIC", "-fvisibility=hidden", "-Wall")


def _package_dir(name: str) -> Path:
    """An installed package's directory, found without importing it."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise OpError("E61001", f"the native runtime needs the Python package [{name}] "
                      f"(apache-tvm-ffi / apache-tvm); install bce-grad's requirements",
                      param_name=name)
    return Path(list(spec.submodule_search_locations)[0])


def cache_root() -> Path:
    """``<cache root>/runtime`` (:func:`bce_grad.cache_root.folder`)."""
    return bce_cache.folder("runtime")


@functools.lru_cache(maxsize=None)
def compiler() -> tuple[str, str]:
    """(path, identity) of the C++ compiler: ``$CXX`` or ``g++``; identity is its version + target.

    Raises
    ------
    OpError
        E61001 naming what to install when there is no usable compiler.
    """
    name = os.environ.get(CXX_ENV) or "g++"
    path = shutil.which(name)
    if path is None:
        raise OpError("E61001", f"the native runtime is built from source on first use and needs "
                      f"a C++17 compiler, but [{name}] was not found on PATH; install g++ "
                      f"(Debian/Ubuntu: apt-get install g++, Fedora/RHEL: dnf install gcc-c++, "
                      f"conda: conda install gxx_linux-64) or set ${CXX_ENV} to one",
                      param_name=CXX_ENV)
    try:
        version = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=60,
                                 check=True).stdout.splitlines()[0]
        machine = subprocess.run([path, "-dumpmachine"], capture_output=True, text=True, timeout=60,
                                 check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError, IndexError) as err:
        raise OpError("E61001", f"the C++ compiler [{path}] does not run ({err}); install g++ or "
                      f"set ${CXX_ENV} to a working C++17 compiler", param_name=CXX_ENV) from None
    return path, f"{version} ({machine})"


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _sources() -> list[Path]:
    return sorted(SOURCE_DIR.glob("*.cc")) + sorted(SOURCE_DIR.glob("*.h")) + \
        sorted(INCLUDE_DIR.glob("*.h"))


def build_key() -> str:
    """The cache key: sources, compiler identity, TVM and TVM-FFI versions, flags."""
    blob = json.dumps({
        "sources": {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in _sources()},
        "compiler": compiler()[1], "tvm": _version("apache-tvm"),
        "tvm_ffi": _version("apache-tvm-ffi"), "flags": CXXFLAGS,
    }, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def _run(cmd: list[str], children: build_guard.Children | None = None) -> None:
    """Run a compiler command as a supervised child (:mod:`build_guard`): it ends, and the build's
    temporary folder (the output's) goes, when this process is interrupted or dies."""
    out = Path(cmd[cmd.index("-o") + 1])
    done = (children or build_guard.Children()).run(cmd, cleanup=[out.parent], capture=True)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout)[-3000:]
        raise OpError("E61001", f"building the native runtime failed ({' '.join(cmd[:2])} ... "
                      f"exited with {done.returncode}):\n{tail}", param_name=CXX_ENV)


def _compile(out: Path, rpaths: list[str] | None = None) -> None:
    """Compile every source to an object (in parallel) and link ``out``.

    ``rpaths``: where the library finds ``libtvm_runtime.so`` and ``libtvm_ffi.so``; default the
    installed ``tvm`` and ``tvm_ffi`` packages' ``lib`` folders (absolute).
    """
    cxx = compiler()[0]
    ffi, tvm = _package_dir("tvm_ffi"), _package_dir("tvm")
    defines = [f'-DBCE_GRAD_TVM_VERSION="{_version("apache-tvm")}"']
    includes = [f"-I{INCLUDE_DIR}", f"-I{ffi / 'include'}"]
    objects = [out.parent / f"{src.stem}.o" for src in sorted(SOURCE_DIR.glob("*.cc"))]
    jobs = [[cxx, *CXXFLAGS, *defines, *includes, "-c", str(src), "-o", str(obj)]
            for src, obj in zip(sorted(SOURCE_DIR.glob("*.cc")), objects)]
    workers = max(1, min(len(jobs), len(os.sched_getaffinity(0))))
    with concurrent.futures.ThreadPoolExecutor(workers) as pool, build_guard.Children() as children:
        list(pool.map(functools.partial(_run, children=children), jobs))
    libs = [ffi / "lib", tvm / "lib"]
    rpaths = [str(d) for d in libs] if rpaths is None else rpaths
    _run([cxx, "-shared", *[str(o) for o in objects], "-o", str(out),
          *[f"-L{d}" for d in libs], *[f"-Wl,-rpath,{d}" for d in rpaths],
          "-ltvm_ffi", "-Wl,--no-as-needed", "-ltvm_runtime", "-ldl"])


#: Where a wheel's runtime (``site-packages/bce_grad/_prebuilt/runtime/``) finds TVM's libraries:
#: the ``tvm`` and ``tvm_ffi`` packages beside ``bce_grad`` in site-packages.
RELOCATABLE_RPATHS = ["$ORIGIN/../../../tvm_ffi/lib", "$ORIGIN/../../../tvm/lib"]


def compile_library(out: Path) -> None:
    """Build the runtime library to ``out`` for a wheel: TVM's libraries found relative to it.

    (The runtime also works without the rpath: :func:`bce_grad.runtime.native.load_library`
    loads ``libtvm_runtime.so`` first, and the dynamic linker reuses it by its soname.)
    """
    out = Path(out)
    work = Path(tempfile.mkdtemp(prefix=".build.", dir=out.parent))
    try:
        _compile(work / out.name, rpaths=RELOCATABLE_RPATHS)
        os.replace(work / out.name, out)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def file_lock(path: Path, what: str | None = None):
    """Hold an exclusive ``flock`` on ``path`` (created if missing) for the ``with`` block; a wait
    for another process says once on stderr what it waits for (``what``, default the lock's name
    without ``.lock``) and the holder's pid."""
    return build_guard.lock(path, what or f"the build of {path.stem}")


def library_path(root: Path | None = None) -> Path:
    """The runtime library for this machine: built now if the cache does not hold it.

    Parameters
    ----------
    root : Path, optional
        Cache directory; default :func:`cache_root`.

    Raises
    ------
    OpError
        E61001 when there is no compiler (naming what to install) or the build fails.
    """
    if root is None:
        from bce_grad.runtime import prebuilt

        shipped = prebuilt.runtime_library()  # a binary wheel's: no compiler needed
        if shipped is not None:
            return shipped
    root = Path(root) if root is not None else cache_root()
    return build_once(root / f"libbce_grad_runtime-{build_key()}.so", _compile)


def build_once(lib: Path, compile_to) -> Path:
    """Return ``lib``, building it first with ``compile_to(path)`` unless it is there and verified.

    ``lib``'s folder is created ``0700`` and refused when others can write it
    (:func:`bce_grad.cache_root.check_private`). A library is used only when it matches the
    SHA-256 recorded in ``<lib>.sha256`` when it was built; one that does not (damaged, replaced,
    or with no record) is rebuilt, with one :class:`~bce_grad.cache_root.UnverifiedLibraryWarning`.

    Builders of the same file (threads or processes) take turns under a file lock; the
    build happens in a temporary directory beside ``lib`` and is renamed into place, so
    a reader never sees half a library; the record is written after it. ``compile_to`` runs its
    commands through :mod:`build_guard`, which removes that directory when the build is stopped;
    one a killed builder left (its pid is gone) is removed here.
    """
    bce_cache.private_folder(lib.parent)
    if bce_cache.matches_record(lib):
        return lib
    with file_lock(lib.parent / f"{lib.name}.lock"):
        state = bce_cache.matches_record(lib)
        if state:  # another thread or process built it while we waited
            return lib
        if state is False:
            warnings.warn(f"bce_grad: {lib} does not match the SHA-256 recorded when it was built "
                          f"(damaged, replaced, or no record); rebuilding it",
                          bce_cache.UnverifiedLibraryWarning, stacklevel=3)
        discard(lib)
        build_guard.remove_stale(lib.parent, ".build.")
        work = Path(tempfile.mkdtemp(prefix=f".build.{os.getpid()}.", dir=lib.parent))
        try:
            compile_to(work / lib.name)
            os.replace(work / lib.name, lib)
            bce_cache.record_sha256(lib)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return lib


def discard(lib: Path) -> None:
    """Remove a cached library and its SHA-256 record (the record first)."""
    for path in (bce_cache.sha256_record(lib), lib):
        path.unlink(missing_ok=True)
