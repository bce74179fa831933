"""What every framework adapter (PyTorch, TensorFlow, MindSpore) shares with the native runtime.

Two pieces, each written once:

* :class:`PackageChoice`: which kernel package an adapter's C++ kernels use (the one given to
  ``set_package``, else :func:`bce_grad.runtime.packages.ready_package`: ``$BCE_GRAD_PACKAGE``,
  a binary wheel's shipped package, one built before; where none is ready, one that compiles
  each kernel on the first call that needs it: never a package inside a call), the opened
  :class:`bce_grad.runtime.Runtime` per package directory (kept open for the process: C++ holds
  its handle), and the *resolver*: a ctypes callback an adapter's C++ code calls on its first call
  in the process to get the package handle and the runtime's entry points. After that call the
  C++ kernel runs no Python. ``bce_grad_adapter.h`` is the C++ side.
* :func:`framework_library`: build an adapter's C++ source once per machine and key (the source,
  the headers of ``include/`` (``bce_grad_runtime.h``, the generated ``bce_grad_op_facts.h``,
  ``bce_grad_adapter.h``), the framework's identity, the compiler and
  the flags), through :func:`bce_grad.runtime.build.build_once` (a file lock, a private directory,
  a rename into place, a SHA-256 record checked before every load), so threads and processes
  build it once and nothing unverified is loaded.
"""
from __future__ import annotations

import ctypes
import hashlib
import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Callable, Sequence

from bce_grad import cache_root as bce_cache
from bce_grad.host_backend.errors import OpError
from bce_grad.runtime import build as runtime_build
from bce_grad.runtime import build_guard

__all__ = ["RESOLVER_TYPE", "PackageChoice", "framework_library", "framework_cache_root"]

#: ``int resolve(void** package, void** backward_on, void** last_error, char* message, size_t size)``
#: (``bce_grad_adapter.h``'s ``ResolverFn``).
RESOLVER_TYPE = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_void_p),
                                 ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(ctypes.c_void_p),
                                 ctypes.c_void_p, ctypes.c_size_t)
#: The adapters' shared C++ header (``bce_grad_adapter.h``), beside the runtime's.
ADAPTER_HEADER = runtime_build.INCLUDE_DIR / "bce_grad_adapter.h"
#: The environment variables that decide which package ``default_package`` resolves: the package
#: itself, its kernel set, SoC, target and CPU, and where the cache lies.
RESOLUTION_ENV = ("BCE_GRAD_PACKAGE", "BCE_GRAD_PACKAGE_SET", "BCE_GRAD_SOC", "BCE_GRAD_TARGET",
                  "BCE_GRAD_MCPU", "BCE_GRAD_CUDA_ARCH", "BCE_GRAD_CACHE", "XDG_CACHE_HOME", "HOME")


def _environment_reader(names: Sequence[str]) -> Callable[[], tuple]:
    """A function returning the values of ``names`` in ``os.environ`` (None where unset).

    ``os.environ.get`` costs about 1.3 us for an unset name (it raises and catches KeyError
    inside); reading the mapping behind ``os.environ``, which ``os.environ[...] = ...`` and ``del``
    keep current, costs under 0.1 us. Where that mapping is not there, ``os.environ.get`` is used.
    """
    data = getattr(os.environ, "_data", None)
    encode = getattr(os.environ, "encodekey", None)
    if not isinstance(data, dict) or encode is None:
        return lambda: tuple(os.environ.get(name) for name in names)
    keys = tuple(encode(name) for name in names)
    return lambda: tuple(map(data.get, keys))


_resolution_environment = _environment_reader(RESOLUTION_ENV)


class PackageChoice:
    """The kernel package of one adapter, its opened runtimes and its resolver callback.

    Thread-safe: one re-entrant lock guards the choice and the opened runtimes.
    """

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._package: str | None = None
        self._soc: str | None = None
        self._runtimes: dict[str, object] = {}
        #: (what the last resolution depended on, its manifest, its runtime); None until one ran.
        self._last: tuple[tuple, str, object] | None = None
        self._callback = RESOLVER_TYPE(self._resolve)  # kept alive: C++ holds its address

    @property
    def resolver_address(self) -> ctypes.c_void_p:
        """The resolver's address, for the C++ ``set_resolver`` entry point."""
        return ctypes.cast(self._callback, ctypes.c_void_p)

    def choose(self, package: str | os.PathLike | None, soc: str | None) -> None:
        """Use ``package`` (None: the runtime's default package for ``soc``) from the next bind.

        Packages opened before stay open (a call in flight may use one).
        """
        with self.lock:
            self._package = None if package is None else os.fspath(package)
            self._soc = soc
            self._last = None

    def package_dir(self) -> Path | None:
        """The chosen package, else the one ready for the SoC
        (:func:`bce_grad.runtime.packages.ready_package`), else None: none is ready.

        Raises
        ------
        OpError
            As ``ready_package`` raises (E80000 naming an unusable variable).
        """
        if self._package is not None:
            return Path(self._package)
        from bce_grad.runtime.packages import ready_package

        return ready_package(self._soc)

    def _inputs(self) -> tuple:
        """What :meth:`package_dir` depends on: the choice, this context's SoC and target, and
        :data:`RESOLUTION_ENV`."""
        from bce_grad.host_backend import platform

        return (self._package, self._soc, platform.selected_soc(), platform.selected_target(),
                _resolution_environment())

    def runtime(self):
        """The opened :class:`bce_grad.runtime.Runtime` of :meth:`package_dir` (opened once).

        Where no package is ready, an in-memory package over the kernel cache that compiles each
        kernel on the first call that needs it (one kernel, about a second, never a package:
        :meth:`bce_grad.runtime.cache_package.CachePackage.compile_on_miss`).

        The last resolution is reused while what it depended on (:meth:`_inputs`) is unchanged and
        its ``manifest.json`` still exists (a removed package is found again), so a call costs a
        dictionary of environment reads and one ``stat``, not a path resolution.
        """
        with self.lock:
            inputs = self._inputs()
            last = self._last
            if last is not None and last[0] == inputs and (last[1] is None or
                                                           os.path.isfile(last[1])):
                return last[2]
            found = self.package_dir()
            if found is None:
                from bce_grad.runtime.packages import soc_of

                soc = soc_of(self._soc).soc_version
                opened = self._runtimes.get(soc)
                if opened is None:
                    from bce_grad.runtime.cache_package import CachePackage

                    opened = self._runtimes[soc] = CachePackage(soc, {}).compile_on_miss().runtime
                self._last = (inputs, None, opened)
                return opened
            path = str(found.resolve())
            opened = self._runtimes.get(path)
            if opened is None:
                from bce_grad.runtime import Runtime

                opened = self._runtimes[path] = Runtime(path)
            self._last = (inputs, os.path.join(path, "manifest.json"), opened)
            return opened

    def entry_points(self) -> tuple[int, int, int]:
        """(package handle, ``bce_grad_backward_on``, ``bce_grad_last_error``) as addresses."""
        rt = self.runtime()
        lib = rt._lib
        return (rt._handle.value, ctypes.cast(lib.bce_grad_backward_on, ctypes.c_void_p).value,
                ctypes.cast(lib.bce_grad_last_error, ctypes.c_void_p).value)

    def _resolve(self, package, backward, last_error, message, size) -> int:
        """The C++ side's resolver (ctypes takes the GIL for it); never raises."""
        try:
            package[0], backward[0], last_error[0] = self.entry_points()
            return 0
        except BaseException as err:  # noqa: BLE001 - nothing may cross the C boundary
            from bce_grad.runtime.native import report_to_c

            return report_to_c(err, "opening the kernel package", message, size)


class _Ticker:
    """While in scope, says every :attr:`EVERY` seconds on stderr how long ``what`` has run."""

    EVERY = 15.0

    def __init__(self, what: str, start: float) -> None:
        self._what, self._start = what, start
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.EVERY):
            print(f"{self._what} ({time.monotonic() - self._start:.0f} s)", file=sys.stderr,
                  flush=True)

    def __enter__(self) -> "_Ticker":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()


def framework_cache_root(framework: str) -> Path:
    """``<cache root>/<framework>`` (:func:`bce_grad.cache_root.folder`): ``torch``,
    ``tensorflow`` or ``mindspore``."""
    return bce_cache.folder(framework)


def framework_library(stem: str, source: Path, cxxflags: Sequence[str],
                      flags: Callable[[], tuple[Sequence[str], Sequence[str], str]],
                      framework: str, root: Path | None = None) -> Path:
    """An adapter's shared library, built from ``source`` now if the cache lacks it.

    Parameters
    ----------
    stem : str
        The library's file name stem, e.g. ``"libbce_grad_tf"``.
    source : Path
        The adapter's C++ source.
    cxxflags : sequence of str
        The adapter's own compiler flags.
    flags : callable
        Returns (compile flags, link flags, identity) of the installed framework; the identity
        (version, ABI) enters the cache key.
    framework : str
        Its name, for messages and the cache folder (``<cache root>/<framework>``).
    root : Path, optional
        Where to cache it instead.

    Returns
    -------
    Path
        ``<root>/<stem>-<key>.so``.

    Raises
    ------
    OpError
        E61001 when there is no C++ compiler (naming what to install) or the build fails.
    """
    compile_flags, link_flags, identity = flags()
    from bce_grad.runtime import prebuilt

    shipped = prebuilt.adapter_library(stem, identity)  # a binary wheel's, for this framework
    if shipped is not None and root is None:
        return shipped
    blob = json.dumps({
        "source": hashlib.sha256(source.read_bytes()).hexdigest(),
        "headers": {path.name: hashlib.sha256(path.read_bytes()).hexdigest()
                    for path in sorted(runtime_build.INCLUDE_DIR.glob("*.h"))},
        "framework": identity, "compiler": runtime_build.compiler()[1], "flags": list(cxxflags),
    }, sort_keys=True)
    key = hashlib.sha256(blob.encode()).hexdigest()[:24]

    def compile_to(out: Path) -> None:
        cxx = runtime_build.compiler()[0]
        ffi = runtime_build._package_dir("tvm_ffi")  # dlpack/dlpack.h, as the runtime is built
        cmd = [cxx, *cxxflags, *compile_flags, f"-I{runtime_build.INCLUDE_DIR}",
               f"-I{ffi / 'include'}", str(source), "-o", str(out), *link_flags]
        why = ("this install ships none" if not prebuilt.PREBUILT_DIR.is_dir() else
               f"the one this install ships was built for another {framework}")
        print(f"bce_grad: building the {framework} adapter for {identity.split(' -')[0]} with "
              f"{cxx} ({why}); once per machine and version, 20-60 s", file=sys.stderr,
              flush=True)
        start = time.monotonic()
        with _Ticker(f"bce_grad: still building the {framework} adapter", start):
            done = build_guard.run(cmd, cleanup=[out.parent], capture=True)
        if done.returncode != 0:
            tail = (done.stderr or done.stdout)[-3000:]
            raise OpError("E61001", f"building the {framework} adapter failed ({cxx} exited with "
                          f"{done.returncode}):\n{tail}", param_name=runtime_build.CXX_ENV)
        print(f"bce_grad: built the {framework} adapter in {time.monotonic() - start:.1f} s",
              file=sys.stderr, flush=True)

    folder = Path(root) if root is not None else framework_cache_root(framework.lower())
    return runtime_build.build_once(folder / f"{stem}-{key}.so", compile_to)
