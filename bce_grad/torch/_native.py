"""Load the operator library into torch and hand its C++ kernel the kernel package.

:func:`load` builds (first use) and loads ``libbce_grad_torch`` (``torch.ops.load_library``: its
``TORCH_LIBRARY`` block defines ``bce_grad::binary_cross_entropy_backward``) and installs the
package resolver, a ctypes callback the C++ kernel calls on its first call in the process. The
resolver opens the package once (per package directory, so per SoC) with the native runtime and
returns the handle and the runtime's entry points; the C++ kernel keeps them, so later calls run
no Python.

Which package: the one given to :func:`set_package`, else
``bce_grad.runtime.default_package(soc)`` where the runtime provides it, else
``$BCE_GRAD_PACKAGE``.
"""
from __future__ import annotations

import ctypes
import os
import threading
from pathlib import Path

from bce_grad.host_backend.errors import OpError

PACKAGE_ENV = "BCE_GRAD_PACKAGE"

_lock = threading.Lock()
_runtimes: dict[str, object] = {}      # package directory -> bce_grad.runtime.Runtime (kept open)
_choice: dict[str, object] = {"package": None, "soc": None}
_library: list[ctypes.CDLL] = []

_RESOLVER = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_void_p),
                             ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(ctypes.c_void_p),
                             ctypes.c_void_p, ctypes.c_size_t)


def package_dir() -> Path:
    """The package the kernel uses: :func:`set_package`'s, the runtime's default, ``$BCE_GRAD_PACKAGE``.

    Raises
    ------
    OpError
        E61001 when none is known, naming the three ways to give one.
    """
    if _choice["package"] is not None:
        return Path(_choice["package"])
    default_package = _default_package_function()
    if default_package is not None:
        return Path(default_package(_choice["soc"]))
    value = os.environ.get(PACKAGE_ENV, "").strip()
    if value:
        return Path(value).expanduser()
    raise OpError("E61001", f"bce_grad.torch needs a kernel package: build one with `bce-grad aot` "
                  f"and pass it to bce_grad.torch.set_package(path) or set ${PACKAGE_ENV}",
                  "binary_cross_entropy_grad", PACKAGE_ENV)


def _default_package_function():
    """``bce_grad.runtime``'s ``default_package`` (built on first use), where the runtime has it."""
    try:
        from bce_grad.runtime.packages import default_package
    except ImportError:
        import bce_grad.runtime

        default_package = getattr(bce_grad.runtime, "default_package", None)
    return default_package


def runtime():
    """The opened :class:`bce_grad.runtime.Runtime` of :func:`package_dir` (opened once)."""
    with _lock:
        path = package_dir().resolve()
        opened = _runtimes.get(str(path))
        if opened is None:
            from bce_grad.runtime import Runtime

            opened = _runtimes[str(path)] = Runtime(path)
        return opened


def _resolve(package, backward, last_error, message, size) -> int:
    """The C++ kernel's resolver (runs under the GIL, which ctypes takes); never raises."""
    try:
        rt = runtime()
        lib = rt._lib
        package[0] = rt._handle.value
        backward[0] = ctypes.cast(lib.bce_grad_backward, ctypes.c_void_p).value
        last_error[0] = ctypes.cast(lib.bce_grad_last_error, ctypes.c_void_p).value
        return 0
    except BaseException as err:  # noqa: BLE001 - nothing may cross the C boundary
        text = str(err) if isinstance(err, OpError) else \
            f"[E61001] In op[binary_cross_entropy_grad], opening the kernel package failed: " \
            f"{type(err).__name__}: {err}"
        data = text.encode(errors="replace")[:max(int(size), 1) - 1]
        ctypes.memmove(message, data, len(data))
        return 1


_resolver = _RESOLVER(_resolve)  # kept alive for the process: C++ holds its address


def load() -> ctypes.CDLL:
    """Build if needed, load into torch, install the resolver (once per process)."""
    with _lock:
        if _library:
            return _library[0]
        import torch

        from bce_grad.torch._build import library_path

        path = str(library_path())
        torch.ops.load_library(path)
        lib = ctypes.CDLL(path)
        lib.bce_grad_torch_set_resolver.argtypes = [ctypes.c_void_p]
        lib.bce_grad_torch_set_resolver.restype = None
        lib.bce_grad_torch_route_aten.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t]
        lib.bce_grad_torch_route_aten.restype = ctypes.c_int
        lib.bce_grad_torch_aten_routed.restype = ctypes.c_int
        lib.bce_grad_torch_set_resolver(ctypes.cast(_resolver, ctypes.c_void_p))
        _library.append(lib)
        return lib


def set_package(package: str | os.PathLike | None = None, *, soc: str | None = None) -> None:
    """Choose the kernel package (None: the runtime's default for ``soc``); the next call opens it.

    Packages opened before stay open (a call in flight may use one).
    """
    with _lock:
        _choice["package"] = None if package is None else os.fspath(package)
        _choice["soc"] = soc
    load().bce_grad_torch_set_resolver(ctypes.cast(_resolver, ctypes.c_void_p))


def route_aten(on: bool) -> None:
    """Route aten's CPU ``binary_cross_entropy_backward`` to this kernel (True) or back (False)."""
    message = ctypes.create_string_buffer(2048)
    if load().bce_grad_torch_route_aten(int(bool(on)), message, len(message)) != 0:
        raise RuntimeError(f"[E61001] In op[binary_cross_entropy_grad], routing aten's "
                           f"binary_cross_entropy_backward failed: {message.value.decode()}")


def aten_routed() -> bool:
    """Whether aten's CPU ``binary_cross_entropy_backward`` runs this kernel now."""
    return bool(load().bce_grad_torch_aten_routed())
