"""Load a built kernel from ``kernel_meta`` and run it on numpy arrays.

A :class:`Kernel` reads the JSON that ``build`` wrote, reads the ``.so`` once, checks
those bytes against the SHA-256 the JSON records and opens a private copy of them with
TVM's runtime only (:mod:`~bce_grad.host_backend.runtime_lib`, no compiler import), so
no later change to the file can fault the process. On each call it takes the arrays with
their own shapes, picks the case that serves them and reshapes them for it
(:meth:`Kernel.bind`: exact shapes, else the canonical broadcast pattern, else the
elementwise case with broadcast inputs expanded), binds dynamic dims from the shapes,
and passes runtime scalars by name. On the CPU the
arrays are wrapped without copying (DLPack, any element-aligned address: kernels
are declared with element alignment, see :mod:`bce_grad.host_backend.schedule.alignment`).
bfloat16 arrays
(``ml_dtypes.bfloat16``) travel as uint16 views retyped on the TVM side. Read-only
arrays (``np.load(mmap_mode="r")``, ``np.frombuffer(bytes)``) travel through a
versioned DLPack capsule, which carries the read-only flag, also without a copy.

Two launch entries share the case selection:

- ``Kernel(arrays, scalars)`` takes numpy arrays. An ``llvm`` kernel reads and writes them
  in place; a ``cuda`` kernel (:meth:`Kernel._run_cuda`) **copies** every array to the
  GPU and the outputs back, synchronously.
- :meth:`Kernel.launch_tensors` takes tensors already wrapped for TVM (``tvm_ffi.Tensor``,
  e.g. from ``tvm_ffi.from_dlpack`` of a torch or CuPy array), on the CPU or a CUDA
  device, and never copies: reshaping for a case is a view. The API's DLPack path uses it
  for every device. :func:`empty` allocates on a device, :func:`to_device` copies a numpy
  array there; both work on the CPU device too, with the same code.

:func:`load_kernel` keeps loaded kernels per process, keyed by the files' identity
(path, inode, size, mtime), so a kernel rebuilt at the same path is loaded afresh.
"""
from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import tempfile
import threading
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from bce_grad.host_backend import runtime_lib
from bce_grad.host_backend.dsl.classify import UNKNOWN_DIM, canonical_pattern
from bce_grad.host_backend.errors import OpError

#: Loaded kernels by (json path, json identity, .so identity); a cache keyed by content.
_loaded: dict[tuple, "Kernel"] = {}
_lock = threading.Lock()
_DLPACK_VERSION = (1, 0)
#: DLPack device type of the tensors a kernel of each target runs on (kDLCPU, kDLCUDA).
_DEVICE_TYPES = {"llvm": 1, "cuda": 2}
_DEVICE_NAMES = {1: "CPU", 2: "CUDA"}
#: Shape combinations a :class:`Kernel` remembers its case for; past that it starts over.
SELECT_MEMO = 256


@functools.lru_cache(maxsize=64)
def _dtype_name(dtype: np.dtype) -> str:
    """``str(dtype)``, remembered per dtype: numpy builds the name in Python (about 4 us a
    call, 18 of the 39 us a (4, 4) launch of four arrays took)."""
    return str(dtype)


def _from_dlpack(array: np.ndarray):
    import tvm_ffi

    if array.flags.writeable:
        return tvm_ffi.from_dlpack(array, require_alignment=0)
    # DLPack 0.x cannot say "read-only"; the versioned capsule can, and the kernel only reads it
    return tvm_ffi.from_dlpack(array.__dlpack__(max_version=_DLPACK_VERSION), require_alignment=0)


def host_tensor(array: np.ndarray, dtype: str):
    """Wrap a C-contiguous numpy array of ``dtype`` for a kernel, without a copy (bfloat16 as a
    uint16 view retyped on the TVM side)."""
    if dtype == "bfloat16":
        return runtime_lib.retyped_view(_from_dlpack(array.view(np.uint16)), array.shape, "bfloat16")
    return _from_dlpack(array)


def _global(name: str):
    runtime_lib.load_runtime()
    import tvm_ffi

    return tvm_ffi.get_global_func(name)


def empty(shape: Sequence[int], dtype: str, device):
    """A new, uninitialised ``tvm_ffi.Tensor`` of ``shape`` and ``dtype`` on ``device``
    (a ``tvm_ffi.Device``: CPU or CUDA)."""
    import tvm_ffi

    return _global("runtime.TVMTensorAllocWithScope")(tvm_ffi.Shape(tuple(int(d) for d in shape)),
                                                      tvm_ffi.dtype(dtype), device, None)


def _bytes_of(array: np.ndarray):
    import ctypes

    return ctypes.c_void_p(array.ctypes.data), array.nbytes


def to_device(array: np.ndarray, device):
    """A copy of ``array`` (numpy, any layout; bfloat16 as ``ml_dtypes.bfloat16``) on ``device``,
    as a ``tvm_ffi.Tensor`` of the array's shape and dtype; synchronous."""
    host = np.ascontiguousarray(array)
    tensor = empty(host.shape, str(host.dtype), device)
    _global("runtime.TVMTensorCopyFromBytes")(tensor, *_bytes_of(host))
    return tensor


def to_host(tensor, array: np.ndarray) -> None:
    """Copy ``tensor`` (any device) into ``array`` (numpy, its shape and dtype); synchronous: the
    copy waits for the work queued on the device's default stream."""
    host = array if array.flags.c_contiguous else np.empty_like(array)
    _global("runtime.TVMTensorCopyToBytes")(tensor, *_bytes_of(host))
    if host is not array:
        array[...] = host


def file_identity(path: str | os.PathLike) -> tuple:
    """(device, inode, size, mtime in ns) of a file: changes whenever the file is replaced."""
    st = os.stat(path)
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def _open_private_copy(so_path: Path, data: bytes):
    """Open ``data`` (the bytes of ``so_path``, already checked) from a private, unlinked copy.

    The process then never maps the cache's file itself: a later change to that file
    (truncated in place, replaced) cannot fault a loaded kernel, and dlopen, which hands
    back the library it already mapped for a path, always sees a new path.
    """
    for directory in (so_path.parent, Path(tempfile.gettempdir())):
        try:
            fd, alias = tempfile.mkstemp(prefix=f".{so_path.name}.{os.getpid()}.load.",
                                         suffix=".so", dir=directory)
        except OSError:  # a read-only cache: copy to the temp directory instead
            continue
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            return runtime_lib.load_module(alias)
        finally:
            Path(alias).unlink(missing_ok=True)
    raise OpError("E61001", f"no directory accepts a private copy of {so_path}",
                  param_name="so_path")


class Kernel:
    """A built kernel, ready to launch.

    Parameters
    ----------
    json_path : str or Path
        The ``kernel_meta/<name>.json`` written by ``build``.
    meta : dict, optional
        The JSON's content, when the caller has read (and checked) it already.
    verify : bool
        Check the ``.so`` against the JSON's ``so_sha256`` (when recorded) before opening it.

    Raises
    ------
    OpError
        E61001 when the ``.so`` does not match its JSON.
    """

    def __init__(self, json_path: str | Path, meta: dict | None = None, verify: bool = True) -> None:
        self.json_path = Path(json_path)
        self.meta = meta if meta is not None else json.loads(self.json_path.read_text())
        self.name = self.meta["name"]
        self.target = self.meta["target"]["kind"]
        so_path = self.json_path.with_suffix(".so")
        data = so_path.read_bytes()
        expected = self.meta.get("so_sha256")
        if verify and expected and hashlib.sha256(data).hexdigest() != expected:
            raise OpError("E61001", f"kernel [{self.name}]: {so_path} does not match the "
                          f"SHA-256 recorded in {self.json_path.name}; rebuild it",
                          self.name, "so_sha256")
        self.module = _open_private_copy(so_path, data)
        self._funcs = {case["function"]: self.module[case["function"]] for case in self.meta["cases"]}
        self._canonical = [_canonical_of(case) for case in self.meta["cases"]]
        #: :meth:`_select`'s answers by shapes (a pure function of them and the JSON, which
        #: does not change while this object lives); bounded, see :data:`SELECT_MEMO`.
        self._chosen: dict[tuple, tuple[dict, list[tuple[int, ...]], bool]] = {}

    def case_for(self, shapes: Sequence[Sequence[int]]) -> dict:
        """Return the case that serves tensors of ``shapes`` (inputs then outputs).

        See :meth:`bind` for how a case is chosen; this only names it.
        """
        return self._select([tuple(int(d) for d in s) for s in shapes])[0]

    def bind(self, arrays: Sequence[np.ndarray]) -> tuple[dict, list[np.ndarray]]:
        """Choose the case for ``arrays`` (inputs then outputs) and shape them for it.

        The first rule that fits wins:

        1. *Exact*: every array has its tensor's shape (a dynamic var takes one size).
        2. *Canonical*: the arrays' canonical pattern (``classify.canonical_pattern``) is the
           case's; each array is reshaped to the case's shape (static cases) or to its
           canonical shape (dynamic cases, which ``classify`` writes in canonical form). An
           input that broadcasts along an axis gets a dim of 1 there.
        3. *Expanded*: no case fits, and one case is elementwise (every tensor one dynamic
           dim, the same var): broadcasting inputs are expanded to the outputs' shape
           (copied) and every array is flattened. ``classify`` compiles that case when
           enumerating every broadcast variant would take too many cases.

        Reshaping is a view for C-contiguous arrays (other inputs are copied when launched).

        Returns
        -------
        (dict, list of numpy.ndarray)
            The case, and the arrays to pass to it.

        Raises
        ------
        OpError
            E80000 when no case serves the shapes, or an output would need a copy to be
            reshaped (it should be C-contiguous); E80017 when the shapes do not broadcast.
        """
        shapes = [tuple(a.shape) for a in arrays]
        case, targets, expand = self._select(shapes)
        roles = [t["role"] for t in case["tensors"]]
        if expand:
            out_shape = next(s for s, role in zip(shapes, roles) if role == "output")
            try:
                full = np.broadcast_shapes(*shapes)
            except ValueError:
                full = None
            if full != out_shape:
                raise OpError("E80017", f"kernel [{self.name}]: the input shapes "
                              f"{[list(s) for s, r in zip(shapes, roles) if r == 'input']} should "
                              f"broadcast to the output shape {list(out_shape)}",
                              self.name, "shape")
            arrays = [np.broadcast_to(a, full) if role == "input" else a
                      for a, role in zip(arrays, roles)]
        bound = []
        for array, target, spec in zip(arrays, targets, case["tensors"]):
            if tuple(array.shape) != tuple(target):
                if spec["role"] == "output" and not array.flags.c_contiguous:
                    raise OpError("E80000", f"kernel [{self.name}] writes output [{spec['name']}] "
                                  f"in place through shape {list(target)}, so it should be "
                                  f"C-contiguous", self.name, spec["name"])
                array = np.ascontiguousarray(array).reshape(target)
            bound.append(array)
        return case, bound

    def _select(self, shapes: list[tuple[int, ...]]) -> tuple[dict, list[tuple[int, ...]], bool]:
        """(case, shape of each tensor for it, whether inputs must be expanded): see :meth:`bind`.

        Remembered per shapes (the lookup runs every launch: 5 us of a small one's 17)."""
        key = tuple(shapes)
        chosen = self._chosen.get(key)
        if chosen is None:
            chosen = self._choose(shapes)
            if len(self._chosen) >= SELECT_MEMO:
                self._chosen.clear()
            self._chosen[key] = chosen
        return chosen

    def _choose(self, shapes: list[tuple[int, ...]]) -> tuple[dict, list[tuple[int, ...]], bool]:
        """:meth:`_select` without the memo."""
        cases = self.meta["cases"]
        for case in cases:
            if _fits([t["shape"] for t in case["tensors"]], shapes):
                return case, shapes, False
        canon = canonical_pattern(shapes) if shapes else []
        for case, case_canon in zip(cases, self._canonical):
            if case_canon is None or not _fits(case_canon, canon):
                continue
            specs = [t["shape"] for t in case["tensors"]]
            static = all(isinstance(d, int) for spec in specs for d in spec)
            return case, [tuple(s) for s in specs] if static else canon, False
        for case in cases:
            specs = [t["shape"] for t in case["tensors"]]
            if len(specs) == len(shapes) and _is_elementwise(specs):
                outs = {s for s, t in zip(shapes, case["tensors"]) if t["role"] == "output"}
                if len(outs) == 1:
                    return case, [(math.prod(next(iter(outs))),)] * len(shapes), True
        raise OpError("E80000", f"kernel [{self.name}] has no case for tensor shapes "
                      f"{[list(s) for s in shapes]}; its cases are "
                      f"{[[t['shape'] for t in c['tensors']] for c in cases]}",
                      op_name=self.name, param_name="shape")

    def __call__(self, arrays: Sequence[np.ndarray], scalars: Mapping[str, float] | None = None) -> None:
        """Run the kernel in place: ``arrays`` are inputs then outputs, in tensor order.

        The arrays take their own shapes (x's shape for the outputs of a broadcast kernel);
        :meth:`bind` picks the case and reshapes them for it. A ``cuda`` kernel copies them
        to the GPU and the outputs back (:meth:`_run_cuda`).
        """
        for array in arrays:
            if not isinstance(array, np.ndarray):
                raise OpError("E80003", f"kernel [{self.name}] takes numpy arrays, but got "
                              f"[{type(array).__name__}]", self.name, "arrays")
        case, arrays = self.bind(arrays)
        self._check_dtypes(case, [_dtype_name(a.dtype) for a in arrays])
        values = self._scalar_values(case, scalars)
        func = self._funcs[case["function"]]
        if self.target == "cuda":
            self._run_cuda(func, case, arrays, values)
            return
        for array, spec in zip(arrays, case["tensors"]):
            if spec["role"] == "output" and not array.flags.c_contiguous:
                raise OpError("E80000", f"kernel [{self.name}] writes output [{spec['name']}] in "
                              f"place, so it should be C-contiguous", self.name, spec["name"])
        func(*[host_tensor(np.ascontiguousarray(a), spec["dtype"])
               for a, spec in zip(arrays, case["tensors"])], *values)

    def launch_tensors(self, tensors: Sequence, scalars: Mapping[str, float] | None = None,
                       stream: int | None = None) -> None:
        """Run the kernel on tensors already wrapped for TVM, in place, without a copy.

        Parameters
        ----------
        tensors : sequence of tvm_ffi.Tensor
            Inputs then outputs, in tensor order, with their own shapes (as for
            :meth:`__call__`), C-contiguous, on the kernel's device kind: the CPU for an
            ``llvm`` kernel, a CUDA device for a ``cuda`` kernel. A tensor whose shape is not
            the chosen case's is passed as a view of the case's shape.
        scalars : mapping of str to float, optional
            The runtime scalars of the host tiling, by name.
        stream : int, optional
            A raw stream handle (``cudaStream_t``) to launch on; default: TVM FFI's current
            stream for the device (the default stream unless the caller set one).

        Raises
        ------
        OpError
            E80000 when a tensor is on another kind of device or not C-contiguous, or when no
            case serves the shapes without expanding broadcast inputs (a copy); E80008 for a
            dtype the case does not take; E80001 for a missing runtime scalar.
        """
        case, targets, expand = self._select([tuple(t.shape) for t in tensors])
        if expand:
            raise OpError("E80000", f"kernel [{self.name}] has no case for tensor shapes "
                          f"{[list(t.shape) for t in tensors]} short of expanding broadcast inputs "
                          f"(a copy), which device tensors never get", self.name, "shape")
        wanted = _DEVICE_TYPES[self.target]
        for spec, tensor in zip(case["tensors"], tensors):
            if tensor.device.dlpack_device_type() != wanted:
                raise OpError("E80000", f"kernel [{self.name}] is built for {self.target} and runs "
                              f"on {_DEVICE_NAMES[wanted]} tensors, but tensor [{spec['name']}] is "
                              f"on [{tensor.device}]", self.name, spec["name"])
            if not tensor.is_contiguous():
                raise OpError("E80000", f"kernel [{self.name}] reads and writes tensors in place, so "
                              f"tensor [{spec['name']}] should be C-contiguous, but its strides are "
                              f"{list(tensor.strides)}", self.name, spec["name"])
        self._check_dtypes(case, [str(t.dtype) for t in tensors])
        values = self._scalar_values(case, scalars)
        views = [t if tuple(t.shape) == tuple(target) else
                 runtime_lib.retyped_view(t, tuple(target), spec["dtype"])
                 for t, target, spec in zip(tensors, targets, case["tensors"])]
        func = self._funcs[case["function"]]
        if stream is None:
            func(*views, *values)
            return
        import tvm_ffi

        with tvm_ffi.use_raw_stream(tensors[0].device, stream):
            func(*views, *values)

    def _check_dtypes(self, case: dict, dtypes: Sequence[str]) -> None:
        for spec, dtype in zip(case["tensors"], dtypes):
            if dtype != spec["dtype"]:
                raise OpError("E80008", f"kernel [{self.name}] expects tensor [{spec['name']}] of "
                              f"dtype {spec['dtype']}, but got {dtype}",
                              op_name=self.name, param_name=spec["name"])

    def _scalar_values(self, case: dict, scalars: Mapping[str, float] | None) -> list:
        scalars = dict(scalars or {})
        missing = [s["name"] for s in case["scalars"] if s["name"] not in scalars]
        if missing:
            raise OpError("E80001", f"kernel [{self.name}] needs runtime scalars {missing} from the "
                          f"host tiling", op_name=self.name, param_name=missing[0])
        return [float(scalars[s["name"]]) if s["dtype"].startswith(("float", "bfloat"))
                else int(scalars[s["name"]]) for s in case["scalars"]]

    @staticmethod
    def _run_cuda(func, case: dict, arrays: Sequence[np.ndarray], values: list,
                  device=None) -> None:
        """numpy arrays on a ``cuda`` kernel: **copies** every array to ``device`` (default CUDA
        device 0), runs, and copies the outputs back, synchronously. The same code runs an
        ``llvm`` kernel given the CPU device. Device arrays take :meth:`launch_tensors`."""
        import tvm_ffi

        device = device if device is not None else tvm_ffi.device("cuda", 0)
        staged = [to_device(array, device) for array in arrays]
        func(*staged, *values)
        for array, spec, tensor in zip(arrays, case["tensors"], staged):
            if spec["role"] == "output":
                to_host(tensor, array)


def _fits(specs: Sequence[Sequence[int | str]], shapes: Sequence[Sequence[int]]) -> bool:
    """Whether tensors of ``shapes`` fit a case's ``specs``: equal ranks, equal static dims, and
    one size per dynamic var (a var names the same size wherever it appears)."""
    if len(specs) != len(shapes):
        return False
    bound: dict[str, int] = {}
    for spec, shape in zip(specs, shapes):
        if len(spec) != len(shape):
            return False
        for dim, size in zip(spec, shape):
            if isinstance(dim, str):
                if bound.setdefault(dim, size) != size:
                    return False
            elif dim != size:
                return False
    return True


def _canonical_of(case: dict) -> list | None:
    """What a case's canonical pattern looks like: for a static case, the canonical pattern of
    its shapes; for a dynamic case written in canonical form (as ``classify`` writes them), its
    shapes (var names kept); None for another dynamic case (its arrays must match exactly)."""
    specs = [list(t["shape"]) for t in case["tensors"]]
    if not specs:
        return None
    plain = [[UNKNOWN_DIM if isinstance(d, str) else int(d) for d in spec] for spec in specs]
    canon = canonical_pattern(plain)
    if all(d != UNKNOWN_DIM for spec in plain for d in spec):
        return canon
    return specs if [tuple(s) for s in plain] == canon else None


def _is_elementwise(specs: Sequence[Sequence[int | str]]) -> bool:
    """Every tensor has one dim, the same dynamic var: an elementwise case."""
    dims = {tuple(spec) for spec in specs}
    return len(dims) == 1 and len(specs[0]) == 1 and isinstance(specs[0][0], str)


def _key(json_path: str | Path) -> tuple:
    path = os.path.abspath(json_path)
    return (path, file_identity(path), file_identity(path[:-len(".json")] + ".so"
                                                    if path.endswith(".json") else path + ".so"))


def cached_kernel(json_path: str | Path) -> Kernel | None:
    """The kernel loaded from these very files (same identity) earlier in this process, if any."""
    try:
        return _loaded.get(_key(json_path))
    except OSError:
        return None


def load_kernel(json_path: str | Path, meta: dict | None = None) -> Kernel:
    """Load the kernel described by ``json_path``: once per process per version of its files.

    A kernel whose ``.json`` or ``.so`` was replaced since it was loaded is loaded again
    (and its ``.so`` checked against the recorded SHA-256).
    """
    key = _key(json_path)
    kernel = _loaded.get(key)
    if kernel is None:
        kernel = Kernel(key[0], meta)
        with _lock:
            for stale in [k for k in _loaded if k[0] == key[0] and k != key]:
                del _loaded[stale]
            kernel = _loaded.setdefault(key, kernel)
    return kernel
