"""ctypes binding of the native runtime's C ABI (``include/bce_grad_runtime.h``) on numpy arrays.

Arrays travel without a copy: each becomes a DLTensor that points at the array's memory
(strides in elements when it is not C-contiguous; the runtime copies such inputs). bfloat16
arrays (``ml_dtypes.bfloat16``) carry DLPack's bfloat code. ctypes releases the GIL during the
call, so threads run calls in parallel.
"""
from __future__ import annotations

import ctypes
import functools
import json
import re
import threading
from pathlib import Path
from typing import Any, Callable, Sequence

import ml_dtypes
import numpy as np

from bce_grad.array_checks import check_out, native_inputs
from bce_grad.host_backend.errors import OpError, OpTypeError, OpValueError
from bce_grad.op_support import MAX_RANK, OP_NAME, REDUCTION_ENUM, normalize_reduction

#: aclnn's reduction enum by name, as the C header's bce_grad_reduction (generated from it).
REDUCTIONS = {name: value for value, name in REDUCTION_ENUM.items()}
OPEN_EAGER = 1
#: The C ABI this binding speaks: the header's BCE_GRAD_RUNTIME_ABI_VERSION (its one home).
ABI_VERSION = int(re.search(r"^#define BCE_GRAD_RUNTIME_ABI_VERSION (\d+)$",
                            (Path(__file__).parent / "include" / "bce_grad_runtime.h").read_text(),
                            re.M).group(1))
#: bce_grad_status values.
OK, ERR_ARGUMENT, ERR_NO_KERNEL, ERR_PACKAGE, ERR_LAUNCH, ERR_INTERNAL = range(6)
_MESSAGE = re.compile(r"^\[(?P<code>E\d+)\] (?:In op\[(?P<op>[^\]]*)\], )?(?P<detail>.*)$", re.S)
#: Where a message names its parameter, in the words the Python API's errors use (E80029 names
#: the input that does not broadcast to x second, as CannRuntimeError's param_name picks it).
_PARAM = re.compile(r"inputs\[[^\]]*\]\[(?P<pair>\w+)\]|(?:parameter|input/output|dim value)"
                    r"\[(?P<one>\w+)\]")


class KernelNotInPackage(OpError):
    """The package has no kernel for the call's dtypes and broadcast pattern (E61001).

    An adapter can catch it and fall back to the compiling path (``bce_grad.api``).
    """


class DLDevice(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int32), ("device_id", ctypes.c_int32)]


class DLDataType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16)]


class DLTensor(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("device", DLDevice), ("ndim", ctypes.c_int32),
                ("dtype", DLDataType), ("shape", ctypes.POINTER(ctypes.c_int64)),
                ("strides", ctypes.POINTER(ctypes.c_int64)), ("byte_offset", ctypes.c_uint64)]


_CPU = DLDevice(1, 0)
_KIND_CODES = {"f": 2, "i": 0, "u": 1, "b": 6, "c": 5}


@functools.lru_cache(maxsize=64)
def _dl_dtype(dtype: np.dtype) -> tuple[int, int, int]:
    if dtype == np.dtype(ml_dtypes.bfloat16):
        return (4, 16, 1)
    code = _KIND_CODES.get(dtype.kind)
    if code is None:
        raise OpTypeError("E80008", f"arrays of dtype [{dtype}] cannot be passed to the native "
                          f"runtime", "binary_cross_entropy_grad", "dtype")
    return (code, dtype.itemsize * 8, 1)


def _error(status: int, message: str) -> OpError:
    match = _MESSAGE.match(message)
    code, op, detail = (match.group("code"), match.group("op") or "", match.group("detail")) \
        if match else ("E61001", "", message)
    named = _PARAM.search(detail)
    param = (named.group("pair") or named.group("one")) if named else ""
    if status == ERR_NO_KERNEL:
        return KernelNotInPackage(code, detail, op, param)
    if status == ERR_ARGUMENT:
        kind = OpTypeError if code == "E80001" else OpValueError
        return kind(code, detail, op, param)
    return OpError(code, detail, op, param)


@functools.lru_cache(maxsize=None)
def load_library(path: str | None = None) -> ctypes.CDLL:
    """Open the runtime library (built on first use, see :mod:`bce_grad.runtime.build`).

    The cached library is checked against the SHA-256 recorded when it was built; one the
    dynamic linker still refuses is removed and rebuilt once, with one warning.
    """
    if path is not None:
        return _bind(_open(path))
    from bce_grad.host_backend import runtime_lib
    from bce_grad.runtime import build

    runtime_lib.load_runtime()  # the libtvm_runtime.so the host backend uses: one copy per process
    path = str(build.library_path())
    try:
        lib = ctypes.CDLL(path)
    except OSError as err:
        if build.cache_root() not in Path(path).parents:  # not ours to rebuild
            raise _unloadable(path, err) from None
        import warnings

        from bce_grad.cache_root import UnverifiedLibraryWarning

        warnings.warn(f"bce_grad: the native runtime {path} cannot be loaded ({err}); rebuilding "
                      f"it", UnverifiedLibraryWarning, stacklevel=2)
        build.discard(Path(path))
        path = str(build.library_path())
        lib = _open(path)
    return _bind(lib)


def _unloadable(path: str, err: OSError) -> OpError:
    return OpError("E61001", f"the native runtime {path} cannot be loaded ({err}); remove it (or "
                   f"run `bce-grad cache clear`) to rebuild it")


def _open(path: str) -> ctypes.CDLL:
    try:
        return ctypes.CDLL(path)
    except OSError as err:
        raise _unloadable(path, err) from None


#: ``int miss(void* ctx, const char* need_json, char* message, size_t size)``
#: (``bce_grad_miss_fn``).
MISS_HANDLER = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p,
                                ctypes.c_size_t)


def _bind(lib: ctypes.CDLL) -> ctypes.CDLL:
    """Declare the C ABI's signatures on an opened runtime library."""
    path = lib._name
    lib.bce_grad_abi_version.restype = ctypes.c_int
    if lib.bce_grad_abi_version() != ABI_VERSION:
        raise OpError("E61001", f"the native runtime {path} speaks ABI {lib.bce_grad_abi_version()}, "
                      f"this binding ABI {ABI_VERSION}; delete it to rebuild")
    ptr = ctypes.c_void_p
    lib.bce_grad_package_open.argtypes = [ctypes.c_char_p, ctypes.c_uint, ctypes.POINTER(ptr)]
    lib.bce_grad_package_open_text.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_uint,
                                               ctypes.POINTER(ptr)]
    lib.bce_grad_package_add_kernel.argtypes = [ptr, ctypes.c_char_p]
    lib.bce_grad_package_close.argtypes = [ptr]
    lib.bce_grad_package_close.restype = None
    lib.bce_grad_package_soc.argtypes = [ptr]
    lib.bce_grad_package_soc.restype = ctypes.c_char_p
    lib.bce_grad_package_kernel_count.argtypes = [ptr]
    tensor = ctypes.POINTER(DLTensor)
    lib.bce_grad_backward.argtypes = [ptr, tensor, tensor, tensor, tensor, ctypes.c_int, tensor]
    lib.bce_grad_backward_on.argtypes = [ptr, tensor, tensor, tensor, tensor, ctypes.c_int, tensor,
                                         ptr]
    lib.bce_grad_adopt_kernel.argtypes = [ctypes.c_char_p]
    lib.bce_grad_package_set_miss_handler.argtypes = [ptr, MISS_HANDLER, ptr]
    lib.bce_grad_pool_size.restype = ctypes.c_int
    lib.bce_grad_tiling.argtypes = [
        ctypes.c_int, ctypes.POINTER(ctypes.c_int32), ctypes.POINTER(ctypes.POINTER(ctypes.c_int64)),
        ctypes.c_int, ctypes.POINTER(ctypes.c_int32), ctypes.POINTER(ctypes.c_int64),
        ctypes.POINTER(ctypes.c_double), ctypes.POINTER(ctypes.c_int32)]
    lib.bce_grad_last_error.restype = ctypes.c_char_p
    return lib


def _check(lib: ctypes.CDLL, status: int) -> None:
    if status != OK:
        raise _error(status, lib.bce_grad_last_error().decode(errors="replace"))


def to_dltensor(array: np.ndarray) -> tuple[DLTensor, Any]:
    """A DLTensor viewing ``array`` (no copy), and the ctypes objects it points into (keep them)."""
    code, bits, lanes = _dl_dtype(array.dtype)
    shape = (ctypes.c_int64 * max(array.ndim, 1))(*array.shape)
    strides = None
    if not array.flags.c_contiguous:
        item = array.itemsize
        if any(s % item for s in array.strides):  # not a whole number of elements: copy it
            array = np.ascontiguousarray(array)
        else:
            strides = (ctypes.c_int64 * max(array.ndim, 1))(*(s // item for s in array.strides))
    data = array.__array_interface__["data"][0]
    tensor = DLTensor(data, _CPU, array.ndim, DLDataType(code, bits, lanes), shape, strides, 0)
    return tensor, (shape, strides, array)


def tiling(shapes: Sequence[Sequence[int]], reduction: str | int = "mean",
           lib: ctypes.CDLL | None = None) -> tuple[list[tuple[int, ...]], float | None]:
    """The native host tiling: (canonical pattern, mean coefficient or None).

    The C++ twin of ``canonical_pattern`` plus the operator's ``cof`` tiling, for tests.
    """
    lib = lib or load_library()
    n = len(shapes)
    ndims = (ctypes.c_int32 * n)(*[len(s) for s in shapes])
    arrays = [(ctypes.c_int64 * max(len(s), 1))(*s) for s in shapes]
    ptrs = (ctypes.POINTER(ctypes.c_int64) * n)(*[ctypes.cast(a, ctypes.POINTER(ctypes.c_int64))
                                                  for a in arrays])
    rank, has_cof = ctypes.c_int32(), ctypes.c_int32()
    pattern = (ctypes.c_int64 * (n * MAX_RANK))()
    cof = ctypes.c_double()
    red = REDUCTIONS.get(reduction, reduction) if isinstance(reduction, str) else reduction
    _check(lib, lib.bce_grad_tiling(n, ndims, ptrs, int(red), ctypes.byref(rank), pattern,
                                    ctypes.byref(cof), ctypes.byref(has_cof)))
    canon = [tuple(pattern[i * MAX_RANK:i * MAX_RANK + rank.value]) for i in range(n)]
    return canon, (cof.value if has_cof.value else None)


def report_to_c(err: BaseException, doing: str, message: int, size: int) -> int:
    """Write ``err`` as a CANN-coded text into a C callback's ``message`` buffer (``size`` bytes,
    NUL-terminated, truncated); returns 1, the callback's failure status. An :class:`OpError`
    keeps its own text; anything else becomes E61001 saying what failed (``doing``)."""
    text = str(err) if isinstance(err, OpError) else \
        f"[E61001] In op[{OP_NAME}], {doing} failed: {type(err).__name__}: {err}"
    data = text.encode(errors="replace")[:max(int(size), 1) - 1]
    ctypes.memmove(message, data + b"\0", len(data) + 1)
    return 1


#: Per thread: whether a miss handler was interrupted (Ctrl-C) since :func:`take_interrupt`.
_interrupted = threading.local()


def take_interrupt() -> bool:
    """Whether a miss handler on this thread was stopped by ``KeyboardInterrupt`` since the last
    ask (the C call it served then failed): a Python caller re-raises it (cleared here)."""
    pending = getattr(_interrupted, "pending", False)
    _interrupted.pending = False
    return pending


class Runtime:
    """A kernel package opened in the native runtime.

    Parameters
    ----------
    package_dir : str or Path
        A directory written by ``bce-grad aot`` (``manifest.json`` plus kernels).
    eager : bool
        Verify and load every kernel now, instead of on its first use.
    library : str, optional
        Path of a built runtime library; default: build or reuse the cached one.

    Raises
    ------
    OpError
        E61001 when the package is unreadable, or (eager) a kernel is damaged.
    """

    def __init__(self, package_dir: str | Path | None, *, eager: bool = False,
                 library: str | None = None, manifest: dict | None = None) -> None:
        self._lib = load_library(library)
        self.package_dir = Path(package_dir) if package_dir is not None else None
        handle = ctypes.c_void_p()
        flags = OPEN_EAGER if eager else 0
        if manifest is not None:
            _check(self._lib, self._lib.bce_grad_package_open_text(
                json.dumps(manifest).encode(), str(package_dir or "").encode(), flags,
                ctypes.byref(handle)))
        else:
            _check(self._lib, self._lib.bce_grad_package_open(
                str(self.package_dir).encode(), flags, ctypes.byref(handle)))
        self._handle = handle
        self._lock = threading.Lock()

    @classmethod
    def in_memory(cls, manifest: dict, *, library: str | None = None) -> "Runtime":
        """A package from a manifest ``dict`` (kernels may be empty): add kernels with
        :meth:`add_kernel` as they are built (the numpy API does, over its kernel cache)."""
        return cls(None, library=library, manifest=manifest)

    def add_kernel(self, entry: dict) -> None:
        """Add or replace one kernel: a manifest entry with absolute ``so`` / ``json`` paths
        (plus ``watch`` and ``lock``, see ``bce_grad_package_add_kernel``); loaded now."""
        _check(self._lib, self._lib.bce_grad_package_add_kernel(
            self._handle, json.dumps(entry).encode()))

    def set_miss_handler(self, handler: Callable[[dict], None] | None) -> None:
        """Have a call that no kernel serves ask ``handler`` first (None: no handler).

        ``handler(need)`` gets the call's needs (``bce_grad_miss_fn``'s JSON: ``inputs``,
        ``dtypes``, ``output``, ``reduction`` and the canonical ``shapes``) on the calling
        thread and adds a kernel that serves them (:meth:`add_kernel`); the call then looks
        again. An exception fails the call with ``ERR_NO_KERNEL`` and the exception's text (an
        :class:`OpError`'s as it is). Set it before other threads use this runtime.
        """
        def miss(ctx, need, message, size):
            try:
                handler(json.loads(need))
                return 0
            except BaseException as err:  # noqa: BLE001 - nothing may cross the C boundary
                if isinstance(err, KeyboardInterrupt):
                    _interrupted.pending = True  # for the adapter's Python caller to re-raise
                return report_to_c(err, "building the kernel the call needs", message, size)

        self._miss = MISS_HANDLER() if handler is None else MISS_HANDLER(miss)  # C holds it
        _check(self._lib, self._lib.bce_grad_package_set_miss_handler(
            self._handle, self._miss, None))

    @property
    def soc_version(self) -> str:
        return self._lib.bce_grad_package_soc(self._handle).decode()

    @property
    def kernel_count(self) -> int:
        return int(self._lib.bce_grad_package_kernel_count(self._handle))

    def close(self) -> None:
        """Release the package (call it when no other thread uses this runtime)."""
        with self._lock:
            if self._handle:
                self._lib.bce_grad_package_close(self._handle)
                self._handle = ctypes.c_void_p()

    def __enter__(self) -> "Runtime":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        if getattr(self, "_handle", None):
            self.close()

    def backward(self, grad_output: np.ndarray | float, x: np.ndarray, y: np.ndarray,
                 weight: np.ndarray | float | None = None, reduction: str | int = "mean",
                 out: np.ndarray | None = None, out_dtype: Any = None) -> np.ndarray:
        """Gradient of binary cross entropy with respect to ``x`` (``bce_grad_backward``).

        Arguments as :func:`bce_grad.api.binary_cross_entropy_backward`; ``out`` (C-contiguous,
        writeable, native byte order, x's shape, the result dtype) receives the result, else a
        new array of the promoted dtype (or ``out_dtype``) does. Inputs in a non-native byte
        order are converted (:mod:`bce_grad.array_checks`, as the numpy API does). Errors are
        :class:`OpError` (``OpValueError`` for a bad call, E80000 naming ``out`` for a read-only
        or byte-swapped one, :class:`KernelNotInPackage` for a pattern the package lacks).
        """
        red = REDUCTIONS[normalize_reduction(reduction)]
        arrays = [grad_output, x, y, weight]
        if not all(type(a) is np.ndarray for a in arrays[:3]) or \
                (weight is not None and type(weight) is not np.ndarray):
            arrays = _as_arrays(arrays)
        arrays = native_inputs(arrays)
        if out is not None:
            check_out(out)
        dtype = arrays[1].dtype if isinstance(arrays[1], np.ndarray) else None
        if out is None and dtype is not None:
            same = all(a is None or a.dtype == dtype for a in arrays)
            result = dtype if same and out_dtype is None else \
                _np_dtype(out_dtype or _promote(arrays))
            out = np.empty(arrays[1].shape, dtype=result)
        held: list = []
        pointers = [None if a is None else _tensor_pointer(a, held) for a in (*arrays, out)]
        status = self._call(self._handle, *pointers[:4], int(red), pointers[4])
        if status != OK:
            _check(self._lib, status)
        return out

    @functools.cached_property
    def _call(self):
        """``bce_grad_backward`` taking DLTensor addresses as integers (a private prototype)."""
        func = self._lib["bce_grad_backward"]
        ptr = ctypes.c_void_p
        func.argtypes = [ptr, ptr, ptr, ptr, ptr, ctypes.c_int, ptr]
        return func


_get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
_get_pointer.restype = ctypes.c_void_p
_get_pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
#: Where DLTensor starts in DLPack 1.x's DLManagedTensorVersioned (version, ctx, deleter, flags).
_VERSIONED_OFFSET = 32
#: Where DLDataType.code sits in a DLTensor (data, device, ndim).
_DTYPE_CODE_OFFSET = 20
_BF16 = np.dtype(ml_dtypes.bfloat16)


def _tensor_pointer(array: Any, held: list) -> int:
    """Address of a DLTensor viewing ``array`` without a copy; ``held`` keeps its owners alive.

    numpy exports a DLPack 1.x capsule (read-only arrays included) in C; bfloat16 travels as
    its uint16 view with the dtype code set to kDLBfloat. Arrays numpy cannot export go
    through a ctypes-built DLTensor, so that the runtime's own checks name them.
    """
    if not isinstance(array, np.ndarray):  # subclasses (np.memmap) export DLPack too
        raise OpTypeError("E80000", f"arguments should be numpy arrays, but one is of type "
                          f"[{type(array).__name__}]", "binary_cross_entropy_grad")
    bf16 = array.dtype == _BF16
    try:
        capsule = (array.view(np.uint16) if bf16 else array).__dlpack__(max_version=(1, 0))
    except (BufferError, TypeError, ValueError):
        tensor, owners = to_dltensor(array)
        held.append((tensor, owners))
        return ctypes.addressof(tensor)
    held.append(capsule)
    address = _get_pointer(capsule, b"dltensor_versioned") + _VERSIONED_OFFSET
    if bf16:
        ctypes.memset(address + _DTYPE_CODE_OFFSET, 4, 1)  # kDLBfloat
    return address


def _as_arrays(values: list) -> list:
    """Arrays for the call: Python scalars become 0-d arrays of the promoted dtype, as in the API."""
    arrays = [v if v is None or isinstance(v, np.ndarray) or
              (isinstance(v, (int, float)) and not isinstance(v, bool)) else np.asarray(v)
              for v in values]
    promoted = _promote(arrays)
    return [np.array(a, dtype=_np_dtype(promoted)) if isinstance(a, (int, float)) else a
            for a in arrays]


def _promote(arrays: list) -> str:
    typed = [a for a in arrays if isinstance(a, np.ndarray)]
    names = {str(a.dtype) for a in typed}
    if len(names) == 1:
        return names.pop()
    if not typed:
        return "float32"
    from bce_grad._impl.binary_cross_entropy_grad import promote_dtypes

    return promote_dtypes(str(a.dtype) for a in typed)


def _np_dtype(name: Any) -> np.dtype:
    if isinstance(name, str) and name == "bfloat16":
        return np.dtype(ml_dtypes.bfloat16)
    return np.dtype(name).newbyteorder("=")  # the runtime writes native numbers
