"""Python API for callers outside CANN: aclnn's argument order and rules, on the host backend.

:func:`binary_cross_entropy_backward` plays the parts CANN's stack plays on an NPU:
it checks the call against the op info of the SoC (as FE does), promotes dtypes
(as aclnn does), compiles the operator's dynamic entry on first use (as ATC does),
then binds shapes and runtime scalars through the operator's host tiling and
launches the kernel. Kernels are cached by content, in memory and on disk.
"""
from __future__ import annotations

import functools
import math
from typing import Mapping

import ml_dtypes
import numpy as np

from bce_grad.host_backend import platform
from bce_grad.host_backend.errors import OpError
from bce_grad.host_backend.launch import load_kernel
from bce_grad.host_backend.register import get_host_tiling
from bce_grad.host_backend.soc_table import soc_info
from impl.binary_cross_entropy_grad import check_binary_cross_entropy_grad, promote_dtypes
from bce_grad.tools import kernel_cache
from bce_grad.tools.deploy.op_info import SOC_DIRS, soc_dir_for_short_soc, supported_dtypes

OP_TYPE = "BinaryCrossEntropyGrad"
OP_NAME = "binary_cross_entropy_grad"
#: aclnn's reduction enum: 0 none, 1 mean, 2 sum.
REDUCTION_ENUM = {0: "none", 1: "mean", 2: "sum"}
NUMPY_DTYPES = {"float16": np.float16, "float32": np.float32, "bfloat16": ml_dtypes.bfloat16}


def normalize_reduction(reduction: str | int) -> str:
    """Accept a name (``"none"``, ``"mean"``, ``"sum"``) or aclnn's enum (0, 1, 2)."""
    if isinstance(reduction, (int, np.integer)) and not isinstance(reduction, bool):
        if int(reduction) in REDUCTION_ENUM:
            return REDUCTION_ENUM[int(reduction)]
    elif reduction in REDUCTION_ENUM.values():
        return str(reduction)
    raise OpError("E80009", f"the parameter[reduction] should be one of "
                  f"{list(REDUCTION_ENUM.values())} or aclnn's enum {sorted(REDUCTION_ENUM)}, "
                  f"but actually is [{reduction!r}]", OP_NAME, "reduction")


def dtype_name(array: np.ndarray) -> str:
    """The dtype name of an array: ``float16``, ``bfloat16``, ``float32``, ..."""
    return str(np.asarray(array).dtype)


@functools.lru_cache(maxsize=None)
def allowed_dtypes(soc_dir: str, param: str) -> tuple[str, ...]:
    """The dtypes ``op_info_cfg/ai_core/<soc_dir>`` lists for ``param`` (read once)."""
    return tuple(supported_dtypes(soc_dir, param))


def check_dtypes(soc: str, dtypes: Mapping[str, str]) -> None:
    """Refuse any dtype that the SoC's op info does not list (``op_info_cfg``)."""
    short = soc_info(soc).short_soc_version
    soc_dir = soc_dir_for_short_soc(short)
    if soc_dir not in SOC_DIRS:
        raise OpError("E80000", f"the parameter[soc] should be a SoC this operator supports "
                      f"({', '.join(SOC_DIRS)} in op_info_cfg/ai_core), but actually is [{soc}] "
                      f"({short})", OP_NAME, "soc")
    for name, dtype in dtypes.items():
        allowed = allowed_dtypes(soc_dir, name)
        if dtype not in allowed:
            raise OpError("E80008", f"the parameter[{name}] dtype should be one of {list(allowed)} "
                          f"on {soc} (op_info_cfg/ai_core/{soc_dir}), but actually is [{dtype}]",
                          OP_NAME, name)


def binary_cross_entropy_backward(grad_output: np.ndarray, x: np.ndarray, y: np.ndarray,
                                  weight: np.ndarray | None = None, reduction: str | int = "mean",
                                  soc: str | None = None, out_dtype: str | None = None) -> np.ndarray:
    """Gradient of binary cross entropy with respect to ``x``, on the host backend.

    Parameters
    ----------
    grad_output, x, y : numpy.ndarray
        Incoming gradient, prediction and target. float16, bfloat16
        (``ml_dtypes.bfloat16``) or float32; mixed dtypes promote (float32 wins,
        float16 with bfloat16 gives float32). y and grad_output broadcast to x.
    weight : numpy.ndarray, optional
        Per-element weight, broadcast to x; None means 1.
    reduction : {"none", "mean", "sum"} or {0, 1, 2}
        ``"mean"`` scales by ``1/numel(x)``.
    soc : str, optional
        Full SoC version (default: the current one, ``Ascend910B1`` unless set).
    out_dtype : str, optional
        dtype of the result; default: the promoted input dtype.

    Returns
    -------
    numpy.ndarray
        ``grad_output * weight * (x - y) / max(x * (1 - x), 1e-12)`` [``/ numel(x)``], x's shape.

    Raises
    ------
    OpError
        For a bad reduction, dtype, shape, rank or SoC; the message names the parameter.
    """
    reduction = normalize_reduction(reduction)
    if any(a is None for a in (grad_output, x, y)):
        missing = [n for n, a in (("grad_output", grad_output), ("x", x), ("y", y)) if a is None][0]
        raise OpError("E80001", f"the mandatory parameter[{missing}] is missing", OP_NAME, missing)
    arrays = {"x": np.asarray(x), "y": np.asarray(y), "grad_output": np.asarray(grad_output)}
    if weight is not None:
        arrays["weight"] = np.asarray(weight)
    with platform.use_soc(soc or platform.current_soc().soc_version) as info:
        dtypes = {name: dtype_name(a) for name, a in arrays.items()}
        check_dtypes(info.soc_version, dtypes)
        result_dtype = out_dtype or promote_dtypes(dtypes.values())
        check_dtypes(info.soc_version, {"output": result_dtype})
        descs = {name: {"shape": list(a.shape), "dtype": dtypes[name]} for name, a in arrays.items()}
        check_binary_cross_entropy_grad(  # the operator's own rules: rank, broadcast to x, ...
            descs["x"], descs["y"], descs["grad_output"], descs.get("weight"),
            {"shape": list(arrays["x"].shape), "dtype": result_dtype}, reduction, OP_NAME)
        out_np_dtype = np.dtype(NUMPY_DTYPES[result_dtype])
        shape_x = arrays["x"].shape
        if math.prod(shape_x) == 0:
            return np.empty(shape_x, dtype=out_np_dtype)
        kernel_path, pattern = kernel_cache.get_or_build(arrays, result_dtype, reduction, info)
        kernel = load_kernel(kernel_path)
        canon = [np.ascontiguousarray(a).reshape(p) for a, p in zip(arrays.values(), pattern)]
        out = np.empty(pattern[0], dtype=out_np_dtype)
        tiling = get_host_tiling(OP_TYPE)
        scalars = tiling([{"shape": list(a.shape), "dtype": dtypes[n]} for n, a in arrays.items()],
                         [{"shape": list(shape_x), "dtype": result_dtype}],
                         {"reduction": reduction}, kernel.meta.get("compile_info", {}))
        kernel([*canon, out], scalars)
        return out.reshape(shape_x)
