"""Build and run a small DSL compute on the host backend, for the backend tests."""
from __future__ import annotations

import itertools
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from bce_grad.host_backend import dsl as tbe
from bce_grad.host_backend import tvm_shim as tvm
from bce_grad.host_backend.build import kernel_meta_at
from bce_grad.host_backend.launch import Kernel

_names = itertools.count()


def build_and_run(compute: Callable, inputs: Sequence[np.ndarray], dtypes: Sequence[str],
                  shapes: Sequence[Sequence], out_shape: Sequence[int], out_dtype,
                  workdir: Path, scalars: dict | None = None) -> tuple[np.ndarray, Kernel]:
    """Compile ``compute(*placeholders)`` for ``shapes`` (ints or vars), run it on ``inputs``.

    Returns the output array and the loaded kernel.
    """
    name = f"dsl_case_{next(_names)}"
    with tbe.compute():
        holders = [tvm.placeholder(shape, dtype=dtype, name=f"in{i}")
                   for i, (shape, dtype) in enumerate(zip(shapes, dtypes))]
        res = compute(*holders)
        sch = tbe.auto_schedule(res)
    with kernel_meta_at(workdir):
        json_path = tbe.build(sch, {"name": name, "tensor_list": [*holders, res]})
    kernel = Kernel(json_path)
    out = np.empty(out_shape, dtype=out_dtype)
    kernel([*inputs, out], scalars or {})
    return out, kernel


def capture_source(monkeypatch, kind: str) -> dict:
    """Wrap ``tvm.compile`` (through ``monkeypatch``) so that each compile's ``kind`` source
    ("asm", "ll") lands in the returned dict under that key; the last compile wins."""
    import tvm as real_tvm

    captured: dict = {}
    compile_ = real_tvm.compile

    def spy(*args, **kwargs):
        executable = compile_(*args, **kwargs)
        captured[kind] = executable.mod.inspect_source(kind)
        return executable

    monkeypatch.setattr(real_tvm, "compile", spy)
    return captured
