"""``op_test_frame.common.data_generator``: random input data by distribution.

``gen_data(data_shape, min_value, max_value, dtype, distribution)`` as op_test_frame
has it, each distribution reading ``min_value``/``max_value`` as op_test_frame does:

==============  =====================================================================
uniform         uniform in [min_value, max_value)
normal          mean ``min_value``, standard deviation ``|max_value| + 1e-4``
beta            alpha ``|min_value| + 1e-4``, beta ``|max_value| + 1e-4``
laplace         centre ``min_value``, scale ``|max_value| + 1e-4``
triangular      left ``min_value``, right ``max_value``, mode uniform in between
relu/sigmoid/   the activation applied to uniform [min_value, max_value) data
tanh/softmax    (softmax normalises over the whole tensor)
==============  =====================================================================

Data come from numpy's global generator, as on CANN: seed it with ``np.random.seed``
for a reproducible case. ``dtype`` takes CANN's names (``float`` is float32) and bfloat16.
"""
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
    if isinstance(dtype, np.dtype) or (isinstance(dtype, type) and issubclass(dtype, np.generic)):
        return np.dtype(dtype)
    if str(dtype) not in NUMPY_DTYPES:
        raise RuntimeError(f"dtype should be one of {sorted(NUMPY_DTYPES)}, but actually is "
                           f"[{dtype}]")
    return np.dtype(NUMPY_DTYPES[str(dtype)])


def _sample(shape: tuple[int, ...], low: float, high: float, distribution: str) -> np.ndarray:
    rng = np.random
    if distribution == "uniform":
        return rng.uniform(low, high, shape)
    if distribution == "normal":
        return rng.normal(low, abs(high) + 1e-4, shape)
    if distribution == "beta":
        return rng.beta(abs(low) + 1e-4, abs(high) + 1e-4, shape)
    if distribution == "laplace":
        return rng.laplace(low, abs(high) + 1e-4, shape)
    if distribution == "triangular":
        return rng.triangular(low, rng.uniform(low, high), high, shape)
    base = rng.uniform(low, high, shape)
    if distribution == "relu":
        return np.maximum(base, 0)
    if distribution == "sigmoid":
        return 1 / (1 + np.exp(-base))
    if distribution == "softmax":
        return np.exp(base) / np.sum(np.exp(base))
    return np.tanh(base)


def gen_data(data_shape: Sequence[int], min_value: float, max_value: float, dtype: str,
             distribution: str = "uniform") -> np.ndarray:
    """Random data of ``data_shape`` and ``dtype`` drawn from ``distribution``.

    Parameters
    ----------
    data_shape : sequence of int
        Concrete shape; no -1 or -2.
    min_value, max_value : float
        The distribution's two parameters (see the module docstring).
    dtype : str
        CANN dtype name (``float``, ``float16``, ``bfloat16``, ``bool``, ...).
    distribution : str
        One of :data:`DISTRIBUTIONS`.
    """
    if distribution not in DISTRIBUTIONS:
        raise ValueError(f"distribution should in [{','.join(DISTRIBUTIONS)}]")
    shape = tuple(int(d) for d in data_shape)
    if any(d < 0 for d in shape):
        raise RuntimeError(f"shape should be concrete (no -1 or -2) to generate data, but "
                           f"actually is {list(shape)}; give run_shape")
    if str(dtype) == "bool":
        return np.random.uniform(0, 2, shape).astype(np.int8).astype(np.bool_)
    return _sample(shape, float(min_value), float(max_value), distribution).astype(np_dtype(dtype))
