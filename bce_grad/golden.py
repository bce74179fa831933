"""The one golden reference of BinaryCrossEntropyGrad, in numpy.

Two variants share one function:

- ``compute_dtype="float64"``: the exact math, for tolerance checks.
- ``compute_dtype="float32"``: what the operator does on every supported SoC, in the
  operator's order of operations, rounded once to the output dtype; tests compare
  the kernel with it bit for bit.
- ``compute_dtype="float16"``: CANN's branch for SoCs without float32 vector math:
  every step rounds to float16 and the eps 1e-12 underflows to 0.

Every UT, ST, benchmark and the demo import this module; none copies it.
"""
from __future__ import annotations

import math

import ml_dtypes
import numpy as np

EPS = 1e-12
REDUCTIONS = ("none", "mean", "sum")
_NP_DTYPES = {"float16": np.float16, "float32": np.float32, "float64": np.float64,
              "bfloat16": ml_dtypes.bfloat16}


def np_dtype(name: str) -> np.dtype:
    """The numpy dtype for ``float16``, ``bfloat16``, ``float32`` or ``float64``."""
    return np.dtype(_NP_DTYPES[name])


def binary_cross_entropy_grad_golden(x: np.ndarray, y: np.ndarray, grad_output: np.ndarray,
                                     weight: np.ndarray | None = None, reduction: str = "mean",
                                     compute_dtype: str = "float64",
                                     out_dtype: str | None = None) -> np.ndarray:
    """Reference gradient of binary cross entropy with respect to ``x``.

    ``out = grad_output * weight * (x - y) / max(x * (1 - x), 1e-12)``, times
    ``1/numel(x)`` when ``reduction == "mean"`` (0 when x is empty). y, grad_output
    and weight broadcast to x's shape.

    Parameters
    ----------
    x, y, grad_output : numpy.ndarray
        Prediction, target and incoming gradient.
    weight : numpy.ndarray, optional
        Per-element weight; None means 1.
    reduction : {"none", "mean", "sum"}
        Only "mean" scales the result.
    compute_dtype : {"float64", "float32", "float16"}
        The dtype every step computes and rounds in.
    out_dtype : str, optional
        Round the result to this dtype at the end; default: ``compute_dtype``.

    Returns
    -------
    numpy.ndarray
        The gradient, shaped like x.

    Examples
    --------
    >>> x = np.array([0.5]); y = np.array([0.0]); g = np.array([2.0])
    >>> float(binary_cross_entropy_grad_golden(x, y, g, reduction="sum")[0])
    4.0
    """
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction should be one of {REDUCTIONS}, got {reduction!r}")
    calc = np_dtype(compute_dtype)
    shape = np.shape(x)

    def prep(a):
        return np.broadcast_to(np.asarray(a).astype(calc), shape)

    xc, yc, gc = prep(x), prep(y), prep(grad_output)
    with np.errstate(all="ignore"):
        val1 = xc - yc
        val2 = xc * (xc * calc.type(-1) + calc.type(1))
        val2 = np.maximum(val2, calc.type(EPS))
        result = val1 / val2
        if weight is not None:
            result = prep(weight) * result
        result = gc * result
        if reduction == "mean":
            count = math.prod(shape)
            result = result * calc.type(0.0 if count == 0 else 1.0 / count)
        return np.asarray(result.astype(np_dtype(out_dtype or compute_dtype)))


def ulp_distance(actual: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """Units in the last place between two arrays of one float dtype (sign-aware bit order)."""
    width = {2: np.uint16, 4: np.uint32}[actual.dtype.itemsize]
    sign = np.int64(1) << (8 * actual.dtype.itemsize - 1)

    def ordered(a: np.ndarray) -> np.ndarray:
        bits = np.ascontiguousarray(a).view(width).astype(np.int64)
        return np.where(bits & sign, -(bits & (sign - 1)), bits)

    return np.abs(ordered(actual) - ordered(expected.astype(actual.dtype)))
