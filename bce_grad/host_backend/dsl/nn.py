"""tbe.dsl activations and composite ops: ``vrelu``, ``vlrelu``, ``clip``, ``vaxpy``, ``vmod``.

Each follows CANN's compute (``tbe.dsl.compute.nn`` and ``math``), op by op, so that each
step rounds where CANN's instruction rounds:

* ``vrelu(x)`` is ``max(x, 0)``;
* ``vlrelu(x, alpha)`` is ``max(x, x * alpha)`` for ``alpha <= 1`` and ``min(x, x * alpha)``
  above (``vrelu`` for 0), CANN's sequence where the SoC has no ``vlrelu`` instruction;
* ``clip(x, max_value, min_value)`` is ``min(max(x, min_value), max_value)``;
* ``vaxpy(lhs, rhs, s)`` is ``s * lhs + rhs``, the product rounded before the add;
* ``vmod(lhs, rhs)`` is ``lhs - floor(lhs / rhs) * rhs`` in float32 (CANN's sequence on SoCs
  with ``vdiv`` and a float32 floor: Ascend910, 310P, 910B), cast back to the input dtype.
"""
from __future__ import annotations

from tvm import te, tirx

from bce_grad.host_backend.dsl import cast, ops
from bce_grad.host_backend.dsl.ops import Scalar, _scalar, dtype_of
from bce_grad.host_backend.errors import OpError


def vrelu(raw_tensor: te.Tensor) -> te.Tensor:
    """Elementwise ``max(x, 0)``."""
    return ops._elementwise("vrelu", (raw_tensor,),
                            lambda a: tirx.max(a, tirx.const(0, dtype_of(a))))


def vlrelu(raw_tensor: te.Tensor, alpha: Scalar = 0) -> te.Tensor:
    """Leaky relu: ``x`` where ``x >= 0``, else ``alpha * x`` (CANN's max/min sequence)."""
    dtype = dtype_of(raw_tensor)
    if hasattr(alpha, "dtype") and str(getattr(alpha, "dtype")) != dtype:
        raise OpError("E80008", f"tbe.dsl.vlrelu: the dtype of alpha [{alpha.dtype}] should be "
                      f"the input's [{dtype}]", param_name="alpha")
    value = float(alpha.value) if hasattr(alpha, "value") else float(alpha)
    if value == 0:
        return vrelu(raw_tensor)
    scaled = ops.vmuls(raw_tensor, alpha)
    return ops.vmax(raw_tensor, scaled) if value <= 1 else ops.vmin(raw_tensor, scaled)


def clip(data: te.Tensor, max_value: Scalar, min_value: Scalar) -> te.Tensor:
    """Each element of ``data`` limited to ``[min_value, max_value]``."""
    return ops.vmins(ops.vmaxs(data, min_value), max_value)


def vaxpy(lhs: te.Tensor, rhs: te.Tensor, scalar: Scalar) -> te.Tensor:
    """``scalar * lhs + rhs``, elementwise; the product rounds before the add."""
    ops._check_same("vaxpy", lhs, rhs)
    dtype = dtype_of(lhs)
    value = _scalar(scalar, dtype)
    return ops._elementwise("vaxpy", (lhs, rhs), lambda a, b: ops._product(
        a, value.astype(dtype_of(a))) + b)


def vmod(lhs: te.Tensor, rhs: te.Tensor) -> te.Tensor:
    """``lhs - floor(lhs / rhs) * rhs`` computed in float32, in the inputs' dtype."""
    ops._check_same("vmod", lhs, rhs)
    dtype = dtype_of(lhs)
    if dtype not in ("float16", "float32"):
        raise OpError("E80008", f"tbe.dsl.vmod: the dtype of lhs should be float16 or float32, "
                      f"but actually is [{dtype}]", param_name="lhs")
    wide_lhs, wide_rhs = cast.cast_to(lhs, "float32"), cast.cast_to(rhs, "float32")
    quotient = cast.floor(ops.vdiv(wide_lhs, wide_rhs))
    product = ops.vmul(wide_rhs, cast.cast_to(quotient, "float32"))
    return cast.cast_to(ops.vsub(wide_lhs, product), dtype)


#: ``calculate_one_or_zero``'s constants per dtype: the smallest positive normal (the step that
#: separates 0 from "positive") and the powers of two whose product scales it back to 1.
_STEP_SCALES = {"float32": (2.0 ** -126, (2.0 ** 38, 2.0 ** 44, 2.0 ** 44)),
                "float16": (2.0 ** -24, (2.0 ** 12, 2.0 ** 12)),
                "int32": (1, (1, 1))}


def calculate_one_or_zero(input_tensor: te.Tensor, shape, dtype: str) -> te.Tensor:
    """1 where ``input_tensor > 0``, else 0, by CANN's vector sequence (``te.lang.cce``).

    ``min(x, step)``, then ``max(., 0)``, then multiplied by powers of two whose product is
    ``1 / step``. As on CANN, a positive input below ``step`` (a float32 subnormal) gives
    ``x / step``, not 1, and a NaN propagates as the vector ``min``/``max`` give it.
    """
    if dtype not in _STEP_SCALES:
        raise OpError("E80008", f"te.lang.cce.calculate_one_or_zero: the parameter[dtype] "
                      f"should be one of {list(_STEP_SCALES)}, but actually is [{dtype}]",
                      param_name="dtype")
    step, scales = _STEP_SCALES[dtype]
    result = ops.vmaxs(ops.vmins(input_tensor, step), 0)
    for scale in scales:
        result = ops.vmul(result, ops.broadcast(tirx.const(scale, dtype), shape))
    return result
