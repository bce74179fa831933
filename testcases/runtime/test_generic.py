"""Generic strided kernels: every broadcast pattern of ranks 1-8 served, bit for bit the golden.

The package here holds generic kernels only (no fast path), so every call below runs one:
float32 at every canonical rank, float16 and bfloat16 at ranks 1-3, and the float32-input
kernels with float16 / bfloat16 outputs at ranks 1-3 (mixed input dtypes and ``out_dtype``).
"""
from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest

from bce_grad.golden import binary_cross_entropy_grad_golden as golden
from testcases.runtime.conftest import SOC

NP = {"float16": np.float16, "bfloat16": ml_dtypes.bfloat16, "float32": np.float32}
SMALL_RANKS = (1, 2, 3)


def generic_specs():
    from bce_grad.runtime.kernel_set import KernelSpec, generic_set

    specs = generic_set(["float32"])
    specs += [KernelSpec((d,) * 4, d, "mean", f"strided{r}")
              for d in ("float16", "bfloat16") for r in SMALL_RANKS]
    specs += [KernelSpec(("float32",) * 4, out, "mean", f"strided{r}")
              for out in ("float16", "bfloat16") for r in SMALL_RANKS]
    return specs


@pytest.fixture(scope="module")
def generic(tmp_path_factory, runtime_library):
    from bce_grad.runtime import Runtime
    from bce_grad.runtime.kernel_set import build_package

    out = tmp_path_factory.mktemp("bce_grad_generic_pkg")
    build_package(out, SOC, generic_specs(), jobs=2, log=lambda line: None)
    with Runtime(out, library=runtime_library) as rt:
        yield rt


def _pattern(rng, rank):
    """x's shape and, per other input, a shape that broadcasts to it (dims dropped, 1s)."""
    x = tuple(int(d) for d in rng.integers(2, 4, rank))
    shapes = []
    for _ in range(3):
        keep = int(rng.integers(0, rank + 1))
        shapes.append(tuple(1 if rng.random() < 0.4 else d for d in x[rank - keep:]))
    return x, shapes


def _arrays(rng, x_shape, shapes, dtypes):
    x = rng.uniform(0.02, 0.98, x_shape).astype(NP[dtypes[0]])
    y = rng.uniform(0.0, 1.0, shapes[0]).astype(NP[dtypes[1]])
    g = rng.standard_normal(shapes[1]).astype(NP[dtypes[2]])
    w = rng.uniform(0.1, 2.0, shapes[2]).astype(NP[dtypes[3]])
    return g, x, y, w


def _bits(a):
    return a.view(np.uint16 if a.dtype.itemsize == 2 else np.uint32)


def _check(rt, g, x, y, w, reduction, out_dtype=None):
    got = rt.backward(g, x, y, w, reduction, out_dtype=out_dtype)
    want = golden(x=x.astype(np.float32), y=y.astype(np.float32), grad_output=g.astype(np.float32),
                  weight=None if w is None else w.astype(np.float32), reduction=reduction, compute_dtype="float32",
                  out_dtype=out_dtype or str(x.dtype))
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(_bits(got), _bits(want))


@pytest.mark.parametrize("rank", range(1, 9))
def test_float32_random_patterns_of_every_rank(generic, rank):
    from bce_grad.runtime import tiling

    rng = np.random.default_rng(100 + rank)
    seen = set()
    for trial in range(12):
        x_shape, shapes = _pattern(rng, rank)
        g, x, y, w = _arrays(rng, x_shape, shapes, ("float32",) * 4)
        w = None if trial % 3 == 0 else w
        reduction = ("mean", "none", "sum")[trial % 3]
        _check(generic, g, x, y, w, reduction)
        seen.add(len(tiling([a.shape for a in (x, y, g)], lib=generic._lib)[0][0]))
    # and one pattern no axis of which merges with its neighbour (y and weight broadcast on
    # alternate axes), so the kernel of this very rank runs
    x_shape = tuple(2 + i % 2 for i in range(rank))
    shapes = [tuple(1 if i % 2 else d for i, d in enumerate(x_shape)), x_shape,
              tuple(d if i % 2 else 1 for i, d in enumerate(x_shape))]
    g, x, y, w = _arrays(rng, x_shape, shapes, ("float32",) * 4)
    _check(generic, g, x, y, w, "mean")
    seen.add(len(tiling([a.shape for a in (x, y, g, w)], lib=generic._lib)[0][0]))
    assert max(seen) == rank, seen


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_dtypes_on_patterns_outside_the_fast_set(generic, dtype):
    rng = np.random.default_rng(7)
    x = rng.uniform(0.02, 0.98, (3, 4, 5)).astype(NP[dtype])
    y = rng.uniform(0, 1, (3, 1, 5)).astype(NP[dtype])          # ddd_d1d_... a rank-3 pattern
    g = rng.standard_normal((4, 1)).astype(NP[dtype])
    w = rng.uniform(0.1, 2, (3, 1, 1)).astype(NP[dtype])
    for reduction in ("mean", "sum"):
        _check(generic, g, x, y, w, reduction)
        _check(generic, g, x, y, None, reduction)


def test_mixed_dtypes_and_out_dtype_run_the_float32_kernels_exactly(generic):
    rng = np.random.default_rng(8)
    x = rng.uniform(0.02, 0.98, (4, 6)).astype(np.float16)
    y = rng.uniform(0, 1, (4, 1)).astype(ml_dtypes.bfloat16)
    g = rng.standard_normal((6,)).astype(np.float32)
    w = rng.uniform(0.1, 2, (4, 6)).astype(np.float16)
    for out_dtype in ("float32", "float16", "bfloat16"):
        got = generic.backward(g, x, y, w, "mean", out_dtype=out_dtype)
        want = golden(x=x.astype(np.float32), y=y.astype(np.float32), grad_output=g, weight=w.astype(np.float32), reduction="mean",
                      compute_dtype="float32", out_dtype=out_dtype)
        np.testing.assert_array_equal(_bits(got), _bits(want))
    x32 = x.astype(np.float32)  # uniform float32 inputs, a float16 result
    _check(generic, g, x32, y.astype(np.float32), None, "sum", out_dtype="float16")


def test_strided_and_transposed_inputs(generic):
    rng = np.random.default_rng(9)
    x = rng.uniform(0.02, 0.98, (5, 3, 4)).astype(np.float32)
    y = np.ascontiguousarray(rng.uniform(0, 1, (4, 3, 5)).astype(np.float32)).transpose(2, 1, 0)
    g = rng.standard_normal((3, 8)).astype(np.float32)[:, ::2]
    w = rng.uniform(0.1, 2, (5, 1, 1)).astype(np.float32)
    assert not y.flags.c_contiguous and not g.flags.c_contiguous
    _check(generic, g, x, y, w, "mean")


def test_a_rank_without_its_generic_kernel_names_it(generic):
    from bce_grad.runtime import KernelNotInPackage

    x = np.full((2, 3, 2, 3), 0.5, np.float16)
    y = np.zeros((2, 1, 2, 1), np.float16)
    with pytest.raises(KernelNotInPackage, match=r"has no kernel for the broadcast pattern "
                       r"dddd_d1d1_dddd .*or its generic kernel \(strided4\)"):
        generic.backward(x, x, y, None, "mean")
