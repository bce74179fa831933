"""Load the aot kernel library and bind the native runtime's kernel package to it.

:func:`bind` builds (first use) and opens ``libbce_grad_ms`` with ctypes, opens the kernel package
with the native runtime (:class:`bce_grad.runtime.Runtime`, kept open for the process) and hands
the library the package handle and the runtime's entry points (``bce_grad_ms_bind``). MindSpore
later ``dlopen``s the same file by path and gets the same, bound, library: its kernels then run
no Python and take no GIL.

Which package: the one given to :func:`set_package`, else
``bce_grad.runtime.packages.ready_package(soc)``, else one that compiles each kernel on the first
call that needs it (:class:`~bce_grad.runtime.adapter.PackageChoice`).
"""
from __future__ import annotations

import ctypes
import os

from bce_grad.host_backend.errors import OpError
from bce_grad.runtime.adapter import PackageChoice

_packages = PackageChoice()
_lock = _packages.lock
_bound: dict[str, object] = {"package": None}
_library: list[tuple[str, ctypes.CDLL]] = []
#: The library's ``bce_grad_ms_failures`` once loaded: :func:`failures` calls it directly, as the
#: cell reads it before every call (one C call, about 0.2 us; :func:`last_error` costs 2-4 us).
_failures: list = []


def library() -> tuple[str, ctypes.CDLL]:
    """(path, ctypes handle) of ``libbce_grad_ms``, built on first use (once per process)."""
    with _lock:
        if _library:
            return _library[0]
        from bce_grad.mindspore._build import library_path

        path = str(library_path())
        lib = ctypes.CDLL(path)
        lib.bce_grad_ms_bind.argtypes = [ctypes.c_void_p] * 4
        lib.bce_grad_ms_bind.restype = ctypes.c_int
        lib.bce_grad_ms_bound_package.restype = ctypes.c_void_p
        lib.bce_grad_ms_last_error.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
        lib.bce_grad_ms_last_error.restype = ctypes.c_uint64
        lib.bce_grad_ms_failures.argtypes = []
        lib.bce_grad_ms_failures.restype = ctypes.c_uint64
        _failures.append(lib.bce_grad_ms_failures)
        _library.append((path, lib))
        return _library[0]


def runtime():
    """The opened :class:`bce_grad.runtime.Runtime` of the chosen package (opened once)."""
    return _packages.runtime()


def bind() -> str:
    """Build and load the library, open the package, bind it; returns the library's path.

    Cheap once done: later calls only check that the chosen package is still the bound one.

    Raises
    ------
    OpError
        E61001 when the library cannot be built or the package cannot be opened.
    """
    with _lock:
        path, lib = library()
        rt = runtime()
        if _bound["package"] is rt and lib.bce_grad_ms_bound_package() == rt._handle.value:
            return path
        native = rt._lib
        pointers = [ctypes.cast(getattr(native, name), ctypes.c_void_p).value for name in
                    ("bce_grad_backward", "bce_grad_last_error", "bce_grad_tiling")]
        if lib.bce_grad_ms_bind(rt._handle.value, *pointers) != 0:
            raise OpError("E61001", "binding the kernel package to the MindSpore kernel library "
                          "failed (a NULL handle or entry point)", "binary_cross_entropy_grad")
        _bound["package"] = rt
        return path


def set_package(package: str | os.PathLike | None = None, *, soc: str | None = None) -> None:
    """Choose the kernel package (None: the runtime's default for ``soc``) and bind it now.

    Graphs compiled before keep running, on the newly bound package. Packages opened before stay
    open (a kernel in flight may use one).
    """
    with _lock:
        _packages.choose(package, soc)
        bind()


def last_error() -> tuple[int, str]:
    """(how many kernel calls failed so far in this process, the latest one's message)."""
    _, lib = library()
    buffer = ctypes.create_string_buffer(4096)
    count = lib.bce_grad_ms_last_error(buffer, len(buffer))
    return int(count), buffer.value.decode(errors="replace")


def failures() -> int:
    """How many kernel calls failed so far in this process: :func:`last_error`'s count, cheaply.

    No lock and no buffer, as :class:`~bce_grad.mindspore.BinaryCrossEntropyGrad` reads it before
    every call.
    """
    if not _failures:
        library()
    return _failures[0]()
