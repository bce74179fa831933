"""Rows shorter than two chunks run flat, in tiles of whole rows, bit for bit as the golden.

x (N, 3) with grad_output (N, 1) used to run every element in the scalar tail of its row.
Such kernels now walk each tile of rows as one flat row (:mod:`host_backend.schedule.short_rows`):
inputs shaped as the output are read in place, any other input is copied into a tile buffer
first (a value per row with one vector store per row). The cases below sit on the edges of
that: row lengths around the spread width (16) and the short-row limit (64 on AVX2), row
counts that end a tile part-way, every dtype, per-row, per-column and scalar broadcasts.
"""
from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest

from bce_grad.api import binary_cross_entropy_backward
from bce_grad.golden import binary_cross_entropy_grad_golden
from bce_grad.host_backend.schedule import short_rows

DTYPES = {"float32": np.float32, "float16": np.float16, "bfloat16": ml_dtypes.bfloat16}

#: (rows, row length, shapes of y, grad_output, weight by name; "x" for x's shape).
CASES = [
    (1500, 3, {"y": "x", "grad_output": (-1, 1)}),              # 3 tiles of 682 rows, last short
    (2049, 2, {"y": "x", "grad_output": (-1, 1), "weight": (1, 2)}),
    (250, 16, {"y": (-1, 1), "grad_output": "x", "weight": (-1, 1)}),  # spread exactly one row
    (250, 17, {"y": "x", "grad_output": (-1, 1), "weight": (17,)}),    # one past the spread
    (70, 63, {"y": (1, 63), "grad_output": (-1, 1)}),           # the longest short row
    (5, 64, {"y": "x", "grad_output": (-1, 1)}),                # not short: rows as before
    (3, 5, {"y": "x", "grad_output": (), "weight": (1, 5)}),    # a scalar stays a scalar
]


def _inputs(rows, length, shapes, dtype, seed):
    rng = np.random.default_rng(seed)
    x_shape = (rows, length)

    def shape_of(spec):
        if spec == "x":
            return x_shape
        return tuple(rows if d == -1 else d for d in spec)

    ranges = {"y": (0.0, 1.0), "grad_output": (0.5, 1.5), "weight": (0.0, 2.0)}
    arrays = {"x": rng.uniform(0.01, 0.99, x_shape).astype(DTYPES[dtype])}
    for name, spec in shapes.items():
        arrays[name] = rng.uniform(*ranges[name], shape_of(spec)).astype(DTYPES[dtype])
    return arrays


@pytest.mark.parametrize("dtype", list(DTYPES))
@pytest.mark.parametrize("rows, length, shapes", CASES,
                         ids=[f"{r}x{n}-" + "-".join(s) for r, n, s in CASES])
def test_short_rows_match_the_golden_bit_for_bit(rows, length, shapes, dtype):
    arrays = _inputs(rows, length, shapes, dtype, seed=rows + length)
    for reduction in ("none", "mean"):
        got = binary_cross_entropy_backward(arrays["grad_output"], arrays["x"], arrays["y"],
                                            arrays.get("weight"), reduction)
        want = binary_cross_entropy_grad_golden(x=arrays["x"], y=arrays["y"], grad_output=arrays["grad_output"],
                                                weight=arrays.get("weight"), reduction=reduction, compute_dtype="float32", out_dtype=dtype)
        assert got.shape == arrays["x"].shape and got.dtype == arrays["x"].dtype
        assert got.tobytes() == np.asarray(want).tobytes(), (reduction, dtype)


@pytest.mark.parametrize("dtype", list(DTYPES))
def test_short_row_kernels_walk_tiles_flat(dtype, tmp_path, monkeypatch):
    """The scheduled kernel of x (N, L) with grad_output (N, 1) holds the flat tile walk, and a
    value per row is spread with vector stores (both failed before: rows ran one by one)."""
    import tvm

    from bce_grad.host_backend.build import kernel_meta_at
    from impl.dynamic.binary_cross_entropy_grad import binary_cross_entropy_grad

    scripts = []
    compile_ = tvm.compile

    def spy(module, *args, **kwargs):
        scripts.append(module.script())
        return compile_(module, *args, **kwargs)

    monkeypatch.setattr(tvm, "compile", spy)
    full = {"shape": [-1, -1], "range": [(1, None), (1, None)], "dtype": dtype, "format": "ND"}
    column = {"shape": [-1, 1], "range": [(1, None), (1, 1)], "dtype": dtype, "format": "ND"}
    with kernel_meta_at(tmp_path):
        binary_cross_entropy_grad(full, dict(full), column, None, dict(full), "mean", "short_rows")
    script = "\n".join(scripts)
    assert "_flat" in script, "no flat tile walk"
    assert f"T.vectorized(T.int64({short_rows.SPREAD}))" in script, "per-row values not spread"
    assert "T.alloc_local" in script, "broadcast input not copied into a tile buffer"

