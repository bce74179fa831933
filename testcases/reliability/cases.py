"""Shared inputs of the reliability tests: a few calls and their float32-compute golden."""
from __future__ import annotations

import ml_dtypes
import numpy as np

from bce_grad.golden import binary_cross_entropy_grad_golden

NP = {"float32": np.float32, "float16": np.float16, "bfloat16": ml_dtypes.bfloat16}


def make_call(seed: int, dtype: str, gshape=(4, 8), wshape=None, xshape=(4, 8)):
    """Inputs of one call: x in (0, 1), y in [0, 1], grad and optional weight in [-1, 1]."""
    rng = np.random.default_rng(seed)
    cast = NP[dtype]
    x = rng.uniform(0.01, 0.99, xshape).astype(cast)
    y = rng.uniform(0.0, 1.0, xshape).astype(cast)
    g = rng.uniform(-1, 1, gshape).astype(cast)
    w = None if wshape is None else rng.uniform(-1, 1, wshape).astype(cast)
    return x, y, g, w


def golden(x, y, g, w, reduction, out_dtype):
    """The float32-compute golden, rounded once to ``out_dtype``."""
    return binary_cross_entropy_grad_golden(x=np.asarray(x), y=np.asarray(y), grad_output=np.asarray(g),
                                            weight=None if w is None else np.asarray(w), reduction=reduction,
                                            compute_dtype="float32", out_dtype=out_dtype)


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    """Bit-for-bit equality (NaNs with the same payload compare equal)."""
    return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()
