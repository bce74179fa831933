"""InferShape of BinaryCrossEntropyGrad, the Python twin of ``op_proto/binary_cross_entropy_grad.cc``.

The rule: ``output`` copies x's shape, dtype, format and shape range. An unknown rank
(``shape == (-2,)``) stays unknown with an empty range. Where x carries no range, each
known dim ``d`` gets ``(d, d)`` and each unknown dim (``-1``) gets ``(1, None)``.
y, grad_output and weight do not change the output: they broadcast to x's shape.

Examples
--------
>>> infer_shape({"shape": (-1, 8), "dtype": "float16", "range": [(15, 16), (8, 8)]})["range"]
[(15, 16), (8, 8)]
"""
from __future__ import annotations

from typing import Any

from bce_grad.host_backend.errors import OpError

OP_TYPE = "BinaryCrossEntropyGrad"
UNKNOWN_DIM = -1
UNKNOWN_RANK = -2


def _fail(message: str) -> None:
    """Raise the project's invalid-parameter error for input ``x``."""
    raise OpError("E80000", message, OP_TYPE, "x")


def _check_shape(shape: Any) -> tuple[int, ...]:
    """Return x's shape as a tuple, or raise naming the rule it breaks."""
    if not isinstance(shape, (list, tuple)):
        _fail(f"x['shape'] must be a list or tuple of ints, got {shape!r}")
    dims = tuple(shape)
    if dims == (UNKNOWN_RANK,):
        return dims
    for dim in dims:
        if not isinstance(dim, int) or isinstance(dim, bool) or dim < UNKNOWN_DIM:
            _fail(f"x['shape'] dims must be ints >= -1 (or the whole shape (-2,)), got {shape!r}")
    return dims


def _output_range(dims: tuple[int, ...], x_range: Any) -> list[tuple[int, int | None]]:
    """x's range when it has one entry per dim, else one made up from the dims."""
    if dims == (UNKNOWN_RANK,):
        return []
    if x_range is not None and len(x_range) == len(dims):
        return [tuple(bounds) for bounds in x_range]
    return [(1, None) if dim == UNKNOWN_DIM else (dim, dim) for dim in dims]


def infer_shape(x: dict, **others: Any) -> dict:
    """Describe BinaryCrossEntropyGrad's output from x's description.

    Parameters
    ----------
    x : dict
        A TBE tensor description with ``"shape"`` and ``"dtype"``; ``"range"``,
        ``"format"``, ``"ori_shape"`` and ``"ori_format"`` are optional.
    **others
        y, grad_output, weight, reduction, ...: accepted and ignored, because the
        output depends on x alone.

    Returns
    -------
    dict
        ``{"shape", "dtype", "range", "format", "ori_shape", "ori_format"}`` of ``output``.

    Raises
    ------
    OpError
        E80000 if x is not a dict, lacks shape or dtype, or has a malformed shape.
    """
    if not isinstance(x, dict):
        _fail(f"x must be a tensor description dict, got {type(x).__name__}")
    for key in ("shape", "dtype"):
        if key not in x:
            _fail(f"x has no {key!r}; a tensor description needs 'shape' and 'dtype'")
    dims = _check_shape(x["shape"])
    fmt = x.get("format", "ND")
    return {
        "shape": dims,
        "dtype": x["dtype"],
        "range": _output_range(dims, x.get("range")),
        "format": fmt,
        "ori_shape": tuple(x.get("ori_shape", dims)),
        "ori_format": x.get("ori_format", fmt),
    }
