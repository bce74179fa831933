"""Native runtime results: bit for bit the golden's float32 variant, on every dtype and reduction."""
from __future__ import annotations

import threading
from pathlib import Path

import ml_dtypes
import numpy as np
import pytest

from bce_grad.golden import binary_cross_entropy_grad_golden as golden
from testcases.runtime.conftest import DTYPES

NP = {"float16": np.float16, "bfloat16": ml_dtypes.bfloat16, "float32": np.float32}
#: x, y, grad_output, weight shapes per broadcast case (patterns in conftest.PATTERNS).
SHAPES = {"same": ((37,), (37,), (37,), (37,)),
          "rowcol": ((6, 5), (6, 5), (6, 1), (5,))}


def _inputs(rng, dtype, case, with_weight, scale=1):
    sx, sy, sg, sw = SHAPES[case]
    if scale > 1:
        sx, sy, sg, sw = [tuple(d * scale for d in s) if s == sx else s for s in (sx, sy, sg, sw)]
        sg = (sx[0], 1) if case == "rowcol" else sx
        sw = (sx[-1],)
        sy = sx
    cast = NP[dtype]
    x = rng.uniform(0.02, 0.98, sx).astype(cast)
    y = rng.uniform(0.0, 1.0, sy).astype(cast)
    g = rng.standard_normal(sg).astype(cast)
    w = rng.uniform(0.1, 2.0, sw).astype(cast) if with_weight else None
    return g, x, y, w


def _bits(a):
    return a.view(np.uint16 if a.dtype.itemsize == 2 else np.uint32)


def assert_bit_exact(got, g, x, y, w, reduction, dtype):
    want = golden(x=x, y=y, grad_output=g, weight=w, reduction=reduction, compute_dtype="float32", out_dtype=dtype)
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(_bits(got), _bits(want))


@pytest.mark.parametrize("case", sorted(SHAPES))
@pytest.mark.parametrize("with_weight", [False, True], ids=["no_weight", "weight"])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_bit_exact_vs_golden(runtime, dtype, reduction, with_weight, case):
    g, x, y, w = _inputs(np.random.default_rng(7), dtype, case, with_weight)
    assert_bit_exact(runtime.backward(g, x, y, w, reduction), g, x, y, w, reduction, dtype)


def test_out_argument_and_aclnn_enum(runtime):
    g, x, y, w = _inputs(np.random.default_rng(1), "float32", "rowcol", True)
    out = np.full(x.shape, np.nan, np.float32)
    assert runtime.backward(g, x, y, w, 2, out=out) is out  # 2: sum, the plain kernel
    assert_bit_exact(out, g, x, y, w, "sum", "float32")


def test_strided_and_read_only_inputs(runtime):
    rng = np.random.default_rng(2)
    x = rng.uniform(0.02, 0.98, (6, 5)).astype(np.float32)
    y = np.ascontiguousarray(rng.uniform(0, 1, (5, 6)).astype(np.float32)).T  # (6, 5) transposed
    g = rng.standard_normal((6, 2)).astype(np.float32)[:, :1]                 # (6, 1) strided
    w = np.frombuffer(rng.uniform(0.1, 2, 5).astype(np.float32).tobytes(), np.float32)  # read-only
    assert not y.flags.c_contiguous and not g.flags.c_contiguous and not w.flags.writeable
    for reduction in ("mean", "none"):
        assert_bit_exact(runtime.backward(g, x, y, w, reduction), g, x, y, w, reduction, "float32")


def test_one_element_and_empty(runtime):
    x, y, g = (np.array(v, np.float32) for v in (0.25, 1.0, 2.0))
    assert_bit_exact(runtime.backward(g, x, y, None, "mean"), g, x, y, None, "mean", "float32")
    empty = np.zeros((0, 5), np.float32)
    out = runtime.backward(empty, empty, empty, None, "mean")
    assert out.shape == (0, 5)


def test_four_threads_concurrently(runtime):
    """4 threads, small (serial) and large (parallel) calls mixed: every result bit-exact."""
    errors = []

    def work(seed):
        rng = np.random.default_rng(seed)
        try:
            for i in range(24):
                dtype = DTYPES[(seed + i) % 3]
                case = ("same", "rowcol")[i % 2]
                scale = 100 if i % 6 == 0 else 1  # (600, 500): above the serial threshold
                g, x, y, w = _inputs(rng, dtype, case, bool(i % 3), scale)
                reduction = ("none", "mean", "sum")[i % 3]
                assert_bit_exact(runtime.backward(g, x, y, w, reduction), g, x, y, w, reduction, dtype)
        except Exception as err:  # noqa: BLE001 - reported by the main thread
            errors.append(err)

    threads = [threading.Thread(target=work, args=(seed,)) for seed in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[0]


def test_same_call_shape_again_reads_each_calls_data(runtime):
    """Calls of one signature reuse the thread's memo (kernel, pattern, scalars), never its data:
    new inputs, a new out, another reduction and another dtype in between, each result exact."""
    rng = np.random.default_rng(11)
    for i in range(4):
        for dtype in ("float32", "float16"):
            g, x, y, w = _inputs(rng, dtype, "rowcol", with_weight=i % 2 == 0)
            reduction = ("mean", "sum")[i % 2]
            out = np.empty(x.shape, NP[dtype])
            assert runtime.backward(g, x, y, w, reduction, out=out) is out
            assert_bit_exact(out, g, x, y, w, reduction, dtype)


def test_same_call_shape_again_still_refuses_out_on_an_input(runtime):
    """The memo holds what a signature decides; out overlapping an input is checked every call."""
    from bce_grad.host_backend.errors import OpValueError

    g, x, y, w = _inputs(np.random.default_rng(3), "float32", "same", True)
    runtime.backward(g, x, y, w, "mean", out=np.empty_like(x))
    with pytest.raises(OpValueError, match=r"\[E80000\] .*parameter\[out\] is unusable: it should "
                                           r"not overlap the input\(s\) \['y'\]"):
        runtime.backward(g, x, y, w, "mean", out=y)


def test_same_call_shape_on_another_package_uses_that_package(runtime, package_dir,
                                                             runtime_library):
    """A memo belongs to its package: the same call on a package without the kernel is refused."""
    import json

    from bce_grad.runtime import KernelNotInPackage, Runtime

    manifest = json.loads((Path(package_dir) / "manifest.json").read_text())
    manifest["kernels"] = []
    g, x, y, w = _inputs(np.random.default_rng(4), "float32", "same", False)
    runtime.backward(g, x, y, w, "mean")
    with Runtime.in_memory(manifest, library=runtime_library) as empty:
        with pytest.raises(KernelNotInPackage, match=r"has no kernel for the broadcast pattern d_d_d"):
            empty.backward(g, x, y, w, "mean")
    assert_bit_exact(runtime.backward(g, x, y, w, "mean"), g, x, y, w, "mean", "float32")
