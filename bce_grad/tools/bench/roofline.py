"""The roofline of ``bce-grad bench``: a C/OpenMP kernel that moves the op's bytes and no more.

``roofline.c`` computes ``out = x + y + grad_output [+ weight]`` elementwise with the op's
broadcast: each input is read once at its own (pre-broadcast) size through the same
broadcast pattern, and one output of x's shape and dtype is written once. float32 adds
floats; float16 and bfloat16 add the raw uint16 bits (wrapping), which touches every
byte as the op does, at a cost far below the memory's. Its time is what the memory
system allows for the op's traffic on this machine with the same thread count.

The kernel is built on first use with ``gcc -O3 -march=native -fopenmp`` (``$CC`` names
another compiler) into ``<kernel cache>/bench/roofline_<key>.so``, where the key hashes
the source, the flags, the compiler's version and this CPU's model and flags; the file
is written under a temporary name and renamed into place.
"""
from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import platform as _platform
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Mapping

import numpy as np

from bce_grad.host_backend.errors import OpError
from bce_grad.op_support import MAX_RANK as _MAX_RANK

SOURCE = Path(__file__).with_name("roofline.c")
FLAGS = ("-O3", "-march=native", "-fopenmp", "-shared", "-fPIC", "-std=gnu11")
#: The op's input order; the kernel takes them in this order.
INPUTS = ("x", "y", "grad_output", "weight")
_DTYPE_CODES = {"float32": 0, "float16": 1, "bfloat16": 1}


def compiler() -> str:
    """The C compiler: ``$CC`` or ``gcc``, as a path.

    Raises
    ------
    OpError
        E80000 naming ``CC`` when no such compiler is on PATH.
    """
    name = os.environ.get("CC", "").strip() or "gcc"
    path = shutil.which(name)
    if path is None:
        raise OpError("E80000", f"bce-grad bench builds its roofline kernel (bce_grad/tools/bench/roofline.c) "
                      f"with a C compiler that supports OpenMP, but [{name}] is not on PATH; "
                      f"install gcc or set the environment variable CC", param_name="CC")
    return path


def _cpu_identity() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return _platform.processor()
    keep = [line for line in text.splitlines() if line.startswith(("model name", "flags"))][:2]
    return "\n".join(keep)


def build_key(cc: str) -> str:
    """Hash of everything that shapes the built kernel: source, flags, compiler, CPU."""
    version = subprocess.run([cc, "--version"], capture_output=True, text=True, check=False).stdout
    digest = hashlib.sha256(SOURCE.read_bytes())
    for part in (" ".join(FLAGS), version, _platform.machine(), _cpu_identity()):
        digest.update(b"\0" + part.encode())
    return digest.hexdigest()[:20]


def library_path(directory: Path | None = None) -> Path:
    """Where the built kernel lives (it may not exist yet)."""
    if directory is None:
        from bce_grad.kernel_cache import cache_dir

        directory = cache_dir() / "bench"
    return directory / f"roofline_{build_key(compiler())}.so"


def build(directory: Path | None = None) -> Path:
    """Build the kernel if it is not built yet, and return its path.

    Raises
    ------
    OpError
        E80000 when no compiler is found, or when it fails (its message is quoted).
    """
    cc = compiler()
    target = library_path(directory)
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.{os.getpid()}.", dir=target.parent)
    os.close(fd)
    try:
        done = subprocess.run([cc, *FLAGS, "-o", tmp, str(SOURCE)], capture_output=True, text=True,
                              check=False)
        if done.returncode != 0:
            raise OpError("E80000", f"bce-grad bench could not build its roofline kernel with "
                          f"[{cc} {' '.join(FLAGS)}]: {done.stderr.strip()[-600:]}",
                          param_name="CC")
        os.replace(tmp, target)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return target


@functools.lru_cache(maxsize=None)
def _library(path: str) -> ctypes.CDLL:
    lib = ctypes.CDLL(path)
    lib.bce_grad_roofline.restype = ctypes.c_int
    lib.bce_grad_roofline.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_void_p, ctypes.c_int,
                                      ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int]
    return lib


def _c_contiguous(array: np.ndarray) -> np.ndarray:
    """``array`` itself when C-contiguous, else a C copy (0-d arrays stay 0-d)."""
    array = np.asarray(array)
    return array if array.flags.c_contiguous else array.copy(order="C")


def collapse(shapes: list[tuple[int, ...]]) -> tuple[list[int], list[list[int]]]:
    """The broadcast pattern of ``shapes`` (x first) with adjacent dims of one pattern merged.

    Returns x's collapsed shape and, per input, its element strides over that shape
    (0 where the input is broadcast). Size-1 dims of x are dropped; a scalar x is ``[1]``.
    """
    rank = len(shapes[0])
    padded = [(1,) * (rank - len(s)) + tuple(s) for s in shapes]
    dims: list[int] = []
    flags: list[tuple[bool, ...]] = []
    for d, size in enumerate(padded[0]):
        if size == 1:
            continue
        full = tuple(s[d] == size for s in padded)
        if flags and flags[-1] == full:
            dims[-1] *= size
        else:
            dims.append(size)
            flags.append(full)
    if not dims:
        dims, flags = [1], [tuple(True for _ in shapes)]
    strides = []
    for k in range(len(shapes)):
        step, own = 1, [0] * len(dims)
        for d in reversed(range(len(dims))):
            if flags[d][k]:
                own[d] = step
                step *= dims[d]
        strides.append(own)
    return dims, strides


class Roofline:
    """The roofline kernel bound to one set of inputs and a preallocated output.

    Parameters
    ----------
    arrays : mapping of str to numpy.ndarray
        ``x``, ``y``, ``grad_output`` and optionally ``weight``, one dtype (float32,
        float16 or bfloat16); each broadcasts to x. Non-contiguous arrays are copied once.
    threads : int
        OpenMP threads of each call.
    """

    def __init__(self, arrays: Mapping[str, np.ndarray], threads: int,
                 library: Path | None = None) -> None:
        names = [n for n in INPUTS if n in arrays]
        dtypes = {str(arrays[n].dtype) for n in names}
        if len(dtypes) != 1 or next(iter(dtypes)) not in _DTYPE_CODES:
            raise OpError("E80008", f"the roofline kernel takes inputs of one dtype out of "
                          f"{list(_DTYPE_CODES)}, but got {sorted(dtypes)}", param_name="dtype")
        self.inputs = [_c_contiguous(arrays[n]) for n in names]
        dims, strides = collapse([a.shape for a in self.inputs])
        if len(dims) > _MAX_RANK:
            raise OpError("E80000", f"the roofline kernel takes up to {_MAX_RANK} collapsed dims, "
                          f"got {dims}", param_name="shape")
        self.out = np.empty(self.inputs[0].shape, self.inputs[0].dtype)
        self.threads = int(threads)
        self.nbytes = sum(a.nbytes for a in self.inputs) + self.out.nbytes
        self._dtype = _DTYPE_CODES[next(iter(dtypes))]
        self._shape = np.array(dims, np.int64)
        self._strides = np.array(strides, np.int64)
        self._ptrs = (ctypes.c_void_p * len(self.inputs))(*[a.ctypes.data for a in self.inputs])
        self._fn = _library(str(library or build())).bce_grad_roofline
        self._args = (self._dtype, len(dims), self._shape.ctypes.data, len(self.inputs),
                      ctypes.addressof(self._ptrs), self._strides.ctypes.data,
                      self.out.ctypes.data, self.threads)

    def __call__(self) -> np.ndarray:
        """Run once; returns the output array (the same one every call)."""
        if self._fn(*self._args) != 0:
            raise OpError("E80000", f"the roofline kernel refused shape {self._shape.tolist()}",
                          param_name="shape")
        return self.out

    def expected(self) -> np.ndarray:
        """What the kernel computes, in numpy: float32 adds, or wrapping uint16 adds of the bits."""
        if self._dtype == 0:
            result = self.inputs[0].copy()
            for a in self.inputs[1:]:
                result = result + a
            return result
        bits = [a.view(np.uint16) for a in self.inputs]
        result = bits[0].copy()
        for b in bits[1:]:
            result = result + b
        return result.view(self.inputs[0].dtype)
