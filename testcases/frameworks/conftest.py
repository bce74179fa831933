"""Session fixtures of the framework tests: a small kernel package and the PyTorch operator.

The session's cache directory is fresh (``testcases/conftest.py``), so the fixture starts cold:
4 threads build the operator library at once (one compiles, three wait on its lock) while the
runtime library builds and this thread compiles the package; then 4 threads make the first calls
on the freshly opened package (its kernels load lazily, on first use, under the runtime's lock).
"""
from __future__ import annotations

import concurrent.futures
import threading

import pytest

SOC = "Ascend910B1"
DTYPES = ("float16", "bfloat16", "float32")
#: shapes of (x, y, grad_output, weight) in the grid's broadcast pattern: y a row, grad_output a
#: column, weight a row; canonical keys dd_1d_d1(_1d).
GRID_SHAPES = ((6, 5), (1, 5), (6, 1), (5,))


def package_specs():
    """The kernels the tests call: the grid's pattern for every dtype; same shapes in float32
    (opcheck) and float16 (aten's route); a 0-d grad_output (autograd of a mean)."""
    from bce_grad.runtime.kernel_set import KernelSpec

    specs = []
    for dtype in DTYPES:
        specs.append(KernelSpec((dtype,) * 4, dtype, "mean", "dd_1d_d1_1d"))
        specs.append(KernelSpec((dtype,) * 3, dtype, "mean", "dd_1d_d1"))
    for key in ("d_d_d", "d_d_1"):
        specs.append(KernelSpec(("float32",) * 3, "float32", "mean", key))
    specs.append(KernelSpec(("float16",) * 3, "float16", "mean", "d_d_d"))
    specs.append(KernelSpec(("float32",) * 4, "float32", "mean", "d_d_d_d"))
    return specs


def grid_inputs(torch, dtype: str, with_weight: bool, seed: int):
    """(grad_output, x, y, weight) of the grid's shapes in ``dtype``, with the boundary points
    x == y == 0, x == y == 1, x = 1 > y = 0 and x = 0 < y = 1 in the first rows."""
    gen = torch.Generator().manual_seed(seed)
    sx, sy, sg, sw = GRID_SHAPES
    x = torch.rand(sx, generator=gen) * 0.96 + 0.02
    y = torch.rand(sy, generator=gen)
    y[0, 0], y[0, 1] = 0.0, 1.0
    x[0, 0], x[1, 1], x[2, 0], x[3, 1] = 0.0, 1.0, 1.0, 0.0
    g = torch.randn(sg, generator=gen)
    w = torch.rand(sw, generator=gen) * 1.9 + 0.1 if with_weight else None
    cast = getattr(torch, dtype)
    return g.to(cast), x.to(cast), y.to(cast), None if w is None else w.to(cast)


def first_calls(torch):
    """The 4 threads' first calls: (dtype, with weight) and their inputs, built ahead."""
    return [(dtype, with_w, grid_inputs(torch, dtype, with_w, seed=40 + i))
            for i, (dtype, with_w) in enumerate(
                [("float16", True), ("bfloat16", False), ("float32", True), ("float32", False)])]


def run_in_threads(work, count: int) -> None:
    """Run ``work(i)`` for i in 0..count-1 on as many threads at once and wait for all."""
    threads = [threading.Thread(target=work, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def build_cold(adapter_library, package, specs) -> list:
    """On a cold cache, at once: 4 threads build an adapter's library (one compiles, three wait on
    its lock), one builds the runtime library, this thread compiles the package ``specs`` into
    ``package``. Returns the 4 library paths (one file, if the build is sound)."""
    from bce_grad.runtime.build import library_path as runtime_library
    from bce_grad.runtime.kernel_set import build_package

    with concurrent.futures.ThreadPoolExecutor(5) as pool:
        libraries = [pool.submit(adapter_library) for _ in range(4)]
        runtime = pool.submit(runtime_library)
        build_package(package, SOC, specs, jobs=1, log=lambda line: None)
        built = [f.result() for f in libraries]
        runtime.result()
    return built


@pytest.fixture(scope="session")
def torch_bce(tmp_path_factory):
    """``bce_grad.torch`` on a small package, reached cold from 4 threads; returns a record."""
    torch = pytest.importorskip("torch", reason="PyTorch is not installed (pip install "
                                "'bce-grad[torch]')")
    from bce_grad.torch import _build

    package = tmp_path_factory.mktemp("bce_grad_torch_pkg")
    built = build_cold(_build.library_path, package, package_specs())

    import bce_grad.torch

    bce_grad.torch.set_package(package)
    calls = first_calls(torch)
    barrier = threading.Barrier(len(calls))

    def first_call(args):
        barrier.wait()
        g, x, y, w = args
        return torch.ops.bce_grad.binary_cross_entropy_backward(g, x, y, w, 1)

    with concurrent.futures.ThreadPoolExecutor(len(calls)) as pool:
        results = list(pool.map(first_call, [inputs for _, _, inputs in calls]))
    yield {"module": bce_grad.torch, "package": package, "libraries": built,
           "cache_root": _build.cache_root(), "first_calls": list(zip(calls, results))}
    bce_grad.torch.disable()
