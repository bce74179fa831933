"""The native runtime of BinaryCrossEntropyGrad: check, tile and launch in C++, no Python per call.

    kernel package (``bce-grad aot``) -> bce_grad_package_open -> bce_grad_backward (C ABI)
                                                                 ^
                                  PyTorch / TF / MindSpore C++ adapters, or this ctypes binding

- ``include/bce_grad_runtime.h``: the C header and ABI.
- ``src/``: the C++ sources (tiling, package loading with SHA-256 checks, the ABI).
- :mod:`~bce_grad.runtime.build`: builds the library from source on first use (cached per
  sources, compiler and TVM version).
- :mod:`~bce_grad.runtime.native`: the ctypes binding, :class:`Runtime` on numpy arrays.
- :mod:`~bce_grad.runtime.kernel_set`: which kernels a package holds and how ``aot`` builds it.
- :mod:`~bce_grad.runtime.packages`: :func:`default_package` (``$BCE_GRAD_PACKAGE``, a wheel's
  shipped package, else built now under the cache; ``$BCE_GRAD_PACKAGE_SET``) and
  ``ready_package``, the one frameworks use when it exists (else they compile each kernel on the
  first call that needs it).

Example
-------
>>> from bce_grad.runtime import Runtime                      # doctest: +SKIP
>>> with Runtime("pkg") as rt:                                 # doctest: +SKIP
...     grad = rt.backward(g, x, y, w, reduction="mean")
"""
from __future__ import annotations

from bce_grad.runtime.native import KernelNotInPackage, Runtime, load_library, tiling
from bce_grad.runtime.packages import (
    PACKAGE_ENV, PACKAGE_SET_ENV, PACKAGE_SETS, default_package, package_kernel_set,
)

__all__ = ["KernelNotInPackage", "PACKAGE_ENV", "PACKAGE_SET_ENV", "PACKAGE_SETS", "Runtime",
           "default_package", "load_library", "package_kernel_set", "tiling"]
