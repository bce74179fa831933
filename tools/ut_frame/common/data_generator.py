"""``op_test_frame.common.data_generator``: random input data by distribution."""
from __future__ import annotations

from typing import Sequence

import ml_dtypes
import numpy as np

NUMPY_DTYPES = {"float16": np.float16, "float32": np.float32, "float": np.float32,
                "bfloat16": ml_dtypes.bfloat16, "float64": np.float64, "double": np.float64,
                "int8": np.int8, "uint8": np.uint8, "int32": np.int32, "int64": np.int64,
                "bool": np.bool_}
DISTRIBUTIONS = ("uniform", "normal", "beta", "laplace", "triangular", "relu", "sigmoid",
                 "softmax", "tanh")


def np_dtype(dtype: str) -> np.dtype:
    """The numpy dtype of a CANN dtype name; refuses unknown names."""
    if str(dtype) not in NUMPY_DTYPES:
        raise RuntimeError(f"dtype should be one of {sorted(NUMPY_DTYPES)}, but actually is "
                           f"[{dtype}]")
    return np.dtype(NUMPY_DTYPES[str(dtype)])


def _sample(rng: np.random.Generator, shape: tuple[int, ...], low: float, high: float,
            distribution: str) -> np.ndarray:
    mid, half = (low + high) / 2, (high - low) / 2
    if distribution == "uniform":
        return rng.uniform(low, high, shape)
    if distribution == "normal":
        return np.clip(rng.normal(mid, half / 3 or 1.0, shape), low, high)
    if distribution == "beta":
        return low + (high - low) * rng.beta(2.0, 5.0, shape)
    if distribution == "laplace":
        return np.clip(rng.laplace(mid, half / 3 or 1.0, shape), low, high)
    if distribution == "triangular":
        return rng.triangular(low, mid, high, shape)
    base = rng.uniform(low, high, shape)
    if distribution == "relu":
        return np.maximum(base, 0)
    if distribution == "sigmoid":
        return 1 / (1 + np.exp(-base))
    if distribution == "softmax":
        exp = np.exp(base - base.max(axis=-1, keepdims=True)) if base.size else base
        return exp / exp.sum(axis=-1, keepdims=True) if base.size else base
    return np.tanh(base)


def gen_data(shape: Sequence[int], min_value: float, max_value: float, dtype: str,
             distribution: str = "uniform", seed: int | None = None) -> np.ndarray:
    """Random data of ``shape`` and ``dtype``, drawn from ``distribution`` in [min, max].

    Parameters
    ----------
    shape : sequence of int
        Concrete shape; no -1 or -2.
    min_value, max_value : float
        The value range.
    dtype : str
        CANN dtype name (``float``, ``float16``, ``bfloat16``, ...).
    distribution : str
        One of :data:`DISTRIBUTIONS`.
    seed : int, optional
        Seed of the generator, for reproducible cases.
    """
    if distribution not in DISTRIBUTIONS:
        raise RuntimeError(f"distribution should be one of {list(DISTRIBUTIONS)}, but actually "
                           f"is [{distribution}]")
    shape = tuple(int(d) for d in shape)
    if any(d < 0 for d in shape):
        raise RuntimeError(f"shape should be concrete (no -1 or -2) to generate data, but "
                           f"actually is {list(shape)}; give run_shape")
    if min_value > max_value:
        raise RuntimeError(f"value_range should be [min, max] with min <= max, but actually is "
                           f"[{min_value}, {max_value}]")
    rng = np.random.default_rng(seed)
    return _sample(rng, shape, float(min_value), float(max_value), distribution).astype(np_dtype(dtype))
