"""The one golden reference of BinaryCrossEntropyGrad, in numpy.

Two variants share one function:

- ``compute_dtype="float64"``: the exact math, for tolerance checks.
- ``compute_dtype="float32"``: what the operator does on every supported SoC, in the
  operator's order of operations, rounded once to the output dtype; tests compare
  the kernel with it bit for bit.
- ``compute_dtype="float16"``: CANN's branch for SoCs without float32 vector math:
  every step rounds to float16 and the eps 1e-12 underflows to 0.

The mean coefficient follows CANN, which computes it two ways (see
:func:`mean_coefficient`): ``mean_cof="tiling"`` (the default) is the runtime scalar of
CANN's op tiling, ``1.0f / d0 / d1 / ...`` divided in float32 over x's dims in order, which
every dynamic kernel gets (the numpy API, the native runtime, ``bce-grad aot`` packages and
the framework ops); ``mean_cof="constant"`` is the static entry's compile-time constant
``float32(1.0 / numel(x))``. They differ by 1 ulp for some shapes (e.g. (7, 11)).

Every UT, ST, benchmark and the demo import this module; none copies it.
"""
from __future__ import annotations

import math

import ml_dtypes
import numpy as np

from bce_grad import op_support

EPS = 1e-12
REDUCTIONS = op_support.REDUCTIONS
#: How a kernel gets its mean coefficient: CANN's op tiling, or the static entry's constant.
MEAN_COF_KINDS = ("tiling", "constant")
_NP_DTYPES = {"float16": np.float16, "float32": np.float32, "float64": np.float64,
              "bfloat16": ml_dtypes.bfloat16}


def np_dtype(name: str) -> np.dtype:
    """The numpy dtype for ``float16``, ``bfloat16``, ``float32`` or ``float64``."""
    return np.dtype(_NP_DTYPES[name])


def mean_coefficient(shape, kind: str = "tiling", compute_dtype: str = "float32") -> np.generic:
    """The coefficient ``1/numel(x)`` of ``reduction="mean"``, rounded as CANN rounds it.

    Parameters
    ----------
    shape : sequence of int
        x's shape, in order (the tiling divides dim by dim, so the order matters).
    kind : {"tiling", "constant"}
        ``"tiling"``: CANN's op tiling (``op_tiling/binary_cross_entropy_grad.cc``) starts from
        ``1.0f`` and divides by each dim of x in float32, in order; on the float16 branch the
        float32 result is then rounded to float16. Dynamic kernels get this value.
        ``"constant"``: the static entry's ``1.0 / numel`` in double precision, rounded once to
        the compute dtype (a kernel compiled with every dim of x known, dynamic entry included).
    compute_dtype : {"float32", "float16", "float64"}
        The dtype the kernel multiplies in; ``"float64"`` gives the exact ``1/numel``.

    Returns
    -------
    numpy scalar
        The coefficient in ``compute_dtype``; 0 when x is empty (the kernel then never runs).

    Examples
    --------
    >>> mean_coefficient((7, 11)) == np.float32(1 / 77)
    np.False_
    >>> mean_coefficient((7, 11), "constant") == np.float32(1 / 77)
    np.True_
    """
    if kind not in MEAN_COF_KINDS:
        raise ValueError(f"kind should be one of {MEAN_COF_KINDS}, got {kind!r}")
    calc = np_dtype(compute_dtype)
    dims = [int(d) for d in shape]
    count = math.prod(dims)
    if count == 0:
        return calc.type(0.0)
    if compute_dtype == "float64" or kind == "constant":
        return calc.type(1.0 / count)
    cof = np.float32(1.0)
    for dim in dims:
        cof = np.float32(cof / np.float32(dim))
    return calc.type(cof)


def binary_cross_entropy_grad_golden(*, x: np.ndarray, y: np.ndarray, grad_output: np.ndarray,
                                     weight: np.ndarray | None = None, reduction: str = "mean",
                                     compute_dtype: str = "float64",
                                     out_dtype: str | None = None,
                                     mean_cof: str = "tiling") -> np.ndarray:
    """Reference gradient of binary cross entropy with respect to ``x``.

    ``out = grad_output * weight * (x - y) / max(x * (1 - x), 1e-12)``, times
    ``1/numel(x)`` when ``reduction == "mean"`` (0 when x is empty; rounded as
    :func:`mean_coefficient` says). y, grad_output and weight broadcast to x's shape.
    Every argument is keyword-only: the operator's order (x, y, grad_output) and the API's
    (grad_output, x, y) differ, and a positional call in the wrong one returned wrong numbers.

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
    mean_cof : {"tiling", "constant"}
        Which kernel's mean coefficient to use (:func:`mean_coefficient`): ``"tiling"`` for
        dynamic kernels (the API, the runtime, packages), ``"constant"`` for the static entry.
        No effect with ``compute_dtype="float64"`` (exact ``1/numel``).

    Returns
    -------
    numpy.ndarray
        The gradient, shaped like x.

    Examples
    --------
    >>> x = np.array([0.5]); y = np.array([0.0]); g = np.array([2.0])
    >>> float(binary_cross_entropy_grad_golden(x=x, y=y, grad_output=g, reduction="sum")[0])
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
            result = result * mean_coefficient(shape, mean_cof, compute_dtype)
        return np.asarray(result.astype(np_dtype(out_dtype or compute_dtype)))


def ulp_distance(actual: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """Units in the last place between two arrays of one float dtype (sign-aware bit order)."""
    width = {2: np.uint16, 4: np.uint32}[actual.dtype.itemsize]
    sign = np.int64(1) << (8 * actual.dtype.itemsize - 1)

    def ordered(a: np.ndarray) -> np.ndarray:
        bits = np.ascontiguousarray(a).view(width).astype(np.int64)
        return np.where(bits & sign, -(bits & (sign - 1)), bits)

    return np.abs(ordered(actual) - ordered(expected.astype(actual.dtype)))
