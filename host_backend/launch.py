"""Load a built kernel from ``kernel_meta`` and run it on numpy arrays.

A :class:`Kernel` reads the JSON that ``build`` wrote, reads the ``.so`` once, checks
those bytes against the SHA-256 the JSON records and opens a private copy of them with
TVM's runtime only (:mod:`~bce_grad.host_backend.runtime_lib`, no compiler import), so
no later change to the file can fault the process. On each call it picks the case whose static dims match the arrays, binds dynamic
dims from the arrays' shapes, and passes runtime scalars by name. On the CPU the
arrays are wrapped without copying (DLPack, any element-aligned address: kernels
are declared with element alignment, see :mod:`bce_grad.host_backend.schedule.alignment`).
bfloat16 arrays
(``ml_dtypes.bfloat16``) travel as uint16 views retyped on the TVM side. Read-only
arrays (``np.load(mmap_mode="r")``, ``np.frombuffer(bytes)``) travel through a
versioned DLPack capsule, which carries the read-only flag, also without a copy.

:func:`load_kernel` keeps loaded kernels per process, keyed by the files' identity
(path, inode, size, mtime), so a kernel rebuilt at the same path is loaded afresh.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from bce_grad.host_backend import runtime_lib
from bce_grad.host_backend.errors import OpError

#: Loaded kernels by (json path, json identity, .so identity); a cache keyed by content.
_loaded: dict[tuple, "Kernel"] = {}
_lock = threading.Lock()
_DLPACK_VERSION = (1, 0)


def _from_dlpack(array: np.ndarray):
    import tvm_ffi

    if array.flags.writeable:
        return tvm_ffi.from_dlpack(array, require_alignment=0)
    # DLPack 0.x cannot say "read-only"; the versioned capsule can, and the kernel only reads it
    return tvm_ffi.from_dlpack(array.__dlpack__(max_version=_DLPACK_VERSION), require_alignment=0)


def _wrap(array: np.ndarray, dtype: str):
    if dtype == "bfloat16":
        return runtime_lib.retyped_view(_from_dlpack(array.view(np.uint16)), array.shape, "bfloat16")
    return _from_dlpack(array)


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

    def case_for(self, shapes: Sequence[Sequence[int]]) -> dict:
        """Return the case whose tensors match ``shapes`` (inputs then outputs)."""
        for case in self.meta["cases"]:
            specs = case["tensors"]
            if len(specs) != len(shapes):
                continue
            if all(len(spec["shape"]) == len(shape) and all(
                    isinstance(dim, str) or dim == size for dim, size in zip(spec["shape"], shape))
                    for spec, shape in zip(specs, shapes)):
                return case
        raise OpError("E80000", f"kernel [{self.name}] has no case for tensor shapes "
                      f"{[list(s) for s in shapes]}; its cases are "
                      f"{[[t['shape'] for t in c['tensors']] for c in self.meta['cases']]}",
                      op_name=self.name, param_name="shape")

    def __call__(self, arrays: Sequence[np.ndarray], scalars: Mapping[str, float] | None = None) -> None:
        """Run the kernel in place: ``arrays`` are inputs then outputs, in tensor order."""
        scalars = dict(scalars or {})
        case = self.case_for([a.shape for a in arrays])
        for spec, array in zip(case["tensors"], arrays):
            if str(array.dtype) != spec["dtype"]:
                raise OpError("E80008", f"kernel [{self.name}] expects tensor [{spec['name']}] of "
                              f"dtype {spec['dtype']}, but got {array.dtype}",
                              op_name=self.name, param_name=spec["name"])
        missing = [s["name"] for s in case["scalars"] if s["name"] not in scalars]
        if missing:
            raise OpError("E80001", f"kernel [{self.name}] needs runtime scalars {missing} from the "
                          f"host tiling", op_name=self.name, param_name=missing[0])
        values = [float(scalars[s["name"]]) if s["dtype"].startswith(("float", "bfloat"))
                  else int(scalars[s["name"]]) for s in case["scalars"]]
        func = self._funcs[case["function"]]
        if self.target == "cuda":
            self._run_cuda(func, case, arrays, values)
            return
        for array, spec in zip(arrays, case["tensors"]):
            if spec["role"] == "output" and not array.flags.c_contiguous:
                raise OpError("E80000", f"kernel [{self.name}] writes output [{spec['name']}] in "
                              f"place, so it should be C-contiguous", self.name, spec["name"])
        func(*[_wrap(np.ascontiguousarray(a), spec["dtype"])
               for a, spec in zip(arrays, case["tensors"])], *values)

    @staticmethod
    def _run_cuda(func, case: dict, arrays: Sequence[np.ndarray], values: list) -> None:
        import tvm

        device = tvm.cuda(0)
        staged = []
        for array, spec in zip(arrays, case["tensors"]):
            host = np.ascontiguousarray(array)
            raw = host.view(np.uint16) if spec["dtype"] == "bfloat16" else host
            dev = tvm.runtime.tensor(raw, device=device)
            staged.append(dev._create_view(tuple(array.shape), spec["dtype"])
                          if spec["dtype"] == "bfloat16" else dev)
        func(*staged, *values)
        device.sync()
        for array, spec, dev in zip(arrays, case["tensors"], staged):
            if spec["role"] == "output":
                out = dev.numpy()
                array[...] = out.view(array.dtype) if out.dtype != array.dtype else out


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
