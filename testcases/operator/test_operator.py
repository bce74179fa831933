"""The operator on the host backend against the golden: dtypes, reductions, weight, broadcast, SoCs."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from bce_grad.golden import binary_cross_entropy_grad_golden as golden
from testcases.operator.cases import (
    BROADCASTS, DTYPES, REDUCTIONS, SOC_DTYPES, ULP_TOLERANCE, X_SHAPE, make_inputs, ulp_distance,
)
from bce_grad.api import binary_cross_entropy_backward as bce_backward
from bce_grad.kernel_cache import cache_dir


def _run(data: dict, reduction: str, soc: str = "Ascend910B1", out_dtype: str | None = None):
    return bce_backward(data["grad_output"], data["x"], data["y"], data.get("weight"), reduction,
                        soc=soc, out_dtype=out_dtype)


def _check(out: np.ndarray, data: dict, reduction: str, dtype: str) -> None:
    """Bit for bit against the float32-compute golden; within ULP_TOLERANCE of float64."""
    want = golden(x=data["x"], y=data["y"], grad_output=data["grad_output"], weight=data.get("weight"), reduction=reduction,
                  compute_dtype="float32", out_dtype=dtype)
    assert out.dtype == want.dtype and out.shape == data["x"].shape
    np.testing.assert_array_equal(np.atleast_1d(out).view(np.uint8), np.atleast_1d(want).view(np.uint8))
    exact = golden(x=data["x"], y=data["y"], grad_output=data["grad_output"], weight=data.get("weight"), reduction=reduction)
    assert ulp_distance(np.atleast_1d(out), np.atleast_1d(exact)).max() <= ULP_TOLERANCE[dtype]


@pytest.mark.parametrize("weight", [True, False], ids=["weight", "no_weight"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_dtype_reduction_weight_grid(dtype, reduction, weight):
    shapes = {"x": X_SHAPE, "y": X_SHAPE, "grad_output": X_SHAPE}
    if weight:
        shapes["weight"] = X_SHAPE
    data = make_inputs(np.random.default_rng(10), dtype, shapes)
    _check(_run(data, reduction), data, reduction, dtype)


@pytest.mark.parametrize("pattern", BROADCASTS)
@pytest.mark.parametrize("operand", ["y", "grad_output", "weight"])
def test_broadcast_patterns(operand, pattern):
    shapes = {"x": X_SHAPE, "y": X_SHAPE, "grad_output": X_SHAPE, "weight": X_SHAPE}
    shapes[operand] = BROADCASTS[pattern]
    data = make_inputs(np.random.default_rng(11), "float32", shapes)
    _check(_run(data, "mean"), data, "mean", "float32")


@pytest.mark.parametrize("soc, dtype", SOC_DTYPES)
def test_every_soc_and_dtype_it_supports(soc, dtype):
    shapes = {"x": (7, 33), "y": (7, 33), "grad_output": (33,), "weight": (7, 1)}
    data = make_inputs(np.random.default_rng(12), dtype, shapes)
    _check(_run(data, "mean", soc=soc), data, "mean", dtype)


def test_one_kernel_serves_every_shape_of_a_pattern(tmp_path, monkeypatch):
    # A cache of its own, so the count is exact (it counted new files in the suite's cache, where
    # an earlier test had built (1, 129)'s kernel: x (1, 129) with grad (129,) is the same-shape
    # pattern once the leading 1 goes, a kernel of its own).
    monkeypatch.setenv("BCE_GRAD_CACHE", str(tmp_path / "cache"))
    for shape in [(2, 3), (40, 17), (3, 129), (5, 1000)]:
        data = make_inputs(np.random.default_rng(13), "float16", {
            "x": shape, "y": shape, "grad_output": (shape[1],)})
        _check(_run(data, "mean"), data, "mean", "float16")
    assert len(list(cache_dir().glob("*.so"))) == 1


@pytest.mark.parametrize("shape", [(), (1,), (4097,), (2, 1, 3, 1, 2, 1, 2, 3)])
def test_odd_shapes(shape):
    data = make_inputs(np.random.default_rng(14), "float32", {
        "x": shape, "y": shape, "grad_output": shape})
    _check(_run(data, "mean"), data, "mean", "float32")


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_empty_x_returns_empty_without_a_kernel(reduction):
    data = {"x": np.zeros((2, 0), np.float32), "y": np.zeros((2, 0), np.float32),
            "grad_output": np.zeros((), np.float32)}
    out = _run(data, reduction)
    assert out.shape == (2, 0) and out.dtype == np.float32


@pytest.mark.parametrize("dtype", DTYPES)
def test_edge_values(dtype):
    x = np.array([0.0, 1.0, 0.0, 1.0, 0.5, 1.5, -0.5, np.nan, 0.5, np.inf, -np.inf, 0.3, 1e-30])
    y = np.array([0.0, 1.0, 1.0, 0.0, 0.5, 0.0, 1.0, 0.5, np.nan, 0.0, 1.0, 0.3, 0.0])
    data = {"x": x.astype(DTYPES[dtype]), "y": y.astype(DTYPES[dtype]),
            "grad_output": np.ones_like(x).astype(DTYPES[dtype])}
    out = _run(data, "none")
    want = golden(x=data["x"], y=data["y"], grad_output=data["grad_output"], weight=None, reduction="none", compute_dtype="float32", out_dtype=dtype)
    np.testing.assert_array_equal(out.astype(np.float64), want.astype(np.float64))
    assert out[0] == 0 and out[1] == 0, "x == y in {0, 1} gives 0, not NaN (eps in float32)"
    assert np.isnan(out[7]) and np.isnan(out[8])


@pytest.mark.parametrize("dtypes, promoted", [
    (("float16", "float32", "float16"), "float32"),
    (("float16", "bfloat16", "float16"), "float32"),
    (("bfloat16", "bfloat16", "bfloat16"), "bfloat16"),
])
def test_mixed_dtypes_promote(dtypes, promoted):
    rng = np.random.default_rng(15)
    base = make_inputs(rng, "float32", {"x": (4, 6), "y": (4, 6), "grad_output": (6,)})
    data = {name: arr.astype(DTYPES[d]) for (name, arr), d in zip(base.items(), dtypes)}
    out = _run(data, "sum")
    assert str(out.dtype) == promoted
    want = golden(x=data["x"], y=data["y"], grad_output=data["grad_output"], weight=None, reduction="sum", compute_dtype="float32", out_dtype=promoted)
    np.testing.assert_array_equal(out.view(np.uint8), want.view(np.uint8))


def test_out_dtype_is_honoured():
    data = make_inputs(np.random.default_rng(16), "float32", {"x": (8,), "y": (8,), "grad_output": (8,)})
    out = _run(data, "none", out_dtype="float16")
    assert out.dtype == np.float16
    np.testing.assert_array_equal(out, golden(x=data["x"], y=data["y"], grad_output=data["grad_output"], weight=None,
                                              reduction="none", compute_dtype="float32", out_dtype="float16"))


def test_reduction_enum_matches_names():
    data = make_inputs(np.random.default_rng(17), "float32", {"x": (9,), "y": (9,), "grad_output": (9,)})
    for enum, name in [(0, "none"), (1, "mean"), (2, "sum")]:
        np.testing.assert_array_equal(_run(data, enum), _run(data, name))


def test_cache_is_reused_by_a_new_process(tmp_path):
    env = dict(os.environ, BCE_GRAD_CACHE=str(tmp_path))
    script = ("import numpy as np; from bce_grad.api import binary_cross_entropy_backward as f; "
              "a = np.full((3, 7), 0.25, np.float32); print(float(f(a, a, a * 0, None, 'sum')[0, 0]))")
    first = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                           check=True)
    built = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "kernels").glob("*.so")}
    second = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                            check=True)
    assert first.stdout == second.stdout and float(first.stdout) == pytest.approx(0.25 * 0.25 / 0.1875)
    assert len(built) == 1
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "kernels").glob("*.so")} == built
    meta = json.loads(next((tmp_path / "kernels").glob("bce_grad_*.json")).read_text())  # not targets_*.json
    assert meta["cases"][0]["rule"] == "Elementwise"


@pytest.mark.parametrize("offset", [0, 4, 8, 32, 60])
def test_unaligned_arrays_are_safe(offset):
    """TVM's code assumes 64-byte aligned buffers; numpy arrays at any offset must still work."""
    raw = np.empty(1027 * 4 + 64, np.uint8)
    x = raw[offset:offset + 1027 * 4].view(np.float32)
    x[:] = np.linspace(0.05, 0.95, 1027, dtype=np.float32)
    data = {"x": x, "y": x[::-1].copy(), "grad_output": np.float32(1.5) * np.ones_like(x)}
    _check(_run(data, "mean"), data, "mean", "float32")
