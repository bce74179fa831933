"""TVM's runtime without TVM's compiler: load built kernels in a few milliseconds.

Importing the ``tvm`` package loads its compiler (about 1.5 s). A built kernel needs
only TVM's FFI (``tvm_ffi``) and ``libtvm_runtime.so``, whose symbols (such as
``__TVMBackendParallelLaunch``) the kernel's ``.so`` resolves when it is opened. So the
launch path loads ``libtvm_runtime.so`` from the installed ``tvm`` package with
``RTLD_GLOBAL`` (the same file and mode ``tvm`` itself uses, so a later ``import tvm``
shares it) and opens kernels with ``tvm_ffi.load_module``. Only a cache miss imports
``tvm``, to compile.
"""
from __future__ import annotations

import ctypes
import functools
import importlib.util
import os
import sys
from pathlib import Path

from bce_grad.host_backend.errors import OpError


@functools.lru_cache(maxsize=None)
def runtime_library_path() -> Path:
    """``libtvm_runtime.so`` of the installed ``tvm`` package (found without importing it)."""
    spec = importlib.util.find_spec("tvm")
    if spec is None or not spec.submodule_search_locations:
        raise OpError("E61001", "the Apache TVM package (apache-tvm) is not installed; the host "
                      "backend needs its runtime to run kernels", param_name="tvm")
    return Path(list(spec.submodule_search_locations)[0]) / "lib" / "libtvm_runtime.so"


#: ``tvm::runtime::threading::ResetThreadPool()``: forgets the calling thread's TVM pool.
_RESET_THREAD_POOL = "_ZN3tvm7runtime9threading15ResetThreadPoolEv"


@functools.lru_cache(maxsize=None)
def load_runtime() -> ctypes.CDLL:
    """Open ``libtvm_runtime.so`` with ``RTLD_GLOBAL`` (once; dlopen shares it with ``tvm``).

    A fork()ed child resets TVM's own thread pool, whose workers do not survive fork: only a
    kernel that could not be adopted (:func:`load_module`) still launches on it.
    """
    import tvm_ffi  # noqa: F401  (loads libtvm_ffi.so, which libtvm_runtime.so links to)

    lib = ctypes.CDLL(str(runtime_library_path()), mode=ctypes.RTLD_GLOBAL)
    reset = getattr(lib, _RESET_THREAD_POOL, None)
    if reset is not None:
        os.register_at_fork(after_in_child=reset)
    return lib


def load_module(path: str | os.PathLike):
    """Open a kernel ``.so`` built by ``build``; returns a ``tvm_ffi.Module``.

    The kernel's parallel loops are then pointed at the native runtime's process-wide pool
    (``bce_grad_adopt_kernel``) instead of TVM's pool per calling thread; where the runtime
    cannot be built (no compiler), they stay on TVM's.
    """
    if "tvm" in sys.modules:  # the compiler is loaded already: use its loader
        module = sys.modules["tvm"].runtime.load_module(str(path))
    else:
        load_runtime()
        import tvm_ffi  # this package's __init__ installed the import guard: no torch

        module = tvm_ffi.load_module(str(path))
    _adopt(path)
    return module


def _adopt(path: str | os.PathLike) -> None:
    """Hand the loaded kernel at ``path`` to the native runtime's pools (see :func:`load_module`).

    The native runtime is the product's (``bce_grad.runtime.native``), not the backend's: the
    backend does not import it, it uses it where this process has imported it (the numpy API,
    the runtime and the adapters do, before they load a kernel). The backend alone (CANN's own
    operators' UT cases, ``bce-grad build``) keeps TVM's pools.
    """
    native = sys.modules.get("bce_grad.runtime.native")
    if native is None:
        return
    try:
        lib = native.load_library()
    except OpError:
        return
    if lib.bce_grad_adopt_kernel(os.fsencode(os.fspath(path))) != 0:
        raise OpError("E61001", lib.bce_grad_last_error().decode(), param_name="so_path")


@functools.lru_cache(maxsize=None)
def _create_view():
    load_runtime()
    import tvm_ffi

    return tvm_ffi.get_global_func("runtime.TVMTensorCreateView")


@functools.lru_cache(maxsize=None)
def _dtype(name: str):
    import tvm_ffi

    return tvm_ffi.dtype(name)


def retyped_view(tensor, shape: tuple[int, ...], dtype: str):
    """A view of ``tensor`` (a ``tvm_ffi.Tensor``) with another shape and dtype, no copy.

    The shape goes as a plain tuple and the dtype as a cached ``tvm_ffi.dtype``: building a
    ``tvm_ffi.Shape`` and parsing the dtype's name took 7 of this call's 8.7 µs, paid per
    bfloat16 tensor of every launch.
    """
    return _create_view()(tensor, tuple(shape), _dtype(dtype), 0)


@functools.lru_cache(maxsize=None)
def cuda_device_count() -> int:
    """How many CUDA devices the driver reports; 0 without a driver (no ``tvm`` import)."""
    try:
        cuda = ctypes.CDLL("libcuda.so.1")
    except OSError:
        return 0
    count = ctypes.c_int(0)
    if cuda.cuInit(0) != 0 or cuda.cuDeviceGetCount(ctypes.byref(count)) != 0:
        return 0
    return int(count.value)
