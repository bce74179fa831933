"""Load the operator library into torch and hand its C++ kernel the kernel package.

:func:`load` builds (first use) and loads ``libbce_grad_torch`` (``torch.ops.load_library``: its
``TORCH_LIBRARY`` block defines ``bce_grad::binary_cross_entropy_backward``) and installs the
package resolver of :class:`bce_grad.runtime.adapter.PackageChoice`, which the C++ kernel calls on
its first call in the process; later calls run no Python.

Which package: the one given to :func:`set_package`, else
``bce_grad.runtime.packages.ready_package(soc)``, else one that compiles each kernel on the first
call that needs it (:class:`~bce_grad.runtime.adapter.PackageChoice`).
"""
from __future__ import annotations

import ctypes
import os

from bce_grad.runtime.adapter import PackageChoice

_packages = PackageChoice()
_library: list[ctypes.CDLL] = []


def runtime():
    """The opened :class:`bce_grad.runtime.Runtime` of the chosen package (opened once)."""
    return _packages.runtime()


def load() -> ctypes.CDLL:
    """Build if needed, load into torch, install the resolver (once per process)."""
    with _packages.lock:
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
        lib.bce_grad_torch_set_resolver(_packages.resolver_address)
        _library.append(lib)
        return lib


def set_package(package: str | os.PathLike | None = None, *, soc: str | None = None) -> None:
    """Choose the kernel package (None: the runtime's default for ``soc``); the next call opens it.

    Packages opened before stay open (a call in flight may use one).
    """
    _packages.choose(package, soc)
    load().bce_grad_torch_set_resolver(_packages.resolver_address)


def route_aten(on: bool) -> None:
    """Route aten's CPU ``binary_cross_entropy_backward`` to this kernel (True) or back (False)."""
    message = ctypes.create_string_buffer(2048)
    if load().bce_grad_torch_route_aten(int(bool(on)), message, len(message)) != 0:
        raise RuntimeError(f"[E61001] In op[binary_cross_entropy_grad], routing aten's "
                           f"binary_cross_entropy_backward failed: {message.value.decode()}")


def aten_routed() -> bool:
    """Whether aten's CPU ``binary_cross_entropy_backward`` runs this kernel now."""
    return bool(load().bce_grad_torch_aten_routed())
