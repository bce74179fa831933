"""Per-call overhead of the native runtime on a warm (4, 4) float32 mean call, with references.

    python testcases/runtime/bench_overhead.py [PACKAGE_DIR]

Without PACKAGE_DIR it builds a one-kernel package (d_d_d, float32, mean) in a temporary
directory. Prints the median and the interquartile range (µs per call) of: the runtime through
its Python binding, the bare C call (DLTensors built once), the numpy API
(``bce_grad.api``, through the native runtime), the API's Python launch path (how every call
ran before the runtime), and aten's ``binary_cross_entropy_backward`` when torch is
installed, all from the same run. The tensors are tiny, so the figures are call overhead, not bandwidth.
"""
from __future__ import annotations

import statistics
import sys
import tempfile
import time

import numpy as np

ROUNDS, CALLS = 15, 2000


def measure(call) -> tuple[float, float]:
    for _ in range(200):
        call()
    samples = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        for _ in range(CALLS):
            call()
        samples.append((time.perf_counter() - start) / CALLS * 1e6)
    q = statistics.quantiles(samples, n=4)
    return statistics.median(samples), q[2] - q[0]


def main(argv: list[str]) -> int:
    from bce_grad.runtime.kernel_set import KernelSpec, build_package

    if argv:
        return run(argv[0])
    with tempfile.TemporaryDirectory(prefix="bce_grad_bench_pkg_") as package:
        build_package(package, "Ascend910B1",
                      [KernelSpec(("float32",) * 3, "float32", "mean", "d_d_d")], log=lambda s: None)
        return run(package)


def run(package: str) -> int:
    """Measure every call path with the runtime loaded from ``package``; prints the table."""
    from bce_grad.runtime import Runtime

    rt = Runtime(package)
    x = np.full((4, 4), 0.3, np.float32)
    y = np.full((4, 4), 0.6, np.float32)
    g = np.ones((4, 4), np.float32)
    out = np.empty_like(x)
    from bce_grad.runtime.native import _tensor_pointer

    held: list = []
    ptrs = [_tensor_pointer(a, held) for a in (g, x, y)] + [None, _tensor_pointer(out, held)]
    raw, handle = rt._call, rt._handle
    calls = {
        "runtime (Python binding, out=)": lambda: rt.backward(g, x, y, None, "mean", out),
        "runtime (Python binding, new out)": lambda: rt.backward(g, x, y, None, "mean"),
        "runtime (bare C call via ctypes)": lambda: raw(handle, *ptrs[:4], 1, ptrs[4]),
    }
    from bce_grad import api
    from bce_grad.runtime import cache_package

    calls["numpy API bce_grad.api (native runtime)"] = \
        lambda: api.binary_cross_entropy_backward(g, x, y, None, "mean")

    def python_launch():  # the API's own Python launch path (its behaviour before the runtime)
        saved = cache_package.package_for
        cache_package.package_for = lambda *a: None
        try:
            return api._backward(g, x, y, None, "mean", None, None, None)
        finally:
            cache_package.package_for = saved

    calls["numpy API, Python launch path (before)"] = python_launch
    try:
        import torch

        tx, ty, tg = (torch.from_numpy(a) for a in (x, y, g))
        calls[f"aten binary_cross_entropy_backward ({torch.get_num_threads()} threads)"] = \
            lambda: torch.ops.aten.binary_cross_entropy_backward(tg, tx, ty, None, 1)
    except ImportError:
        pass
    print(f"(4, 4) float32 mean, median and IQR of {ROUNDS} rounds x {CALLS} calls")
    for name, call in calls.items():
        median, iqr = measure(call)
        print(f"  {name:<48} {median:8.2f} us  (IQR {iqr:.2f})")
    rt.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
