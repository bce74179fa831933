"""The DSL's conversions, compares, selects and composite ops, compiled with TVM and run.

References are numpy's, computed independently: rounding modes from ``np.rint``/``floor``/
``ceil``/``trunc``, saturation by clipping in float64, compares and selects elementwise.
"""
from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest
from tvm import te

from bce_grad.cann_compat.errors import UnsupportedApiError
from bce_grad.host_backend import dsl as tbe
from bce_grad.host_backend import tvm_shim as tvm
from bce_grad.host_backend.errors import OpError
from testcases.backend.dsl_harness import build_and_run

FLOATS = {"float32": np.float32, "float16": np.float16, "bfloat16": ml_dtypes.bfloat16}
INTS = {"int8": np.int8, "uint8": np.uint8, "int32": np.int32, "int64": np.int64}
# ties, fractions of both signs, values past every integer range, and a NaN
SPECIAL = [-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, -0.75, 0.75, 3.25, -3.25, 127.5, 128.0, 255.0,
           256.0, -129.0, 300.0, -300.0, 65504.0, -65504.0, 0.0, np.nan]


def _half_away(values: np.ndarray) -> np.ndarray:
    return np.sign(values) * np.floor(np.abs(values) + 0.5)


ROUNDINGS = {"round": np.rint, "floor": np.floor, "ceil": np.ceil, "trunc": np.trunc,
             "round_half_up": _half_away}


def _saturated(values: np.ndarray, dtype) -> np.ndarray:
    info = np.iinfo(dtype)
    wide = np.nan_to_num(values.astype(np.float64), nan=0.0)
    return np.clip(wide, info.min, info.max).astype(dtype)


def _inputs(dtype: str) -> np.ndarray:
    rng = np.random.default_rng(11)
    values = np.concatenate([np.array(SPECIAL, np.float64), rng.uniform(-200, 200, 200)])
    return values.astype(np.float32).astype(FLOATS[dtype])


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("mode", ROUNDINGS)
def test_rounding_ops_round_and_saturate_into_int32(mode, dtype, tmp_path):
    x = _inputs(dtype)
    op = getattr(tbe, mode)
    out, _ = build_and_run(lambda t: op(t), [x], [dtype], [x.shape], x.shape, np.int32, tmp_path)
    want = _saturated(ROUNDINGS[mode](x.astype(np.float64)), np.int32)
    assert np.array_equal(out, want), (x[out != want], out[out != want], want[out != want])


def test_rounding_saturates_past_int32(tmp_path):
    x = np.array([3e9, -3e9, 2147483520.0, -2147483648.0, np.inf, -np.inf], np.float32)
    out, _ = build_and_run(lambda t: tbe.floor(t), [x], ["float32"], [x.shape], x.shape, np.int32,
                           tmp_path)
    assert out.tolist() == [2**31 - 1, -2**31, 2147483520, -2**31, 2**31 - 1, -2**31]


def test_round_keeps_a_float_dtype_when_asked(tmp_path):
    x = np.array([-2.5, 0.5, 1.5, 2.4], np.float16)
    out, _ = build_and_run(lambda t: tbe.round(t, "float16"), [x], ["float16"], [x.shape],
                           x.shape, np.float16, tmp_path)
    assert out.tolist() == [-2.0, 0.0, 2.0, 2.0]


@pytest.mark.parametrize("src", ["float32", "float16"])
@pytest.mark.parametrize("dst", INTS)
def test_cast_to_an_integer_truncates_and_saturates(src, dst, tmp_path):
    x = _inputs(src)
    out, _ = build_and_run(lambda t: tbe.cast_to(t, dst), [x], [src], [x.shape], x.shape,
                           INTS[dst], tmp_path)
    through = x.astype(np.float16) if src == "float32" and dst in ("int8", "uint8") else x
    want = _saturated(np.trunc(through.astype(np.float64)), INTS[dst])
    assert np.array_equal(out, want), (x[out != want], out[out != want], want[out != want])


def test_cast_float16_to_int8_with_fractions_subtracts_a_half(tmp_path):
    """CANN: f1628IntegerFlag=False says the data holds fractions; 0.5 comes off first."""
    x = np.array([2.7, 2.5, 0.25, -1.2, 100.0], np.float16)
    out, _ = build_and_run(lambda t: tbe.cast_to(t, "int8", False), [x], ["float16"], [x.shape],
                           x.shape, np.int8, tmp_path)
    assert out.tolist() == np.trunc((x - np.float16(0.5)).astype(np.float64)).astype(np.int8).tolist()


@pytest.mark.parametrize("src", ["int8", "uint8", "int32", "int64"])
@pytest.mark.parametrize("dst", ["float32", "float16", "bfloat16"])
def test_cast_from_an_integer_rounds_to_nearest(src, dst, tmp_path):
    info = np.iinfo(INTS[src])
    rng = np.random.default_rng(3)
    x = rng.integers(info.min, info.max, 300, dtype=INTS[src], endpoint=True)
    out, _ = build_and_run(lambda t: tbe.cast_to(t, dst), [x], [src], [x.shape], x.shape,
                           FLOATS[dst], tmp_path)
    with np.errstate(over="ignore"):  # past float16's range is inf, on both sides
        want = x.astype(np.float32).astype(FLOATS[dst])  # through float32, as CANN converts
    assert np.array_equal(out.view(np.uint8), want.view(np.uint8))


def test_cast_between_integers_saturates_and_bool_is_zero_or_one(tmp_path):
    x = np.array([-300, -128, -1, 0, 1, 127, 255, 70000], np.int32)
    out, _ = build_and_run(lambda t: tbe.cast_to(t, "int8"), [x], ["int32"], [x.shape], x.shape,
                           np.int8, tmp_path)
    assert out.tolist() == [-128, -128, -1, 0, 1, 127, 127, 127]
    flags = np.array([True, False, True], np.bool_)
    out, _ = build_and_run(lambda t: tbe.cast_to(t, "float16"), [flags], ["bool"], [flags.shape],
                           flags.shape, np.float16, tmp_path)
    assert out.tolist() == [1.0, 0.0, 1.0]


def test_cast_refuses_an_unknown_dtype():
    x = tvm.placeholder((4,), dtype="float32", name="x")
    with pytest.raises(OpError, match=r"E80008.*cast_to.*but actually is \[complex64\]"):
        tbe.cast_to(x, "complex64")
    with pytest.raises(OpError, match=r"E80008.*floor.*but actually is \[bool\]"):
        tbe.floor(x, "bool")


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("operation", ["eq", "ne", "lt", "gt", "ge", "le"])
def test_vcmp_against_a_tensor_and_a_scalar(operation, dtype, tmp_path):
    rng = np.random.default_rng(5)
    a = rng.integers(-3, 3, 64).astype(FLOATS[dtype])
    b = rng.integers(-3, 3, 64).astype(FLOATS[dtype])
    a[0] = np.nan
    ref = getattr(np, {"eq": "equal", "ne": "not_equal", "lt": "less", "gt": "greater",
                       "ge": "greater_equal", "le": "less_equal"}[operation])
    out, _ = build_and_run(lambda x, y: tbe.vcmp(x, y, operation), [a, b], [dtype] * 2,
                           [a.shape] * 2, a.shape, np.bool_, tmp_path)
    assert np.array_equal(out, ref(a.astype(np.float64), b.astype(np.float64)))
    out, _ = build_and_run(lambda x: tbe.vcmp(x, 1.0, operation), [a], [dtype], [a.shape],
                           a.shape, np.bool_, tmp_path)
    assert np.array_equal(out, ref(a.astype(np.float64), 1.0))


@pytest.mark.parametrize("dtype", FLOATS)
def test_vsel_and_vcmpsel_pick_elementwise(dtype, tmp_path):
    rng = np.random.default_rng(6)
    a = rng.uniform(-2, 2, 96).astype(FLOATS[dtype])
    b = rng.uniform(-2, 2, 96).astype(FLOATS[dtype])
    out, _ = build_and_run(lambda x, y: tbe.vsel(tbe.vcmp(x, y, "gt"), x, 0.5), [a, b],
                           [dtype] * 2, [a.shape] * 2, a.shape, a.dtype, tmp_path)
    assert np.array_equal(out, np.where(a > b, a, FLOATS[dtype](0.5)))
    out, _ = build_and_run(lambda x, y: tbe.vcmpsel(x, y, "le"), [a, b], [dtype] * 2,
                           [a.shape] * 2, a.shape, a.dtype, tmp_path)
    assert np.array_equal(out, np.where(a <= b, a, b))
    out, _ = build_and_run(lambda x: tbe.vcmpsel(x), [a], [dtype], [a.shape], a.shape, a.dtype,
                           tmp_path)  # CANN's defaults: rhs 2.0, slhs lhs, srhs 0.0
    assert np.array_equal(out, np.where(a < 2.0, a, FLOATS[dtype](0)))


def test_vsel_of_two_scalars_is_float16_and_bit_mode_is_unsupported(tmp_path):
    a = np.array([1.0, -1.0, 3.0], np.float32)
    out, _ = build_and_run(lambda x: tbe.vsel(tbe.vcmp(x, 0.0, "gt"), 1.0, -1.0), [a],
                           ["float32"], [a.shape], a.shape, np.float16, tmp_path)
    assert out.tolist() == [1.0, -1.0, 1.0]
    x = tvm.placeholder((16,), dtype="float16", name="x")
    with pytest.raises(UnsupportedApiError, match=r"vcmp\(mode='bit'\)"):
        tbe.vcmp(x, 0.0, "lt", mode="bit")
    with pytest.raises(OpError, match=r"E80000.*operation.*but actually is \[lte\]"):
        tbe.vcmp(x, 0.0, "lte")


def test_logic_and_bitwise_ops(tmp_path):
    p = np.array([True, True, False, False])
    q = np.array([True, False, True, False])
    for operation, ref in (("logic_and", np.logical_and), ("logic_or", np.logical_or)):
        out, _ = build_and_run(lambda x, y: tbe.vlogic(x, y, operation), [p, q], ["bool"] * 2,
                               [p.shape] * 2, p.shape, np.bool_, tmp_path)
        assert np.array_equal(out, ref(p, q))
    m = np.array([0x0F0F, 0x00FF, -1, 0], np.int16)
    n = np.array([0x3333, 0x0F0F, 5, -1], np.int16)
    for op, ref in ((tbe.vand, np.bitwise_and), (tbe.vor, np.bitwise_or)):
        out, _ = build_and_run(lambda x, y: op(x, y), [m, n], ["int16"] * 2, [m.shape] * 2,
                               m.shape, np.int16, tmp_path)
        assert np.array_equal(out, ref(m, n))
    out, _ = build_and_run(lambda x: tbe.vnot(x), [m], ["int16"], [m.shape], m.shape, np.int16,
                           tmp_path)
    assert np.array_equal(out, np.invert(m))
    with pytest.raises(OpError, match="E80008.*vand"):
        tbe.vand(tvm.placeholder((4,), "float16", "a"), tvm.placeholder((4,), "float16", "b"))


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_activations_and_composites(dtype, tmp_path):
    rng = np.random.default_rng(8)
    kind = FLOATS[dtype]
    a = rng.uniform(-4, 4, 128).astype(kind)
    b = rng.uniform(0.5, 3, 128).astype(kind) * np.where(rng.random(128) < 0.5, -1, 1).astype(kind)
    checks = {
        "vrelu": (lambda x, y: tbe.vrelu(x), np.maximum(a, kind(0))),
        "vlrelu small": (lambda x, y: tbe.vlrelu(x, 0.2), np.maximum(a, a * kind(0.2))),
        "vlrelu large": (lambda x, y: tbe.vlrelu(x, 3.0), np.minimum(a, a * kind(3.0))),
        "clip": (lambda x, y: tbe.clip(x, 1.5, -0.5), np.minimum(np.maximum(a, kind(-0.5)),
                                                                  kind(1.5))),
        "vaxpy": (lambda x, y: tbe.vaxpy(x, y, 2.5), (a * kind(2.5)).astype(kind) + b),
    }
    for name, (compute, want) in checks.items():
        out, _ = build_and_run(compute, [a, b], [dtype] * 2, [a.shape] * 2, a.shape, kind, tmp_path)
        assert np.array_equal(out, want.astype(kind)), name
    out, _ = build_and_run(lambda x, y: tbe.vmod(x, y), [a, b], [dtype] * 2, [a.shape] * 2,
                           a.shape, kind, tmp_path)
    wa, wb = a.astype(np.float32), b.astype(np.float32)
    want = (wa - wb * np.floor(wa / wb).astype(np.float32)).astype(kind)  # CANN's float32 sequence
    assert np.array_equal(out, want)
    assert np.allclose(out.astype(np.float64), np.mod(a.astype(np.float64), b.astype(np.float64)),
                       atol=2e-3 if dtype == "float16" else 1e-5)


def test_rounding_ops_with_dynamic_dims_and_broadcast(tmp_path):
    x = np.array([[0.5, 1.5, -2.5]], np.float32)
    n = te.var("n", "int64")
    out, _ = build_and_run(lambda t: tbe.round(tbe.broadcast(t, (n, 3))), [x], ["float32"],
                           [(1, 3)], (4, 3), np.int32, tmp_path)
    assert out.tolist() == [[0, 2, -2]] * 4


@pytest.mark.parametrize("dtype", ["float32", "float16", "int32"])
def test_calculate_one_or_zero_is_one_for_positives(dtype, tmp_path):
    kind = {"float32": np.float32, "float16": np.float16, "int32": np.int32}[dtype]
    x = np.array([-3, -1, 0, 1, 2, 70000 if dtype != "float16" else 60000, 5], kind)
    out, _ = build_and_run(lambda t: tbe.calculate_one_or_zero(t, t.shape, dtype), [x], [dtype],
                           [x.shape], x.shape, kind, tmp_path)
    assert out.tolist() == (x > 0).astype(kind).tolist()
    if dtype == "float32":  # CANN's sequence: a subnormal is scaled, not rounded up to 1
        tiny = np.array([2.0 ** -127, 2.0 ** -126], np.float32)
        out, _ = build_and_run(lambda t: tbe.calculate_one_or_zero(t, t.shape, dtype), [tiny],
                               [dtype], [tiny.shape], tiny.shape, kind, tmp_path)
        assert out.tolist() == [0.5, 1.0]
