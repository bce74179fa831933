"""Generic strided kernel against compact fast paths, same run, same machine.

    python testcases/runtime/bench_generic.py

Builds (in a temporary directory) a package holding, for float32 with weight, the generic
kernels of ranks 2 and 4 and the compact kernels of the two patterns measured:

- row broadcast (1024, 4096): x, y (1024, 4096), grad_output (1024, 1), weight (4096,)
  (pattern dd_dd_d1_1d, a fast path of the default package);
- an odd rank-4 pattern (16, 24, 32, 320): y (16, 1, 32, 320), grad_output (24, 1, 320),
  weight (16, 24, 1, 1) (pattern dddd_d1dd_1d1d_dd11, in no fast set).

A second package with only the generic kernels runs the same calls. Prints the median and
IQR (ms) of 30 calls each, plus numpy's copy of x as a memory reference, and GB/s from the
bytes the call must move (x, y, out, plus the broadcast inputs once).
"""
from __future__ import annotations

import os
import statistics
import tempfile
import time

import numpy as np

CASES = {
    "row broadcast (1024, 4096)": ((1024, 4096), (1024, 4096), (1024, 1), (4096,)),
    "rank-4 odd (16, 24, 32, 320)": ((16, 24, 32, 320), (16, 1, 32, 320), (24, 1, 320),
                                     (16, 24, 1, 1)),
}


def measure(call, rounds=30):
    for _ in range(3):
        call()
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        call()
        samples.append((time.perf_counter() - start) * 1e3)
    q = statistics.quantiles(samples, n=4)
    return statistics.median(samples), q[2] - q[0]


def main() -> int:
    from bce_grad.runtime import Runtime, tiling
    from bce_grad.runtime.kernel_set import KernelSpec, build_package

    rng = np.random.default_rng(0)
    calls = {}
    for name, (sx, sy, sg, sw) in CASES.items():
        x = rng.uniform(0.02, 0.98, sx).astype(np.float32)
        y = rng.uniform(0, 1, sy).astype(np.float32)
        g = rng.standard_normal(sg).astype(np.float32)
        w = rng.uniform(0.1, 2, sw).astype(np.float32)
        calls[name] = (g, x, y, w)
    patterns = []
    for g, x, y, w in calls.values():
        canon = tiling([x.shape, y.shape, g.shape, w.shape])[0]
        patterns.append("_".join("".join("1" if d == 1 else "d" for d in s) for s in canon))
    generic = [KernelSpec(("float32",) * 4, "float32", "mean", f"strided{r}") for r in (2, 4)]
    fast = [KernelSpec(("float32",) * 4, "float32", "mean", p) for p in patterns]
    with tempfile.TemporaryDirectory() as both_dir, tempfile.TemporaryDirectory() as gen_dir:
        build_package(both_dir, "Ascend910B1", generic + fast, jobs=2, log=lambda s: None)
        build_package(gen_dir, "Ascend910B1", generic, jobs=2, log=lambda s: None)
        with Runtime(both_dir) as with_fast, Runtime(gen_dir) as only_generic:
            print(f"float32 mean, TVM_NUM_THREADS={os.environ.get('TVM_NUM_THREADS', 'unset')}, "
                  f"median and IQR of 30 calls (ms)")
            for (name, (g, x, y, w)), pattern in zip(calls.items(), patterns):
                out = np.empty_like(x)
                moved = 2 * x.nbytes + y.nbytes + g.nbytes + w.nbytes  # x, y, out + broadcasts
                print(f"  {name}, pattern {pattern}")
                for label, rt in (("fast path (compact)", with_fast), ("generic strided", only_generic)):
                    median, iqr = measure(lambda: rt.backward(g, x, y, w, "mean", out))
                    print(f"    {label:<22} {median:7.3f} ms (IQR {iqr:.3f})  {moved / median / 1e6:6.1f} GB/s")
                median, iqr = measure(lambda: np.copyto(out, x))
                print(f"    {'numpy copy of x':<22} {median:7.3f} ms (IQR {iqr:.3f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
