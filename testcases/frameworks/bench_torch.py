"""Per-call time of torch.ops.bce_grad.binary_cross_entropy_backward against aten's, same run.

    python -m testcases.frameworks.bench_torch [--package DIR] [--repeats 7]

float32, x in [0.01, 0.99], y uniform; reduction mean with a 0-d grad_output (what autograd passes
after a mean loss) and none with a full grad_output. Each row: the median of ``repeats`` timings
(each the mean over a batch of calls), with the min-max spread; the two kernels alternate, so
machine noise hits both. Without ``--package`` a package holding the two patterns is compiled
into a temporary directory first.
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

SHAPES = ((4, 4), (1024, 4096))


def _package(path: str | None) -> str:
    if path:
        return path
    from bce_grad.runtime.kernel_set import KernelSpec, build_package

    out = tempfile.mkdtemp(prefix="bce_grad_bench_pkg_")
    specs = [KernelSpec(("float32",) * 3, "float32", "mean", key) for key in ("d_d_1", "d_d_d")]
    build_package(out, "Ascend910B1", specs, log=lambda line: None)
    return out


def _time(fn, calls: int, repeats: int) -> list[float]:
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        runs.append((time.perf_counter() - start) / calls)
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--package", default=os.environ.get("BCE_GRAD_PACKAGE"))
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    package = _package(args.package)

    import torch

    import bce_grad.torch

    bce_grad.torch.set_package(package)
    ours = torch.ops.bce_grad.binary_cross_entropy_backward
    aten = torch.ops.aten.binary_cross_entropy_backward
    print(f"torch {torch.__version__}, {torch.get_num_threads()} intra-op threads, "
          f"TVM_NUM_THREADS={os.environ.get('TVM_NUM_THREADS', 'unset')}")
    print(f"{'shape':>12} {'reduction':>9} {'kernel':>6} {'median':>11} {'min-max':>21}")
    for shape in SHAPES:
        gen = torch.Generator().manual_seed(0)
        x = torch.rand(shape, generator=gen) * 0.98 + 0.01
        y = torch.rand(shape, generator=gen)
        calls = 2000 if x.numel() < 1024 else 20
        for reduction, g in (("mean", torch.tensor(0.5)), ("none", torch.randn(shape, generator=gen))):
            red = {"none": 0, "mean": 1}[reduction]
            torch.testing.assert_close(ours(g, x, y, None, red), aten(g, x, y, None, red),
                                       rtol=5e-7, atol=0)
            timings: dict[str, list[float]] = {"bce_grad": [], "aten": []}
            for _ in range(args.repeats):  # alternate the two, one batch each
                timings["bce_grad"] += _time(lambda: ours(g, x, y, None, red), calls, 1)
                timings["aten"] += _time(lambda: aten(g, x, y, None, red), calls, 1)
            for name, runs in timings.items():
                unit, scale = ("us", 1e6) if x.numel() < 1024 else ("ms", 1e3)
                print(f"{str(shape):>12} {reduction:>9} {name:>8} "
                      f"{statistics.median(runs) * scale:8.3f} {unit} "
                      f"({min(runs) * scale:.3f}-{max(runs) * scale:.3f} {unit})")


if __name__ == "__main__":
    main()
