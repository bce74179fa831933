"""The numpy API's package: an in-memory runtime package over the kernel cache.

``bce_grad.api`` compiles kernels on demand into the kernel cache (verified, self-healing,
bounded; :mod:`bce_grad.kernel_cache`). This module registers each kernel the cache
hands out in a native runtime package (``bce_grad_package_add_kernel``) so that later calls
go straight to ``bce_grad_backward``: no kernel key, no file reads, no Python launch.

What the Python path checks on every call, the runtime keeps checking:

- the kernel's files: a registered kernel is *watched* (the runtime compares its ``.json``
  and ``.so`` with the files it loaded, and touches ``<key>.lock`` for LRU order), so a
  damaged, replaced or evicted kernel sends the call back to the cache, which warns and
  rebuilds as before;
- the environment: the package records the variables a kernel choice depends on
  (:data:`ENVIRONMENT`), and a call made after one changed goes back to the Python path.

A binary wheel's shipped package (:mod:`bce_grad.runtime.prebuilt`) serves what the cache's
kernels do not, where it serves the SoC and environment: a first call compiles nothing.
Any call neither serves (a new pattern, a changed file, an argument error)
returns None here, and the API takes its full Python path, which raises the Python
API's own errors. Without a C++ compiler the package is unavailable: the API warns once
(:class:`RuntimeUnavailableWarning`) and launches through Python as before.
"""
from __future__ import annotations

import threading
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from bce_grad.host_backend import platform, targets
from bce_grad.host_backend.errors import OpError
from bce_grad.op_support import REDUCTION_ENUM
from bce_grad.runtime import native

#: Variables whose value decides which kernel (or error) a call gets.
ENVIRONMENT = (platform.SOC_ENV, platform.TARGET_ENV, targets.MCPU_ENV, "BCE_GRAD_CACHE",
               "XDG_CACHE_HOME", "HOME")
#: a reduction's name or aclnn enum value -> the enum value (``bce_grad.op_support``).
_REDUCTIONS = {**{name: value for value, name in REDUCTION_ENUM.items()},
               **{value: value for value in REDUCTION_ENUM}}
_FLOATS = frozenset(np.dtype(d) for d in ("float16", "float32")) | {native._BF16}
_lock = threading.Lock()
#: Python numbers a call may pass for grad_output or weight (bool is refused on the checked path).
_NUMBERS = (float, int)


def _scalar(value: float | int, dtype: np.dtype) -> np.ndarray | None:
    """``value`` as a 0-d array of ``dtype`` (None when it does not fit: the checked path says so)."""
    try:
        return np.array(value, dtype=dtype)
    except OverflowError:
        return None
#: (soc argument, SoC selected in the context) -> the package serving that choice.
_packages: dict[tuple, "CachePackage"] = {}
_unavailable: list[str] = []


class RuntimeUnavailableWarning(RuntimeWarning):
    """The native runtime cannot be built here; the API launches through Python (slower)."""


class CachePackage:
    """A runtime package for one SoC and environment, filled from the kernel cache."""

    def __init__(self, soc_version: str, environment: dict[str, str | None]) -> None:
        from bce_grad.host_backend.soc_table import soc_info
        from bce_grad.runtime.kernel_set import FORMAT, FORMAT_VERSION, op_info_dtypes
        from bce_grad import kernel_cache

        info = soc_info(soc_version)
        self.soc_version = info.soc_version
        self.environment = environment
        manifest = {
            "format": FORMAT, "format_version": FORMAT_VERSION, "op_type": "BinaryCrossEntropyGrad",
            "soc_version": info.soc_version, "short_soc_version": info.short_soc_version,
            "soc_dir": info.short_soc_version.lower(), "target": {"kind": "llvm"},
            "tvm_version": kernel_cache.tvm_version(), "op_info": op_info_dtypes(info.soc_version),
            "environment": environment, "kernels": [],
        }
        self.runtime = native.Runtime.in_memory(manifest)
        self._call = self.runtime._call
        self._handle = self.runtime._handle
        from bce_grad.runtime import prebuilt
        from bce_grad.runtime.packages import shipped_package

        shipped = shipped_package(info.soc_version)
        #: A binary wheel's package, asked when the cache's kernels do not serve a call; it
        #: checks the same environment, so a call made after a change goes back to Python.
        self.shipped = None if shipped is None else \
            native.Runtime(shipped, manifest=prebuilt.manifest_with_environment(shipped, environment))

    def _launch(self, *pointers: Any) -> int:
        """``bce_grad_backward`` on the cache's kernels, else on the shipped package's."""
        status = self._call(self._handle, *pointers)
        if status == native.ERR_NO_KERNEL and self.shipped is not None:
            status = self.shipped._call(self.shipped._handle, *pointers)
        return status

    def register(self, json_path: Path, meta: dict, dtypes: list[str], out_dtype: str,
                 reduction: str, pattern: list[tuple[int, ...]]) -> None:
        """Add the kernel-cache kernel at ``json_path`` (already verified by the cache)."""
        key = "_".join("".join("1" if d == 1 else "d" for d in shape) for shape in pattern)
        self.runtime.add_kernel({
            "name": meta["name"], "so_sha256": meta["so_sha256"], "dtypes": dtypes,
            "output": out_dtype, "reduction": "mean" if reduction == "mean" else "plain",
            "pattern": key, "so": str(json_path.with_suffix(".so")), "json": str(json_path),
            "watch": True, "lock": str(json_path.with_suffix(".lock"))})

    def compile_on_miss(self) -> "CachePackage":
        """Serve every call: one that no kernel serves compiles its kernel into the kernel cache
        (:func:`bce_grad.kernel_cache.get_kernel`, which says so past a second), registers it
        and runs. The framework adapters' package where none is ready. Returns ``self``."""
        self.runtime.set_miss_handler(self._build_missing)
        return self

    def _build_missing(self, need: dict) -> None:
        """The miss handler: build and register the kernel of ``need`` (``bce_grad_miss_fn``)."""
        from bce_grad.host_backend.soc_table import soc_info
        from bce_grad import kernel_cache

        arrays = {name: np.broadcast_to(np.zeros((), native._np_dtype(dtype)), shape)
                  for name, dtype, shape in zip(need["inputs"], need["dtypes"], need["shapes"])}
        kernel, pattern = kernel_cache.get_kernel(arrays, need["output"], need["reduction"],
                                                  soc_info(self.soc_version))
        self.register(kernel.json_path, kernel.meta, list(need["dtypes"]), need["output"],
                      need["reduction"], pattern)

    def try_backward(self, grad_output: Any, x: Any, y: Any, weight: Any, reduction: Any,
                     out: Any) -> np.ndarray | None:
        """The result when the runtime serves this call as it stands, else None (no error)."""
        red = _REDUCTIONS.get(reduction) if type(reduction) in (str, int) else None
        if red is None or type(x) is not np.ndarray:
            return None
        dtype = x.dtype
        if dtype not in _FLOATS or type(y) is not np.ndarray or y.dtype != dtype:
            return None
        if type(grad_output) in _NUMBERS:  # a Python number: a 0-d array of the promoted dtype,
            grad_output = _scalar(grad_output, dtype)  # as the checked path makes it
        if type(weight) in _NUMBERS:
            weight = _scalar(weight, dtype)
        if type(grad_output) is not np.ndarray or grad_output.dtype != dtype:
            return None
        if weight is not None and (type(weight) is not np.ndarray or weight.dtype != dtype):
            return None
        if out is None:
            out = np.empty(x.shape, dtype)
        elif type(out) is not np.ndarray or out.dtype != dtype or not out.flags.writeable:
            return None
        held: list = []
        pointer = native._tensor_pointer
        status = self._launch(pointer(grad_output, held), pointer(x, held), pointer(y, held),
                              None if weight is None else pointer(weight, held), red,
                              pointer(out, held))
        return out if status == native.OK else None

    def backward(self, arrays: dict[str, np.ndarray], reduction: str, out: np.ndarray) -> int:
        """Run a checked call of the Python path (``arrays`` in the operator's order); returns
        the runtime's status (``native.OK`` when ``out`` holds the result)."""
        held: list = []
        pointer = native._tensor_pointer
        weight = arrays.get("weight")
        return self._launch(pointer(arrays["grad_output"], held), pointer(arrays["x"], held),
                            pointer(arrays["y"], held),
                            None if weight is None else pointer(weight, held),
                            _REDUCTIONS[reduction], pointer(out, held))


def _environment() -> dict[str, str | None]:
    import os

    return {name: os.environ.get(name) for name in ENVIRONMENT}


def context_key(soc: str | None) -> tuple:
    """What picks a package: the ``soc`` argument and the SoC selected in this context."""
    return (soc, platform.selected_soc())


def lookup(soc: str | None) -> CachePackage | None:
    """The package serving calls with this ``soc`` argument in this context (fast, may be stale:
    a stale one refuses calls, and the Python path then calls :func:`package_for`)."""
    return _packages.get((soc, platform.selected_soc()))


def package_for(key: tuple, soc_version: str) -> CachePackage | None:
    """The package for ``key`` (:func:`context_key`, taken before the call selects its SoC) and
    the current environment, made if needed; None when the runtime is unavailable (warned
    once) or the backend target is not the CPU."""
    if _unavailable or platform.backend_target() != "llvm":
        return None
    environment = _environment()
    found = _packages.get(key)
    if found is not None and found.environment == environment and found.soc_version == soc_version:
        return found
    with _lock:
        found = _packages.get(key)
        if found is not None and found.environment == environment and \
                found.soc_version == soc_version:
            return found
        if _unavailable:
            return None
        try:
            native.load_library()  # built from source on first use
        except OpError as err:
            if err.code == "E80000":  # a cache folder others can write: refused, not worked around
                raise
            _unavailable.append(err.detail)
            warnings.warn(f"bce_grad: the native runtime is unavailable ({err.detail}); calls "
                          f"launch through Python instead (slower per call)",
                          RuntimeUnavailableWarning, stacklevel=4)
            return None
        made = CachePackage(soc_version, environment)
        _packages[key] = made
        return made
