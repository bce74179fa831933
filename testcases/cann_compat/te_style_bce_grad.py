"""BinaryCrossEntropyGrad written the way CANN's older operators were: ``te.*`` imports only.

A static entry, ``te.lang.cce`` compute calls, the ``fusion_manager`` decorator and
``cce_build_code``; nothing here knows about the host backend. The tests compile it through
``bce_grad.cann_compat`` (which must be installed before this module is imported).

    out = grad_output * weight * (x - y) / max(x * (1 - x), 1e-12)   (times 1/numel for "mean")
"""
import functools
import operator

import te.lang.cce as dsl
import te.platform as te_platform
from te import tvm
from te.utils import para_check, shape_util
from te.utils.error_manager import error_manager_vector

EPSILON = 1e-12
ALLOWED_DTYPES = ("float16", "float32")
ALLOWED_REDUCTIONS = ("none", "mean", "sum")


@te_platform.fusion_manager.fusion_manager.register("te_style_bce_grad")
def te_style_bce_grad_compute(x, y, grad_output, weight, output, reduction, kernel_name):
    """The gradient, computed in float32 where the SoC's vector unit has float32."""
    out_dtype = x.dtype.lower()  # a str, as CANN code expects
    shape = shape_util.shape_to_list(x.shape)
    if out_dtype == "float16" and te_platform.cce_conf.api_check_support("te.lang.cce.vmul", "float32"):
        x, y, grad_output = (dsl.cast_to(t, "float32") for t in (x, y, grad_output))
        weight = None if weight is None else dsl.cast_to(weight, "float32")
    calc = x.dtype.lower()
    grad_output = dsl.broadcast(grad_output, shape)
    numerator = dsl.vsub(x, y)
    one_minus_x = dsl.vadds(dsl.vmuls(x, tvm.const(-1, dtype=calc)), tvm.const(1, dtype=calc))
    denominator = dsl.vmaxs(dsl.vmul(x, one_minus_x), tvm.const(EPSILON, dtype=calc))
    result = dsl.vdiv(numerator, denominator)
    if weight is not None:
        result = dsl.vmul(weight, result)
    result = dsl.vmul(grad_output, result)
    if reduction == "mean":
        count = functools.reduce(operator.mul, shape, 1)
        result = dsl.vmuls(result, 1.0 / count)
    return dsl.cast_to(result, out_dtype) if calc != out_dtype else result


@para_check.check_op_params(para_check.REQUIRED_INPUT, para_check.REQUIRED_INPUT,
                            para_check.REQUIRED_INPUT, para_check.OPTION_INPUT,
                            para_check.REQUIRED_OUTPUT, para_check.OPTION_ATTR_STR,
                            para_check.KERNEL_NAME)
def te_style_bce_grad(x, y, grad_output, weight, output, reduction="mean",
                      kernel_name="te_style_bce_grad"):
    """Static entry: every input flattened to one dim; grad_output may be a single element."""
    dtype = x.get("dtype").lower()
    para_check.check_dtype(dtype, ALLOWED_DTYPES, param_name="x")
    if reduction not in ALLOWED_REDUCTIONS:
        error_manager_vector.raise_err_check_params_rules(
            kernel_name, "reduction should be one of none/mean/sum", "reduction", reduction)
    described = {"x": x, "y": y, "grad_output": grad_output, "weight": weight}
    tensors = {}
    for name, desc in described.items():
        if desc is None:
            continue
        para_check.check_shape(desc.get("shape"), param_name=name)
        if desc.get("dtype").lower() != dtype:
            error_manager_vector.raise_err_two_input_dtype_invalid(
                kernel_name, "x", name, f"the dtype of {name} should be the dtype of x")
        size = para_check.check_tensor_shape_size(desc.get("shape"))
        tensors[name] = tvm.placeholder([size], name=f"{name}_gm", dtype=dtype)
    res = te_style_bce_grad_compute(tensors["x"], tensors["y"], tensors["grad_output"],
                                    tensors.get("weight"), output, reduction, kernel_name)
    with tvm.target.cce():
        schedule = dsl.auto_schedule(res)
    dsl.cce_build_code(schedule, {"name": kernel_name, "tensor_list": [*tensors.values(), res]})
