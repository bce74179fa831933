"""Property test: any rank, broadcast, dtype mix, reduction and memory layout agrees bit for bit
with the float32-compute golden.

A handful of configurations (dtypes, reduction, broadcast kinds) keeps the number of distinct
kernels small, so nearly every example runs a cached kernel; shapes, values and layouts vary
freely. ``BCE_GRAD_HYPOTHESIS_PROFILE=thorough`` runs 10,000 examples instead of 2,000.
"""
from __future__ import annotations

import math

import ml_dtypes
import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from bce_grad.api import binary_cross_entropy_backward as bce_backward
from impl.binary_cross_entropy_grad import promote_dtypes

from .cases import NP, golden, same_bits

BF, F16, F32 = "bfloat16", "float16", "float32"
#: (x, y, grad, weight or None) dtypes, reduction, and how y / grad / weight broadcast.
CONFIGS = [
    ((F32, F32, F32, None), "mean", ("same", "scalar", None)),
    ((F16, F16, F16, F16), "none", ("same", "suffix", "same")),
    ((BF, BF, BF, None), "sum", ("suffix", "same", None)),
    ((F16, F32, F16, None), "mean", ("same", "same", None)),
    ((BF, F16, BF, BF), "none", ("same", "scalar", "suffix")),
    ((F32, F32, F32, F32), "sum", ("same", "last1", "scalar")),
    ((F16, F16, F16, None), "mean", ("same", "same", None)),
    ((BF, BF, F32, None), "none", ("same", "suffix", None)),
]
LAYOUTS = ["c", "fortran", "strided", "negative", "zero_stride", "read_only", "unaligned"]


@st.composite
def x_shapes(draw):
    rank = draw(st.integers(0, 8))
    dims = []
    for _ in range(rank):
        budget = 64 // max(1, math.prod(dims))
        dims.append(draw(st.integers(1 if budget < 2 else 1, max(1, min(4, budget)))))
    return tuple(dims)


def _broadcast_shape(kind: str, shape: tuple[int, ...], draw) -> tuple[int, ...]:
    if kind == "same" or not shape:
        return shape
    if kind == "scalar":
        return (1,) * draw(st.integers(0, len(shape)))
    if kind == "suffix":
        return shape[draw(st.integers(0, len(shape))):]
    return shape[:-1] + (1,)  # last1


def _values(rng, shape, lo, hi, specials):
    values = rng.uniform(lo, hi, shape)
    if specials and values.size:
        mask = rng.random(shape) < 0.25
        values = np.where(mask, rng.choice(specials, shape), values)
    return values


def _layout(kind: str, array: np.ndarray, rng) -> np.ndarray:
    """The same values as ``array``, in memory laid out as ``kind`` says."""
    if kind == "fortran" and array.ndim:  # asfortranarray makes a 0-d array 1-d
        return np.asfortranarray(array)
    if kind == "strided" and array.ndim:
        wide = np.zeros(array.shape[:-1] + (array.shape[-1] * 2,), array.dtype)
        wide[..., ::2] = array
        return wide[..., ::2]
    if kind == "negative" and array.ndim:
        flipped = np.ascontiguousarray(array[..., ::-1])
        return flipped[..., ::-1]
    if kind == "zero_stride" and array.ndim:  # stride 0 on axis 0 (read-only, as numpy makes it)
        return np.broadcast_to(array[:1], array.shape)
    if kind == "read_only":
        copy = array.copy()
        copy.flags.writeable = False
        return copy
    if kind == "unaligned":
        raw = np.zeros(array.nbytes + array.itemsize + 1, np.uint8)
        offset = int(rng.integers(1, array.itemsize + 1)) if array.itemsize > 1 else 1
        view = raw[offset:offset + array.nbytes].view(array.dtype).reshape(array.shape)
        view[...] = array
        return view
    return array


@st.composite
def calls(draw):
    dtypes, reduction, kinds = draw(st.sampled_from(CONFIGS))
    shape = draw(x_shapes())
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    shapes = [shape] + [_broadcast_shape(k, shape, draw) if k else None for k in kinds]
    specs = [((0.0, 1.0), [0.0, 1.0]), ((0.0, 1.0), [0.0, 1.0]), ((-2.0, 2.0), [0.0]),
             ((-2.0, 2.0), [0.0, 1.0])]
    arrays = []
    for dtype, shp, ((lo, hi), special) in zip(dtypes, shapes, specs):
        if dtype is None:
            arrays.append(None)
            continue
        values = np.asarray(_values(rng, shp, lo, hi, special)).astype(NP[dtype])
        layout = draw(st.sampled_from(LAYOUTS))
        arrays.append(_layout(layout, values, rng))
    return arrays, reduction


@given(calls())
def test_any_layout_rank_broadcast_and_dtype_matches_the_golden(call):
    (x, y, g, w), reduction = call
    names = [str(a.dtype) for a in (x, y, g, w) if a is not None]
    out_dtype = promote_dtypes(names)
    out = bce_backward(g, x, y, w, reduction, soc="Ascend910B1")
    expected = golden(np.array(x), np.array(y), np.array(g), None if w is None else np.array(w),
                      reduction, out_dtype)
    assert out.dtype == np.dtype(NP[out_dtype]) and out.shape == x.shape
    assert same_bits(out, expected), (x.shape, y.shape, g.shape, reduction)


def test_bfloat16_is_covered():
    assert any(BF in cfg[0] for cfg in CONFIGS) and ml_dtypes.bfloat16 is NP[BF]
