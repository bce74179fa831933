"""Shared pieces of the BinaryCrossEntropyGrad UT case files: tensor dicts, golden, standards.

The case files run unchanged under CANN's op_test_frame and the host one, so
this module uses op_test_frame's public names only. The project root must be on
``PYTHONPATH`` (as op_test_frame needs it for ``impl``).
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from op_test_frame.common import precision_info

from bce_grad.golden import binary_cross_entropy_grad_golden

#: SoCs the UT runs on, and those whose op info lists bfloat16.
ALL_SOCS = ["Ascend910A", "Ascend910B1", "Ascend910_9391", "Ascend310P3", "Ascend950PR_9599"]
BF16_SOCS = ["Ascend910B1", "Ascend910_9391", "Ascend950PR_9599"]
NO_BF16_SOCS = ["Ascend910A", "Ascend310P3"]
#: Value ranges: x inside (0, 1) away from the eps clamp, y a target in [0, 1].
VALUE_RANGES = {"x": [0.05, 0.95], "y": [0.0, 1.0], "grad_output": [-2.0, 2.0],
                "weight": [0.5, 2.0]}

# Per-dtype standards, op_test_frame's meanings: atol is a per-element bound relative to
# |expect|, rtol the fraction of elements allowed past it, max_atol a bound no element passes.
# The kernel computes in float32 and rounds once; the golden rounds the exact result once, so
# the two differ by at most one ulp of the output dtype: 2**-10 (float16), 2**-7 (bfloat16).
#: float16: CANN's own UT uses (0.005, 0.005); five times one ulp, none past 5 %.
FP16_STANDARD = precision_info.PrecisionStandard(0.005, 0.005, 0.05)
#: bfloat16: one ulp is 0.0078; allow 0.008 per element, none past 5 %.
BF16_STANDARD = precision_info.PrecisionStandard(0.005, 0.008, 0.05)
#: float32: six float32 operations, well under 1e-4 relative; none past 1e-3.
FP32_STANDARD = precision_info.PrecisionStandard(0.0001, 0.0001, 0.001)
STANDARDS = {"float16": FP16_STANDARD, "bfloat16": BF16_STANDARD, "float32": FP32_STANDARD,
             "float": FP32_STANDARD}


def tensor(name: str, dtype: str, shape: Sequence[int], *, run_shape: Sequence[int] | None = None,
           shape_range: Sequence[Sequence[int]] | None = None, param_type: str | None = None,
           ) -> dict[str, Any]:
    """A tensor dict as op_test_frame cases write it (ND format).

    ``param_type`` marks inputs and outputs of precision cases; inputs then get
    the value range of ``name``. ``shape_range`` defaults to ``[1, None]`` per -1 dim.
    """
    desc: dict[str, Any] = {"shape": list(shape), "dtype": dtype, "format": "ND",
                            "ori_shape": list(run_shape or shape), "ori_format": "ND"}
    if -1 in list(shape):
        desc["range"] = [tuple(r) for r in shape_range] if shape_range else \
            [(1, None) if d == -1 else (d, d) for d in shape]
    if run_shape is not None:
        desc["run_shape"] = list(run_shape)
    if param_type:
        desc["param_type"] = param_type
        if param_type == "input":
            desc["value_range"] = VALUE_RANGES[name]
    return desc


def io(dtype: str, shape_x: Sequence[int], *, weight: bool = True, shapes: dict | None = None,
       run_shapes: dict | None = None, precision: bool = False, out_dtype: str | None = None,
       ) -> list:
    """x, y, grad_output, weight (or None) and output dicts; ``shapes`` overrides per input."""
    shapes, run_shapes = shapes or {}, run_shapes or {}
    names = ["x", "y", "grad_output"] + (["weight"] if weight else [])
    descs = [tensor(n, dtype, shapes.get(n, shape_x), run_shape=run_shapes.get(n),
                    param_type="input" if precision else None) for n in names]
    if not weight:
        descs.append(None)
    descs.append(tensor("x", out_dtype or dtype, shape_x, run_shape=run_shapes.get("x"),
                        param_type="output" if precision else None))
    return descs


def calc_expect_func(x: dict, y: dict, grad_output: dict, weight: dict | None, output: dict,
                     reduction: str = "mean", **_: Any) -> np.ndarray:
    """op_test_frame's golden hook: the project's one golden, mean scaling included.

    Computes in float64 and rounds once to the output dtype.
    """
    out_dtype = {"float": "float32"}.get(output["dtype"], output["dtype"])
    return binary_cross_entropy_grad_golden(
        x=x["value"], y=y["value"], grad_output=grad_output["value"], weight=None if weight is None else weight["value"],
        reduction=reduction, compute_dtype="float64", out_dtype=out_dtype)
