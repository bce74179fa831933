"""The native runtime's argument errors are the Python API's: same code, same message, same
parameter, in the same order of checks (dtype per op info, rank and dims, broadcast to x,
reduction, ``out``)."""
from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest

from bce_grad.host_backend.errors import OpError

F32, F64, BF16 = np.float32, np.float64, ml_dtypes.bfloat16


def _ok(dtype=F32):
    x = np.full((6, 5), 0.3, dtype)
    return {"g": np.ones((6, 1), dtype), "x": x, "y": np.zeros((6, 5), dtype),
            "w": np.ones(5, dtype), "reduction": "mean", "out": None}


#: name -> (soc, change to the good call, expected code)
CASES = {
    "x_float64": ("Ascend910B1", dict(x=np.full((6, 5), 0.3, F64)), "E80008"),
    "y_int32": ("Ascend910B1", dict(y=np.zeros((6, 5), np.int32)), "E80008"),
    "weight_bool": ("Ascend910B1", dict(w=np.ones(5, np.bool_)), "E80008"),
    "grad_uint8": ("Ascend910B1", dict(g=np.ones((6, 1), np.uint8)), "E80008"),
    "bf16_not_in_op_info": ("Ascend910A", {**{k: v.astype(BF16) for k, v in _ok().items()
                                              if isinstance(v, np.ndarray)}}, "E80008"),
    "out_bf16_not_in_op_info": ("Ascend910A", dict(out=np.empty((6, 5), BF16)), "E80008"),
    "y_does_not_broadcast": ("Ascend910B1", dict(y=np.zeros((6, 3), F32)), "E80029"),
    "grad_does_not_broadcast": ("Ascend910B1", dict(g=np.ones((5, 6), F32)), "E80029"),
    "weight_rank_above_x": ("Ascend910B1", dict(w=np.ones((1, 6, 5), F32)), "E80029"),
    "x_rank_9": ("Ascend910B1", dict(x=np.full((1,) * 9, 0.3, F32), y=np.zeros((1,) * 9, F32)),
                 "E80012"),
    "y_rank_9": ("Ascend910B1", dict(y=np.zeros((1,) * 9, F32)), "E80012"),
    "weight_rank_9_and_no_broadcast": ("Ascend910B1", dict(w=np.ones((2,) * 9, F32)), "E80012"),
    "reduction_enum_7": ("Ascend910B1", dict(reduction=7), "E80009"),
    "reduction_name": ("Ascend910B1", dict(reduction="avg"), "E80009"),
    "out_shape": ("Ascend910B1", dict(out=np.empty((5, 6), F32)), "E80000"),
    "out_rank_9": ("Ascend910B1", dict(out=np.empty((1,) * 9, F32)), "E80000"),
    "out_not_contiguous": ("Ascend910B1", dict(out=np.empty((5, 6), F32).T), "E80000"),
    # several faults: the first check in the Python API's order decides
    "dtype_before_rank": ("Ascend910B1", dict(y=np.zeros((1,) * 9, F64)), "E80008"),
    "dtype_before_broadcast": ("Ascend910B1", dict(x=np.full((6, 5), .3, F64),
                                                   y=np.zeros((6, 3), F32)), "E80008"),
    "rank_before_broadcast": ("Ascend910B1", dict(y=np.zeros((6, 3), F32),
                                                  w=np.ones((1,) * 9, F32)), "E80012"),
    "first_input_in_order": ("Ascend910B1", dict(y=np.zeros((6, 3), F32),
                                                 g=np.ones((5, 6), F32)), "E80029"),
}


@pytest.fixture(scope="module")
def runtimes(runtime_library):
    """An in-memory runtime package (no kernels: every check runs before a kernel is chosen)
    per SoC, opened as the numpy API opens its own."""
    from bce_grad.runtime.cache_package import CachePackage

    return {soc: CachePackage(soc, {}).runtime for soc in ("Ascend910B1", "Ascend910A")}


def _call_python(args, soc):
    from bce_grad import binary_cross_entropy_backward

    out = args["out"]
    with pytest.raises(OpError) as caught:
        binary_cross_entropy_backward(args["g"], args["x"], args["y"], args["w"],
                                      args["reduction"], soc=soc,
                                      out_dtype=None if out is None else out.dtype, out=out)
    return caught.value


def _call_runtime(args, runtime):
    with pytest.raises(OpError) as caught:
        runtime.backward(args["g"], args["x"], args["y"], args["w"], args["reduction"],
                         args["out"])
    return caught.value


@pytest.mark.parametrize("name", sorted(CASES))
def test_runtime_and_python_api_raise_the_same_error(runtimes, name):
    soc, change, code = CASES[name]
    args = {**_ok(), **change}
    python_error = _call_python(args, soc)
    runtime_error = _call_runtime(args, runtimes[soc])
    assert python_error.code == runtime_error.code == code, (python_error, runtime_error)
    assert str(runtime_error) == str(python_error)
    assert runtime_error.param_name == python_error.param_name
    assert isinstance(runtime_error, ValueError) == isinstance(python_error, ValueError)
