# Copyright 2026 The bce-grad authors. Licensed under the Apache License, Version 2.0.
"""BinaryCrossEntropyGrad: the static-shape entry and the compute shared with the dynamic one.

    output = grad_output * weight * (x - y) / max(x * (1 - x), 1e-12)
    output *= 1 / numel(x)                 when reduction == "mean" (0 when numel(x) == 0)

The mean coefficient is rounded as CANN rounds it, which differs by path (1 ulp apart for
some shapes, e.g. x (7, 11)):

- a kernel compiled with every dim of x known (this static entry; the dynamic entry given a
  fully known x) multiplies by the constant ``float32(1.0 / numel(x))``: ``1.0 / numel`` in
  double precision, rounded once to the compute dtype (:func:`mean_cof_constant`), as CANN's
  static and dynamic computes pass ``reduce_elts ** (-1)`` to ``tvm.const``;
- a kernel with a dynamic dim in x takes the runtime scalar ``cof`` from the host tiling,
  which follows CANN's ``op_tiling/binary_cross_entropy_grad.cc``: ``1.0f / d0 / d1 / ...``
  divided in float32 over x's actual dims in order, then rounded to float16 when the compute
  dtype is float16 (:func:`mean_cof_tiling`; the native runtime's C++ tiling does the same).

``output`` has x's shape; y, grad_output and weight broadcast to it. float16 and
bfloat16 are computed in float32 and rounded once on SoCs whose vector unit has
float32; elsewhere float16 is computed in float16, where the eps 1e-12 underflows
to 0 (as CANN's own operator does).
"""
import math
import struct

# Relative, as the dynamic entry's imports: the package's own API switch, whatever its name
# (impl on CANN's UT tools, <vendor>_impl in an OPP, bce_grad._impl on the host).
from .util.platform_adapter import (
    error_manager_vector, para_check, register_operator_compute, shape_util, tbe, tbe_context,
    tbe_platform, tvm,
)

OP_TYPE = "BinaryCrossEntropyGrad"
REDUCTIONS = ("none", "mean", "sum")
DTYPES = ("float16", "float32", "bfloat16")
INPUT_NAMES = ("x", "y", "grad_output", "weight")
MAX_RANK = 8
#: Formats the op info lists. The compute is elementwise, so a 5-D NC1HWC0 layout works as
#: long as every tensor shares it (then the dims line up element for element).
FORMATS = ("ND", "NC1HWC0")
UNKNOWN_RANK = [-2]


class Constant:
    """Constants of the compute."""

    SCALAR_ONE = 1
    SCALAR_NEGATIVE_ONE = -1
    SCALAR_EPS = 1e-12


def normalize_dtype(dtype):
    """Map CANN's dtype spellings (``float``, ``bf16``) to numpy-style names."""
    name = str(dtype).lower()
    return {"float": "float32", "half": "float16", "bf16": "bfloat16"}.get(name, name)


def promote_dtypes(dtypes):
    """Promote input dtypes as aclnn does: float32 wins; float16 with bfloat16 gives float32."""
    unique = {normalize_dtype(d) for d in dtypes}
    if len(unique) == 1:
        return unique.pop()
    return "float32"


def _shape_broadcasts_to(shape, target):
    if list(shape) == UNKNOWN_RANK or list(target) == UNKNOWN_RANK:
        return True
    if len(shape) > len(target):
        return False
    tail = list(target)[len(target) - len(shape):]
    return all(d in (1, t) or -1 in (d, t) for d, t in zip(shape, tail))


def check_binary_cross_entropy_grad(x, y, grad_output, weight, output, reduction, kernel_name):
    """Check every rule of the op; raise a CANN error naming the parameter, rule and value."""
    if reduction not in REDUCTIONS:
        error_manager_vector.raise_err_check_params_rules(
            kernel_name, f"reduction should be one of {list(REDUCTIONS)}", "reduction", reduction)
    tensors = dict(zip(INPUT_NAMES, (x, y, grad_output, weight)))
    for name, desc in tensors.items():
        if desc is None:
            continue
        para_check.check_shape(desc.get("shape"), max_rank=MAX_RANK, param_name=name)
        para_check.check_dtype(normalize_dtype(desc.get("dtype")), DTYPES, param_name=name)
    para_check.check_dtype(normalize_dtype(output.get("dtype")), DTYPES, param_name="output")
    _check_formats({**tensors, "output": output}, kernel_name)
    shape_x = list(x.get("shape"))
    for name in INPUT_NAMES[1:]:
        desc = tensors[name]
        if desc is not None and not _shape_broadcasts_to(desc.get("shape"), shape_x):
            error_manager_vector.raise_err_two_input_shape_invalid(
                kernel_name, "x", name,
                f"shape {list(desc.get('shape'))} of {name} should broadcast to the shape "
                f"{shape_x} of x")
    out_shape = list(output.get("shape", shape_x))
    if out_shape != shape_x and -1 not in out_shape + shape_x and UNKNOWN_RANK not in (out_shape, shape_x):
        error_manager_vector.raise_err_two_input_shape_invalid(
            kernel_name, "x", "output",
            f"shape {out_shape} of output should be the shape {shape_x} of x")


def _check_formats(tensors, kernel_name):
    """Every format is one the op info lists, and NC1HWC0 only when every tensor has it."""
    formats = {name: str(desc.get("format", "ND")).upper()
               for name, desc in tensors.items() if desc is not None}
    for name, fmt in formats.items():
        if fmt not in FORMATS:
            error_manager_vector.raise_err_input_format_invalid(kernel_name, name, list(FORMATS),
                                                                fmt)
    if "NC1HWC0" in formats.values() and set(formats.values()) != {"NC1HWC0"}:
        other = next(name for name, fmt in formats.items() if fmt != "NC1HWC0")
        error_manager_vector.raise_err_two_input_format_invalid(
            kernel_name, "x", other, f"every tensor should share the format NC1HWC0, but the "
            f"formats are {formats}")


def _round_float(value, dtype):
    """``value`` rounded to nearest-even in ``dtype`` ("float32" or "float16"), as a float."""
    code = {"float32": "f", "float16": "e"}[dtype]
    return struct.unpack(code, struct.pack(code, value))[0]


def mean_cof_constant(shape_x):
    """The static coefficient ``1.0 / numel(x)`` in double precision (0 when x is empty).

    CANN's static entry (and its dynamic compute when every dim is known) hands this double to
    ``tvm.const`` in the compute dtype, so the kernel multiplies by it rounded once:
    ``float32(1.0 / numel)``.

    Parameters
    ----------
    shape_x : sequence of int
        x's shape.

    Returns
    -------
    float
        ``1.0 / numel(x)``, or 0.0 for an empty x.
    """
    count = math.prod(int(d) for d in shape_x)
    return 0.0 if count == 0 else 1.0 / count


def mean_cof_tiling(shape_x, cof_dtype="float32"):
    """The runtime coefficient of CANN's op tiling: ``1.0f / d0 / d1 / ...`` in float32.

    CANN's ``op_tiling/binary_cross_entropy_grad.cc`` starts from ``float 1.0`` and divides by
    each dim of x's actual shape in order, in float32 (each dim converted to float32 first); for
    ``reduce_mean_cof_dtype == "float16"`` it converts that float32 to float16. Each step here
    divides two float32 values in double precision and rounds to float32, which is the correctly
    rounded float32 quotient (double holds more than 2 * 24 + 2 bits).

    Parameters
    ----------
    shape_x : sequence of int
        x's actual shape, in order (the order matters: (7, 11) and (11, 7) differ).
    cof_dtype : {"float32", "float16"}
        The kernel's compute dtype (its ``reduce_mean_cof_dtype``).

    Returns
    -------
    float
        The coefficient, exactly representable in ``cof_dtype``; 0.0 for an empty x (CANN's
        division would give inf, but an empty x launches no kernel).
    """
    dims = [int(d) for d in shape_x]
    if 0 in dims:
        return 0.0
    cof = 1.0
    for dim in dims:
        cof = _round_float(cof / _round_float(float(dim), "float32"), "float32")
    return _round_float(cof, cof_dtype) if cof_dtype == "float16" else cof


def _mean_cof(shape_x, calc_dtype):
    """The mean coefficient: a constant when every dim of x is known, else a runtime scalar.

    The constant is :func:`mean_cof_constant` (CANN's static rounding); the scalar ``cof`` is
    set per launch by the host tiling (:func:`mean_cof_tiling`, CANN's op tiling rounding).
    """
    if all(isinstance(d, int) for d in shape_x):
        return tvm.const(mean_cof_constant(shape_x), calc_dtype)
    cof = tbe.var("cof", dtype=calc_dtype)
    if calc_dtype == "float16":
        tbe.var("cof_empty", dtype=calc_dtype)  # pads an fp16 scalar to 4 bytes in tiling data
    tbe_context.get_context().add_compile_info("reduce_mean_cof_dtype", calc_dtype)
    return cof


@register_operator_compute("binary_cross_entropy_grad", op_mode="static", support_fusion=True)
def binary_cross_entropy_grad_compute(x, y, grad_output, weight, output, reduction, kernel_name):
    """Compute the gradient of binary cross entropy with respect to ``x``.

    Parameters
    ----------
    x, y, grad_output : tvm.Tensor
        The prediction, the target and the incoming gradient.
    weight : tvm.Tensor or None
        Per-element weights; None means 1.
    output : dict
        The output description; its ``dtype`` is the result's dtype.
    reduction : str
        ``"none"``, ``"mean"`` or ``"sum"``.
    kernel_name : str
        The kernel's name.

    Returns
    -------
    tvm.Tensor
        ``grad_output * weight * (x - y) / max(x * (1 - x), 1e-12)``, times ``1/numel(x)``
        for mean, in x's shape and the output dtype.
    """
    del kernel_name
    inputs = [t for t in (x, y, grad_output, weight) if t is not None]
    support_fp32 = tbe_platform.api_check_support("tbe.dsl.vmul", "float32")
    promoted = promote_dtypes([str(t.dtype) for t in inputs])
    calc_dtype = "float32" if support_fp32 else promoted
    shape_x = shape_util.shape_to_list(x.shape)

    def prepare(tensor):
        if tensor is None:
            return None
        return tbe.broadcast(tbe.cast_to(tensor, calc_dtype), shape_x)

    x, y, grad_output, weight = (prepare(t) for t in (x, y, grad_output, weight))
    val1 = tbe.vsub(x, y)
    minus_predict = tbe.vmuls(x, tvm.const(Constant.SCALAR_NEGATIVE_ONE, calc_dtype))
    one_minus_predict = tbe.vadds(minus_predict, tvm.const(Constant.SCALAR_ONE, calc_dtype))
    val2 = tbe.vmul(x, one_minus_predict)
    val2 = tbe.vmaxs(val2, tvm.const(Constant.SCALAR_EPS, calc_dtype))
    result = tbe.vdiv(val1, val2)
    if weight is not None:
        result = tbe.vmul(weight, result)
    result = tbe.vmul(grad_output, result)
    if reduction == "mean":
        result = tbe.vmuls(result, _mean_cof(shape_x, calc_dtype))
    return tbe.cast_to(result, normalize_dtype(output.get("dtype", promoted)))


def _static_shape(desc, rank):
    shape = list(desc.get("shape")) or [1]
    return [1] * (rank - len(shape)) + shape


@para_check.check_op_params(para_check.REQUIRED_INPUT, para_check.REQUIRED_INPUT,
                            para_check.REQUIRED_INPUT, para_check.OPTION_INPUT,
                            para_check.REQUIRED_OUTPUT, para_check.OPTION_ATTR_STR,
                            para_check.KERNEL_NAME)
def binary_cross_entropy_grad(x, y, grad_output, weight, output, reduction="mean",
                              kernel_name="binary_cross_entropy_grad"):
    """Static-shape entry: build the kernel for the exact shapes given.

    Parameters
    ----------
    x, y, grad_output : dict
        Descriptions (``shape``, ``dtype``) of the prediction, target and gradient.
    weight : dict or None
        Description of the optional weight.
    output : dict
        Description of the output: x's shape, the wanted dtype.
    reduction : str
        ``"none"``, ``"mean"`` (default) or ``"sum"``.
    kernel_name : str
        Name of the kernel file written under ``kernel_meta/``.
    """
    check_binary_cross_entropy_grad(x, y, grad_output, weight, output, reduction, kernel_name)
    for name, desc in zip(INPUT_NAMES, (x, y, grad_output, weight)):
        if desc is not None and (-1 in list(desc.get("shape")) or list(desc.get("shape")) == UNKNOWN_RANK):
            error_manager_vector.raise_err_input_value_invalid(
                kernel_name, name, "a static shape (use impl.dynamic for -1 and -2)", desc.get("shape"))
    rank = max(len(list(x.get("shape"))), 1)
    tensors = []
    for name, desc in zip(INPUT_NAMES, (x, y, grad_output, weight)):
        if desc is None:
            tensors.append(None)
            continue
        tensors.append(tvm.placeholder(_static_shape(desc, rank), name=name,
                                       dtype=normalize_dtype(desc.get("dtype"))))
    res = binary_cross_entropy_grad_compute(*tensors, output, reduction, kernel_name)
    with tvm.target.cce():
        sch = tbe.auto_schedule(res)
    config = {"name": kernel_name, "tensor_list": [t for t in tensors if t is not None] + [res]}
    tbe.build(sch, config)
