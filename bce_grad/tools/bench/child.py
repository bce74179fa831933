"""One thread count of ``bce-grad bench``, run in its own process.

TVM reads ``TVM_NUM_THREADS`` once per process and libgomp reads ``OMP_NUM_THREADS``
once, so the parent starts ``python -m bce_grad bench --_child PLAN`` once per thread
count with both variables set; this module runs the plan (a JSON file written by
:mod:`bce_grad.tools.commands.bench`) and writes its records to ``plan["out"]``.

Rows of one case, all on the same arrays, in this process:

- ``roofline``: :class:`~bce_grad.tools.bench.roofline.Roofline` (its output is checked
  against numpy once per case before it is timed);
- ``host_kernel``: the cached kernel alone (``kernel_cache.get_or_build`` then
  ``launch.load_kernel``), launched on a preallocated output with the host tiling's scalars;
- ``host_api``: ``binary_cross_entropy_backward``, which allocates its output;
- ``host_api_out``: the same with ``out=``;
- ``torch``: ``torch.ops.aten.binary_cross_entropy_backward`` after ``torch.set_num_threads``;
- ``numpy``: the golden (float32 math), only where the plan asks (once, in the 1-thread run).
"""
from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path
from typing import Callable

import numpy as np

from bce_grad.tools.bench.records import make_record, measure, measure_paired
from bce_grad.tools.bench.roofline import Roofline


def make_inputs(case: dict, seed: int = 0) -> dict[str, np.ndarray]:
    """Inputs of one case in the operator's order; values keep the op away from its clamp."""
    from bce_grad.tools.commands.common import numpy_dtype

    rng = np.random.default_rng(seed)
    dtype = numpy_dtype(case["dtype"])
    ranges = {"x": (0.01, 0.99), "y": (0.0, 1.0), "grad_output": (0.5, 1.5), "weight": (0.0, 2.0)}
    return {name: rng.uniform(*ranges[name], tuple(shape)).astype(dtype)
            for name, shape in case["shapes"].items()}


def host_kernel_call(arrays: dict, reduction: str, soc: str) -> tuple[Callable[[], object], np.ndarray]:
    """The compiled kernel alone, as the API launches it, writing into a preallocated output."""
    from bce_grad._impl.dynamic import binary_cross_entropy_grad  # noqa: F401 - its host tiling
    from bce_grad.op_support import OP_TYPE
    from bce_grad.host_backend import launch, platform
    from bce_grad.host_backend.register import get_host_tiling
    from bce_grad import kernel_cache

    x = arrays["x"]
    dtype = str(x.dtype)
    with platform.use_soc(soc) as info:
        json_path, pattern = kernel_cache.get_or_build(arrays, dtype, reduction, info)
    kernel = launch.load_kernel(json_path)
    canon = [np.ascontiguousarray(a).reshape(p) for a, p in zip(arrays.values(), pattern)]
    out = np.empty(x.shape, x.dtype)
    scalars = get_host_tiling(OP_TYPE)(
        [{"shape": list(a.shape), "dtype": dtype} for a in arrays.values()],
        [{"shape": list(x.shape), "dtype": dtype}], {"reduction": reduction},
        kernel.meta.get("compile_info", {}))
    operands = [*canon, out.reshape(pattern[0])]
    return (lambda: kernel(operands, scalars)), out


def torch_call(arrays: dict, reduction: str, threads: int) -> Callable[[], object] | None:
    """aten's CPU backward on the same arrays (no copy), or None without torch."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(threads)

    def to_torch(array: np.ndarray):
        if str(array.dtype) == "bfloat16":
            return torch.from_numpy(array.view(np.int16)).view(torch.bfloat16)
        return torch.from_numpy(array)

    x = to_torch(arrays["x"])
    # aten's CPU kernel takes same-size tensors only: broadcast inputs travel as stride-0
    # views of x's size (expand, no copy), as a torch user would pass them
    t = {name: to_torch(a).expand_as(x) for name, a in arrays.items()}
    from bce_grad.op_support import REDUCTION_ENUM

    enum = {name: value for value, name in REDUCTION_ENUM.items()}[reduction]
    return lambda: torch.ops.aten.binary_cross_entropy_backward(
        t["grad_output"], t["x"], t["y"], t.get("weight"), enum)


def _check_same(name: str, got: np.ndarray, want: np.ndarray) -> None:
    if got.shape != want.shape or got.tobytes() != want.tobytes():
        raise RuntimeError(f"bench: {name} differs from the reference on the benchmark's own "
                           f"inputs; the timing would describe a wrong result")


def run_case(case: dict, plan: dict) -> list[dict]:
    """Every row of one case (all its reductions) at this process's thread count."""
    from bce_grad.api import binary_cross_entropy_backward
    from bce_grad.golden import binary_cross_entropy_grad_golden

    threads, repeats, soc = plan["threads"], plan["repeats"], plan["soc"]
    arrays = make_inputs(case)
    nbytes = sum(a.nbytes for a in arrays.values()) + arrays["x"].nbytes
    roof = Roofline(arrays, threads)
    _check_same("the roofline kernel", roof(), roof.expected())
    if roof.nbytes != nbytes:
        raise RuntimeError(f"bench: the roofline moves {roof.nbytes} bytes, the op {nbytes}")
    records = [make_record("roofline", case, "-", threads, repeats, measure(roof, repeats), nbytes)]
    g, x, y, w = arrays["grad_output"], arrays["x"], arrays["y"], arrays.get("weight")
    for reduction in case["reductions"]:
        print(f"  [{threads} thread(s)] {case['dtype']} x{tuple(x.shape)} weight={case['weight']} "
              f"reduction={reduction}", file=sys.stderr, flush=True)
        kernel, kernel_out = host_kernel_call(arrays, reduction, soc)
        out = np.empty_like(x)
        kernel()
        _check_same("host_kernel", kernel_out, binary_cross_entropy_backward(
            g, x, y, w, reduction, soc=soc))
        calls = {
            "host_kernel": kernel,
            "host_api": lambda: binary_cross_entropy_backward(g, x, y, w, reduction, soc=soc),
            "host_api_out": lambda: binary_cross_entropy_backward(g, x, y, w, reduction, soc=soc,
                                                                  out=out),
            "torch": torch_call(arrays, reduction, threads),
        }
        for impl, call in calls.items():
            if call is None:
                print(f"  {impl}: skipped (torch is not installed)", file=sys.stderr)
                continue
            timing, ratios, roof_ms = measure_paired(call, roof, repeats)
            record = make_record(impl, case, reduction, threads, repeats, timing, nbytes)
            record.update(pair_ratios=[round(r, 6) for r in ratios], roofline_ms=round(roof_ms, 5))
            records.append(record)
        if plan.get("numpy"):
            golden_repeats = min(repeats, plan.get("numpy_repeats", 5))
            timing = measure(lambda: binary_cross_entropy_grad_golden(
                x=x, y=y, grad_output=g, weight=w, reduction=reduction, compute_dtype="float32", out_dtype=case["dtype"]), golden_repeats)
            records.append(make_record("numpy", case, reduction, 1, golden_repeats, timing, nbytes))
    return records


def run_crossover(plan: dict) -> list[dict]:
    """host_kernel and roofline on float32 vectors of each size in ``plan["sizes"]``."""
    threads, repeats = plan["threads"], plan["repeats"]
    records = []
    for size in plan["sizes"]:
        case = {"dtype": "float32", "weight": False,
                "shapes": {"x": [size], "y": [size], "grad_output": [size]}}
        arrays = make_inputs(case)
        nbytes = 4 * sum(math.prod(s) for s in case["shapes"].values()) + 4 * size
        kernel, _ = host_kernel_call(arrays, plan["reduction"], plan["soc"])
        roof = Roofline(arrays, threads)
        for impl, call in (("host_kernel", kernel), ("roofline", roof)):
            rec = make_record(impl, case, plan["reduction"] if impl != "roofline" else "-",
                              threads, repeats, measure(call, repeats), nbytes)
            rec["elements"] = size
            records.append(rec)
    return records


def _tvm_threads() -> int | None:
    """The thread count TVM's runtime took from the environment (None if it cannot say)."""
    try:
        import tvm_ffi

        from bce_grad.host_backend import targets

        targets.host_cpu()  # loads TVM's libraries without importing the compiler
        return int(tvm_ffi.get_global_func("runtime.NumThreads")())
    except Exception:  # noqa: BLE001 - only a consistency warning depends on it
        return None


def main(plan_path: str) -> int:
    """Run the plan in ``plan_path`` and write its records as JSON to ``plan["out"]``."""
    plan = json.loads(Path(plan_path).read_text(encoding="utf-8"))
    threads = plan["threads"]
    seen = _tvm_threads()
    if seen is not None and seen != threads:
        print(f"warning: TVM runs {seen} threads, not the {threads} asked for "
              f"(TVM_NUM_THREADS={os.environ.get('TVM_NUM_THREADS')})", file=sys.stderr)
    if plan["mode"] == "crossover":
        records = run_crossover(plan)
    else:
        records = [rec for case in plan["cases"] for rec in run_case(case, plan)]
    Path(plan["out"]).write_text(json.dumps(records), encoding="utf-8")
    return 0
