"""Load a built kernel from ``kernel_meta`` and run it on numpy arrays.

A :class:`Kernel` reads the JSON that ``build`` wrote, loads the ``.so`` once, and
on each call picks the case whose static dims match the arrays, binds dynamic
dims from the arrays' shapes, and passes runtime scalars by name. On the CPU the
arrays are wrapped without copying (DLPack, any element-aligned address: kernels
are declared with element alignment, see :mod:`bce_grad.host_backend.schedule.alignment`).
bfloat16 arrays
(``ml_dtypes.bfloat16``) travel as uint16 views retyped on the TVM side.
"""
from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import tvm
import tvm_ffi

from bce_grad.host_backend.errors import OpError

_loaded: dict[str, "Kernel"] = {}
_lock = threading.Lock()


def _wrap(array: np.ndarray, dtype: str):
    if dtype == "bfloat16":
        base = tvm_ffi.from_dlpack(array.view(np.uint16), require_alignment=0)
        return base._create_view(tuple(array.shape), "bfloat16")
    return tvm_ffi.from_dlpack(array, require_alignment=0)


class Kernel:
    """A built kernel, ready to launch.

    Parameters
    ----------
    json_path : str or Path
        The ``kernel_meta/<name>.json`` written by ``build``.
    """

    def __init__(self, json_path: str | Path) -> None:
        self.json_path = Path(json_path)
        self.meta = json.loads(self.json_path.read_text())
        self.name = self.meta["name"]
        self.target = self.meta["target"]["kind"]
        self.module = tvm.runtime.load_module(str(self.json_path.with_suffix(".so")))
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


def load_kernel(json_path: str | Path) -> Kernel:
    """Load (once per process) the kernel described by ``json_path``."""
    key = str(Path(json_path).resolve())
    with _lock:
        if key not in _loaded:
            _loaded[key] = Kernel(key)
        return _loaded[key]
