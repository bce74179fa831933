"""The mean coefficient as CANN rounds it, on every path (issue 15, "CANN fidelity").

CANN computes ``1/numel(x)`` two ways: its op tiling (``op_tiling/binary_cross_entropy_grad.cc``)
divides ``1.0f`` by each dim of x in float32, in order, and hands the result to dynamic kernels;
its static entry passes ``1.0 / numel`` (a double) to ``tvm.const``, i.e. ``float32(1 / numel)``.
They differ by 1 ulp for 8,735 of the 39,601 2-D shapes with dims in 1..199, e.g. (7, 11).
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from bce_grad.golden import binary_cross_entropy_grad_golden as golden
from bce_grad.golden import mean_coefficient
from impl.binary_cross_entropy_grad import mean_cof_constant, mean_cof_tiling
from impl.dynamic.binary_cross_entropy_grad import binary_cross_entropy_grad_tiling

SOC = "Ascend910B1"
#: CANN's two coefficients differ here: 1.0f / 7 / 11 is one ulp above float32(1 / 77).
DIFFERS = (7, 11)


def _cann_tiling_cof(shape) -> np.float32:
    """``1.0f / d0 / d1 / ...`` in numpy float32, written out independently of the code tested."""
    cof = np.float32(1.0)
    for dim in shape:
        cof = np.float32(cof) / np.float32(dim)
    return np.float32(cof)


def _bits(value) -> int:
    return int(np.float32(value).view(np.uint32))


def _python_cof(shape) -> float:
    return binary_cross_entropy_grad_tiling([{"shape": list(shape)}], [], {"reduction": "mean"},
                                            {"reduce_mean_cof_dtype": "float32"})["cof"]


def test_two_d_sweep_python_and_cpp_tiling_give_cann_bits(runtime_library):
    """Every 2-D shape with dims 1..199: Python tiling == C++ tiling == CANN's float32 sequence,
    bit for bit; and the static constant is float32(1 / numel)."""
    from bce_grad.runtime import load_library, tiling

    lib = load_library(runtime_library)
    differ = 0
    for d0 in range(1, 200):
        for d1 in range(1, 200):
            shape = (d0, d1)
            want = _bits(_cann_tiling_cof(shape))
            cpp = tiling([shape, (1, d1), ()], "mean", lib)[1]
            assert _bits(cpp) == _bits(_python_cof(shape)) == want, shape
            assert _bits(mean_coefficient(shape)) == want, shape
            constant = np.float32(mean_cof_constant(shape))
            assert constant == np.float32(1.0 / (d0 * d1)), shape
            differ += _bits(constant) != want
    assert differ == 8735  # issue 15's count: the sweep covers every shape where CANN's paths differ


def test_three_d_random_python_and_cpp_tiling_agree(runtime_library):
    from bce_grad.runtime import load_library, tiling

    lib = load_library(runtime_library)
    rng = np.random.default_rng(1515)
    for _ in range(3000):
        shape = tuple(int(d) for d in rng.integers(1, 1000, 3))
        want = _bits(_cann_tiling_cof(shape))
        assert _bits(tiling([shape, shape[1:], shape[2:]], "mean", lib)[1]) == want, shape
        assert _bits(_python_cof(shape)) == want, shape


def test_dim_order_matters_and_float16_tiling_rounds_the_float32_value():
    assert _bits(mean_cof_tiling(DIFFERS)) == _bits(np.nextafter(np.float32(1 / 77), np.float32(1)))
    assert _bits(mean_cof_tiling(DIFFERS[::-1])) == _bits(np.float32(1 / 77))
    fp16 = binary_cross_entropy_grad_tiling([{"shape": [7, 11]}], [], {"reduction": "mean"},
                                            {"reduce_mean_cof_dtype": "float16"})["cof"]
    assert fp16 == float(np.float16(_cann_tiling_cof(DIFFERS)))
    assert mean_coefficient(DIFFERS, "tiling", "float16") == np.float16(fp16)
    assert mean_coefficient(DIFFERS, "constant", "float16") == np.float16(1 / 77)
    assert mean_cof_tiling((3, 0, 5)) == 0.0 and mean_cof_tiling(()) == 1.0


def _inputs(dtype, shape=DIFFERS):
    rng = np.random.default_rng(77)
    x = rng.uniform(0.05, 0.95, shape).astype(dtype)
    y = rng.uniform(0, 1, shape).astype(dtype)
    g = rng.uniform(0.5, 1.5, shape).astype(dtype)
    return x, y, g


def _goldens(x, y, g, dtype):
    tiled = golden(x=x, y=y, grad_output=g, weight=None, reduction="mean", compute_dtype="float32", out_dtype=dtype, mean_cof="tiling")
    constant = golden(x=x, y=y, grad_output=g, weight=None, reduction="mean", compute_dtype="float32", out_dtype=dtype, mean_cof="constant")
    if dtype == "float32":  # a float16 result mostly rounds the 1-ulp difference away
        assert not np.array_equal(tiled, constant), "the shape should show CANN's 1-ulp difference"
    return tiled, constant


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_api_runtime_and_python_launch_use_the_tiling_cof(dtype, monkeypatch):
    """The numpy API: the native runtime's launch (C++ tiling) and the Python launch (Python
    tiling) both give the tiling coefficient's result, bit for bit."""
    from bce_grad import binary_cross_entropy_backward as backward
    from bce_grad.runtime import cache_package

    x, y, g = _inputs(dtype)
    tiled, _ = _goldens(x, y, g, dtype)
    first = backward(g, x, y, None, "mean", soc=SOC)  # compiles, registers in the runtime package
    package = cache_package.lookup(SOC)
    assert package is not None
    warm = package.try_backward(g, x, y, None, "mean", None)  # the C++ path alone
    assert warm is not None
    with monkeypatch.context() as patch:  # no runtime: the Python tiling and launch
        patch.setattr(cache_package, "package_for", lambda key, soc: None)
        patch.setattr(cache_package, "lookup", lambda soc: None)
        python_path = backward(g, x, y, None, "mean", soc=SOC)
    for out in (first, warm, python_path):
        assert out.tobytes() == tiled.tobytes()


def _entry_run(entry, dims, x, y, g, tmp_path, name, soc=SOC, scalars=None):
    from bce_grad.host_backend.build import kernel_meta_at
    from bce_grad.host_backend.launch import Kernel
    from bce_grad.host_backend.op_context import OpContext
    from bce_grad.host_backend.platform import use_soc

    dtype = str(x.dtype)
    desc = {"shape": list(dims), "dtype": dtype, "format": "ND"}  # as the kernel cache compiles
    mode = "dynamic" if -1 in dims else "static"
    with use_soc(soc), kernel_meta_at(tmp_path), OpContext(mode):
        entry(dict(desc), dict(desc), dict(desc), None, dict(desc), "mean", name)
    kernel = Kernel(tmp_path / f"{name}.json")
    out = np.empty((x.size,) if list(dims) == [-1] else x.shape, x.dtype)  # (-1,): x flattened
    arrays = [a.reshape(out.shape) for a in (x, y, g)]
    kernel([*arrays, out], scalars or {})
    return kernel, out.reshape(x.shape)


def test_static_entry_uses_float32_of_one_over_numel(tmp_path):
    from impl.binary_cross_entropy_grad import binary_cross_entropy_grad as static_entry

    x, y, g = _inputs("float32")
    _, constant = _goldens(x, y, g, "float32")
    kernel, out = _entry_run(static_entry, DIFFERS, x, y, g, tmp_path, "static_cof")
    assert all(case["scalars"] == [] for case in kernel.meta["cases"])  # a constant, no scalar
    assert "reduce_mean_cof_dtype" not in kernel.meta.get("compile_info", {})
    assert out.tobytes() == constant.tobytes()


def test_dynamic_entry_with_known_dims_uses_the_constant_and_with_unknown_dims_the_tiling(tmp_path):
    """As CANN's dynamic compute: every dim known -> ``tvm.const(1 / numel)``; a -1 dim -> the
    runtime scalar from the tiling."""
    from impl.dynamic.binary_cross_entropy_grad import binary_cross_entropy_grad as dynamic_entry

    x, y, g = _inputs("float32")
    tiled, constant = _goldens(x, y, g, "float32")
    kernel, out = _entry_run(dynamic_entry, DIFFERS, x, y, g, tmp_path, "dyn_known")
    assert all(case["scalars"] == [] for case in kernel.meta["cases"])
    assert out.tobytes() == constant.tobytes()
    scalars = binary_cross_entropy_grad_tiling([{"shape": list(DIFFERS)}], [], {"reduction": "mean"},
                                               {"reduce_mean_cof_dtype": "float32"})
    kernel, out = _entry_run(dynamic_entry, (-1,), x, y, g, tmp_path, "dyn_unknown", scalars=scalars)
    assert kernel.meta["compile_info"]["reduce_mean_cof_dtype"] == "float32"
    assert out.tobytes() == tiled.tobytes()


def test_fp16_only_soc_tiling_rounds_cof_to_float16(fp16_only_soc, tmp_path):
    """CANN's float16 branch: the tiling converts its float32 value to float16 (fp16_t)."""
    from impl.dynamic.binary_cross_entropy_grad import binary_cross_entropy_grad as dynamic_entry

    x, y, g = _inputs("float16")
    scalars = binary_cross_entropy_grad_tiling([{"shape": list(DIFFERS)}], [], {"reduction": "mean"},
                                               {"reduce_mean_cof_dtype": "float16"})
    kernel, out = _entry_run(dynamic_entry, (-1,), x, y, g, tmp_path, "dyn_fp16",
                             soc=fp16_only_soc, scalars=scalars)
    assert kernel.meta["compile_info"]["reduce_mean_cof_dtype"] == "float16"
    want = golden(x=x, y=y, grad_output=g, weight=None, reduction="mean", compute_dtype="float16", mean_cof="tiling")
    np.testing.assert_array_equal(out, want)
    assert math.isclose(scalars["cof"], 1 / 77, rel_tol=1e-3)
