"""Every DSL op, compiled with TVM and run, against numpy, per dtype, with broadcast and dynamic dims."""
from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest
from tvm import te

from bce_grad.host_backend import dsl as tbe
from bce_grad.host_backend.errors import OpError
from testcases.backend.dsl_harness import build_and_run

DTYPES = {"float32": np.float32, "float16": np.float16, "bfloat16": ml_dtypes.bfloat16}

# Each op: (DSL call on placeholders, numpy reference computed in the op's own dtype).
BINARY = {
    "vadd": (tbe.vadd, np.add), "vsub": (tbe.vsub, np.subtract), "vmul": (tbe.vmul, np.multiply),
    "vdiv": (tbe.vdiv, np.divide), "vmax": (tbe.vmax, np.maximum), "vmin": (tbe.vmin, np.minimum),
}
SCALAR = {
    "vadds": (tbe.vadds, lambda a, s: a + s), "vmuls": (tbe.vmuls, lambda a, s: a * s),
    "vmaxs": (tbe.vmaxs, np.maximum), "vmins": (tbe.vmins, np.minimum),
}
UNARY = {
    "vabs": (tbe.vabs, np.abs), "vexp": (tbe.vexp, np.exp), "vlog": (tbe.vlog, np.log),
    "vrec": (tbe.vrec, lambda a: 1 / a),
}
# exp/log are libm calls in numpy and polynomial approximations in LLVM: a few ulp apart.
TRANSCENDENTAL = {"vexp", "vlog"}


def _data(rng, shape, dtype, low=0.5, high=2.0):
    return rng.uniform(low, high, shape).astype(DTYPES[dtype])


def _assert_matches(out, want, dtype, op_name):
    if op_name in TRANSCENDENTAL:
        rtol = {"float32": 1e-6, "float16": 1e-3, "bfloat16": 8e-3}[dtype]
        np.testing.assert_allclose(out.astype(np.float64), want.astype(np.float64), rtol=rtol)
    else:
        assert np.array_equal(out.view(np.uint8), want.astype(out.dtype).view(np.uint8))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op_name", BINARY)
def test_binary_ops_with_dynamic_dims(op_name, dtype, tmp_path):
    rng = np.random.default_rng(1)
    a, b = _data(rng, (5, 37), dtype), _data(rng, (5, 37), dtype)
    n, m = te.var("n", "int64"), te.var("m", "int64")
    op, ref = BINARY[op_name]
    out, _ = build_and_run(op, [a, b], [dtype] * 2, [(n, m)] * 2, a.shape, a.dtype, tmp_path)
    _assert_matches(out, ref(a, b), dtype, op_name)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op_name", SCALAR)
def test_scalar_ops(op_name, dtype, tmp_path):
    rng = np.random.default_rng(2)
    a = _data(rng, (70,), dtype, -2.0, 2.0)
    op, ref = SCALAR[op_name]
    out, _ = build_and_run(lambda t: op(t, 0.75), [a], [dtype], [(te.var("n", "int64"),)],
                           a.shape, a.dtype, tmp_path)
    _assert_matches(out, ref(a, DTYPES[dtype](0.75)), dtype, op_name)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op_name", UNARY)
def test_unary_ops(op_name, dtype, tmp_path):
    rng = np.random.default_rng(3)
    a = _data(rng, (3, 65), dtype)
    op, ref = UNARY[op_name]
    out, _ = build_and_run(op, [a], [dtype], [a.shape], a.shape, a.dtype, tmp_path)
    _assert_matches(out, ref(a), dtype, op_name)


@pytest.mark.parametrize("src, dst", [("float16", "float32"), ("float32", "float16"),
                                      ("bfloat16", "float32"), ("float32", "bfloat16")])
def test_cast_to_rounds_to_nearest_even(src, dst, tmp_path):
    rng = np.random.default_rng(4)
    a = np.concatenate([_data(rng, (200,), src, -70000.0, 70000.0),
                        np.array([np.inf, -np.inf, np.nan, 1e-8, 65520.0, 0.0], np.float32)
                        .astype(DTYPES[src])])
    out, _ = build_and_run(lambda t: tbe.cast_to(t, dst), [a], [src], [(te.var("n", "int64"),)],
                           a.shape, DTYPES[dst], tmp_path)
    assert np.array_equal(out.view(np.uint8), a.astype(DTYPES[dst]).view(np.uint8))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("small", [(1, 8), (6, 1), (1, 1), (8,)])
def test_broadcast_then_binary_matches_numpy(small, dtype, tmp_path):
    rng = np.random.default_rng(5)
    big, b = _data(rng, (6, 8), dtype), _data(rng, small, dtype)
    shapes = [(6, 8), small]
    out, _ = build_and_run(lambda x, s: tbe.vmul(x, tbe.broadcast(s, x.shape)), [big, b],
                           [dtype] * 2, shapes, big.shape, big.dtype, tmp_path)
    assert np.array_equal(out.view(np.uint8), (big * b).view(np.uint8))


@pytest.mark.parametrize("dtype", DTYPES)
def test_broadcast_of_a_tir_constant_keeps_its_dtype(dtype, tmp_path):
    """canndev's Sigmoid, Reciprocal and Relu broadcast ``tvm.const(1, dtype)``: the tensor has
    that dtype (it came out int32, and the vdiv beside it refused the mix)."""
    from bce_grad.host_backend import tvm_shim as tvm

    one = tbe.broadcast(tvm.const(1, dtype), (6, 8))
    assert one.dtype == dtype
    assert tbe.broadcast(tvm.const(1, dtype), (6, 8), "float32").dtype == "float32"
    rng = np.random.default_rng(6)
    x = _data(rng, (6, 8), dtype)
    out, _ = build_and_run(lambda t: tbe.vdiv(tbe.broadcast(tvm.const(1, dtype), t.shape), t),
                           [x], [dtype], [(6, 8)], x.shape, x.dtype, tmp_path)
    want = (np.float32(1) / x.astype(np.float32)).astype(x.dtype) if dtype == "bfloat16" else \
        np.ones_like(x) / x
    assert np.array_equal(out.view(np.uint8), want.view(np.uint8))


@pytest.mark.parametrize("dtype", DTYPES)
def test_vsqrt_is_correctly_rounded(dtype, tmp_path):
    """sqrt computed in float32 and rounded once is correctly rounded for float16 and bfloat16
    too (float32 carries more than twice their precision plus two bits)."""
    rng = np.random.default_rng(7)
    x = np.concatenate([np.array([0.0, 1.0, 4.0, 2.0], np.float32),
                        rng.uniform(0, 100, 300).astype(np.float32)]).astype(DTYPES[dtype])
    out, _ = build_and_run(lambda t: tbe.vsqrt(t), [x], [dtype], [x.shape], x.shape, x.dtype,
                           tmp_path)
    want = np.sqrt(x.astype(np.float64)).astype(np.float32).astype(x.dtype)
    assert np.array_equal(out.view(np.uint8), want.view(np.uint8))


def test_unary_ops_take_cann_modes_and_refuse_an_unknown_one():
    """canndev's Sigmoid calls vrec(x, "high_precision"); other operators pass priority_flag."""
    from bce_grad.host_backend import tvm_shim as tvm

    x = tvm.placeholder((4,), dtype="float32", name="x")
    for op in (tbe.vrec, tbe.vsqrt, tbe.vexp, tbe.vlog, tbe.vabs):
        assert op(x, "high_precision").dtype == "float32"
        assert op(x, priority_flag=1).dtype == "float32"
    with pytest.raises(OpError, match=r"E80000.*impl_mode.*but actually is \[fastest\]"):
        tbe.vrec(x, "fastest")


def test_fp16_arithmetic_rounds_in_fp16(tmp_path):
    """No hidden fp32: (a * b) * c rounds after each multiply, as the DSL's fp16 vmul does."""
    a = np.full(4, 300.0, np.float16)
    b = np.full(4, 300.0, np.float16)  # 90000 overflows float16
    c = np.full(4, 0.001, np.float16)
    out, _ = build_and_run(lambda x, y, z: tbe.vmul(tbe.vmul(x, y), z), [a, b, c],
                           ["float16"] * 3, [a.shape] * 3, a.shape, np.float16, tmp_path)
    assert np.isinf(out).all()


@pytest.mark.parametrize("axis, keepdims", [(None, False), (1, False), (0, True), ([0, 2], False)])
def test_reduce_sum(axis, keepdims, tmp_path):
    rng = np.random.default_rng(6)
    a = _data(rng, (4, 5, 6), "float32")
    want = np.sum(a.astype(np.float64), axis=tuple(axis) if isinstance(axis, list) else axis,
                  keepdims=keepdims)
    want = np.atleast_1d(want)
    out, kernel = build_and_run(lambda t: tbe.reduce_sum(t, axis, keepdims), [a], ["float32"],
                                [a.shape], want.shape, np.float32, tmp_path)
    np.testing.assert_allclose(out, want, rtol=1e-5)
    assert kernel.meta["cases"][0]["rule"] == "Reduction"


def test_runtime_scalar_is_a_kernel_argument(tmp_path):
    a = np.arange(1, 9, dtype=np.float32)
    with tbe.compute():
        pass
    cof = tbe.var("cof", dtype="float32")
    out, kernel = build_and_run(lambda t: tbe.vmuls(t, cof), [a], ["float32"],
                                [(te.var("n", "int64"),)], a.shape, np.float32, tmp_path,
                                scalars={"cof": 0.5})
    assert np.array_equal(out, a * 0.5)
    assert kernel.meta["cases"][0]["scalars"] == [{"name": "cof", "dtype": "float32"}]
    with pytest.raises(OpError, match="cof"):
        kernel([a, out], {})


def test_binary_op_refuses_mixed_dtypes():
    x = te.placeholder((4,), "float16", name="x")
    y = te.placeholder((4,), "float32", name="y")
    with pytest.raises(OpError, match="float16.*float32"):
        tbe.vadd(x, y)


def test_broadcast_refuses_incompatible_dims():
    x = te.placeholder((3, 4), "float32", name="x")
    with pytest.raises(OpError, match="cannot broadcast"):
        tbe.broadcast(x, [3, 5])


@pytest.mark.parametrize("dtype", DTYPES)
def test_product_then_add_rounds_twice(dtype, tmp_path):
    """vadd(vmul(a, b), c) rounds the product first, as CANN does: with c = -round(a*b)
    the result is exactly 0. A fused multiply-add (LLVM contracts when the CPU has FMA)
    would give the product's rounding error instead."""
    rng = np.random.default_rng(8)
    a, b = _data(rng, (1000,), dtype, -3.0, 3.0), _data(rng, (1000,), dtype, -3.0, 3.0)
    c = -(a * b)
    n = te.var("n", "int64")
    out, _ = build_and_run(lambda x, y, z: tbe.vadd(tbe.vmul(x, y), z), [a, b, c], [dtype] * 3,
                           [(n,)] * 3, a.shape, a.dtype, tmp_path)
    assert np.array_equal(out.astype(np.float32), np.zeros(a.shape, np.float32))


NAN_BITS = [0x7FFFFFFF, 0x7FBFFFFF, 0xFFFFFFFF, 0x7FC00000, 0x7F800001, 0xFF800001, 0xFFC00000,
            0x7F800000, 0xFF800000, 0x7F7FFFFF, 0x3F808000, 0x3F818000, 0x00000001, 0x80000000]


def test_cast_to_bfloat16_keeps_nans_and_rounds_like_ml_dtypes(tmp_path):
    bits = np.array(NAN_BITS * 8, np.uint32)  # long enough for the vectorised chunks
    a = bits.view(np.float32)
    out, _ = build_and_run(lambda t: tbe.cast_to(t, "bfloat16"), [a], ["float32"],
                           [(te.var("n", "int64"),)], a.shape, ml_dtypes.bfloat16, tmp_path)
    with np.errstate(invalid="ignore"):
        want = a.astype(ml_dtypes.bfloat16)
    assert [hex(v) for v in out.view(np.uint16)] == [hex(v) for v in want.view(np.uint16)]


@pytest.mark.parametrize("dtype", list(DTYPES))
def test_one_minus_through_a_negation_is_one_subtraction(dtype, tmp_path):
    """``vadds(vmuls(x, -1), s)`` (how the operator writes ``1 - x``, as CANN's does) is emitted
    as ``s - x``: one op, and the same bits as negating then adding, on signed zeros, infinities,
    subnormals and rounding cases."""
    n = te.var("n", "int64")
    x = te.placeholder((n,), dtype, "x")
    body = str(tbe.vadds(tbe.vmuls(x, -1.0), 1.0).op.body[0])
    assert "(1.0) - " in body and "-1" not in body, body
    rng = np.random.default_rng(3)
    specials = np.array([0.0, -0.0, np.inf, -np.inf, 1.0, -1.0, 1e-40, -1e-40, 0.5, 2.0, 3e38],
                        np.float32)
    a = np.concatenate([specials, rng.uniform(-4, 4, 200).astype(np.float32)]).astype(DTYPES[dtype])
    out, _ = build_and_run(lambda t: tbe.vadds(tbe.vmuls(t, -1.0), 1.0), [a], [dtype], [(n,)],
                           a.shape, a.dtype, tmp_path)
    with np.errstate(over="ignore"):
        want = (a * DTYPES[dtype](-1) + DTYPES[dtype](1)).astype(DTYPES[dtype])
    assert np.array_equal(out.view(np.uint8), want.view(np.uint8))


@pytest.mark.parametrize("shape", [(9973, 1), (9971, 1)])
def test_a_prime_row_count_over_rows_of_one_compiles(shape, tmp_path):
    """canndev's Sub/Minimum cases (9973, 1): TVM's TIR CSE pass broke the flat schedule
    ("cse_v2 has been used before definition") until the build retried without it."""
    rng = np.random.default_rng(4)
    a, b = rng.uniform(-1, 1, shape).astype(np.float32), rng.uniform(-1, 1, shape).astype(np.float32)
    out, _ = build_and_run(lambda x, y: tbe.vsub(x, y), [a, b], ["float32"] * 2, [shape] * 2,
                           shape, np.float32, tmp_path)
    assert np.array_equal(out, a - b)
