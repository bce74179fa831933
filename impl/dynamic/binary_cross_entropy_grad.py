# Copyright 2026 The bce-grad authors. Licensed under the Apache License, Version 2.0.
"""BinaryCrossEntropyGrad: the dynamic-shape entry (dims -1 with ranges, unknown rank [-2]).

``classify`` turns the declared shapes and ranges into the cases that cover every shape in
them (a dim whose range includes 1 gives a "dim is 1" variant, as CANN's broadcast classify
does); one kernel holds them all and picks the case at launch. The mean coefficient
``1/numel(x)`` is a runtime scalar ``cof``, set by the tiling from the actual shape as CANN's
op tiling computes it (``1.0f / d0 / d1 / ...`` in float32; see the tiling function).
The compute is shared with the static entry in ``impl/binary_cross_entropy_grad.py``.
"""
from ..util.platform_adapter import (
    OpPatternMode, classify, error_manager_vector, para_check, register_operator,
    register_operator_compute, shape_util, tbe, tvm,
)

# Relative, so that a custom OPP package (``<vendor>_impl/dynamic/``) imports its own static
# module and API switch rather than CANN's built-in ``impl.*``, and the host's private
# ``bce_grad._impl`` never reaches for a top-level ``impl``.
from ..binary_cross_entropy_grad import (
    INPUT_NAMES, OP_TYPE, binary_cross_entropy_grad_compute, check_binary_cross_entropy_grad,
    normalize_dtype,
)

try:
    from ..util.platform_adapter import register_host_tiling
except ImportError:  # CANN's own platform_adapter: tiling runs in the C++ op_tiling library
    def register_host_tiling(op_type):
        """Keep the Python tiling as plain documentation of the C++ one."""
        del op_type
        return lambda func: func

# Only (op_type, op_mode, support_fusion): the 2022 platform_adapter takes no other keyword.
register_operator_compute(OP_TYPE, op_mode="dynamic", support_fusion=False)(
    binary_cross_entropy_grad_compute)


INT64_MAX = 2**63 - 1


def _check_element_count(name, shape):
    """E80002 naming the input when its element count does not fit int64 (a kernel's index).

    The native runtime's C++ tiling (``Numel`` in ``bce_grad/runtime/src/tiling.cc``) refuses
    the same shapes with the same code and words.
    """
    count = 1
    for dim in shape:
        count *= int(dim)
    if count > INT64_MAX:
        # the host's raise_runtime_error fills E80002's range wording (template "E80001_range");
        # on CANN this tiling does not run: the C++ op tiling does
        error_manager_vector.raise_runtime_error(
            {"errCode": "E80002", "op_name": "binary_cross_entropy_grad", "param_name": name,
             "min_value": 0, "max_value": INT64_MAX,
             "value": f"{count} elements (shape {[int(d) for d in shape]}); its element count "
                      f"must fit int64"},
            "E80001_range")


@register_host_tiling(OP_TYPE)
def binary_cross_entropy_grad_tiling(inputs, outputs, attrs, compile_info):
    """Host tiling: the runtime scalars of one launch.

    Parameters
    ----------
    inputs : list of dict
        Input descriptions with the actual ``shape`` (x first).
    outputs : list of dict
        Output descriptions.
    attrs : dict
        ``reduction``.
    compile_info : dict
        What the compute recorded; ``reduce_mean_cof_dtype`` is present for mean.

    Returns
    -------
    dict
        ``{"cof": c, "cof_empty": 0}`` for mean, else ``{}``. ``c`` is CANN's op tiling value
        (``op_tiling/binary_cross_entropy_grad.cc``): ``1.0f / d0 / d1 / ...`` divided in
        float32 over x's actual dims in order, rounded to float16 when
        ``reduce_mean_cof_dtype`` is float16 (0 for an empty x, which launches nothing). It is
        not ``float32(1 / numel)``, the static entry's constant: the two differ by 1 ulp for
        some shapes. The native runtime's C++ tiling (``bce_grad/runtime/src/tiling.cc``)
        computes the same bits.
    """
    del outputs
    for name, desc in zip(INPUT_NAMES, inputs):
        _check_element_count(name, desc["shape"])
    if attrs.get("reduction", "mean") != "mean" or "reduce_mean_cof_dtype" not in compile_info:
        return {}
    from ..binary_cross_entropy_grad import mean_cof_tiling  # pylint: disable=import-outside-toplevel

    cof_dtype = str(compile_info["reduce_mean_cof_dtype"])
    return {"cof": mean_cof_tiling(inputs[0]["shape"], cof_dtype), "cof_empty": 0.0}


@register_operator(OP_TYPE)
@para_check.check_op_params(para_check.REQUIRED_INPUT, para_check.REQUIRED_INPUT,
                            para_check.REQUIRED_INPUT, para_check.OPTION_INPUT,
                            para_check.REQUIRED_OUTPUT, para_check.OPTION_ATTR_STR,
                            para_check.KERNEL_NAME)
def binary_cross_entropy_grad(x, y, grad_output, weight, output, reduction="mean",
                              kernel_name="binary_cross_entropy_grad"):
    """Dynamic-shape entry: one kernel per broadcast pattern, dims bound at launch.

    Parameters
    ----------
    x, y, grad_output : dict
        Descriptions (``shape`` with -1 or [-2], ``range``, ``dtype``).
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
    present = [(name, desc) for name, desc in zip(INPUT_NAMES, (x, y, grad_output, weight))
               if desc is not None]
    # x has the output's (complete) shape and never broadcasts: CANN's input_shape_type 1
    ins = classify([desc for _, desc in present], OpPatternMode.ELEWISE_WITH_BROADCAST,
                   {"input_shape_type": [1] + [0] * (len(present) - 1)})
    schedules, tensors = [], []
    for case in ins:
        with tbe.compute():
            shapes = shape_util.variable_shape(case)
            data = {name: tvm.placeholder(shape, name=name, dtype=normalize_dtype(desc.get("dtype")))
                    for (name, desc), shape in zip(present, shapes)}
            res = binary_cross_entropy_grad_compute(
                data["x"], data["y"], data["grad_output"], data.get("weight"), output,
                reduction, kernel_name)
            tensors.append(list(data.values()) + [res])
        with tvm.target.cce():
            sch = tbe.auto_schedule(res)
        schedules.append(sch)
    tbe.build(schedules, {"name": kernel_name, "tensor_list": tensors})
