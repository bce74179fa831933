"""msopst golden hook of BinaryCrossEntropyGrad: a thin wrapper over the project's one golden.

msopst calls it with keyword arguments named after the case file's ``name`` fields:
inputs as ``{value, dtype, shape, format}``, outputs as ``{dtype, shape, format}``,
attributes as raw values. The project root must be importable (``PYTHONPATH``).
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np

if str(Path(__file__).resolve().parents[2]) not in sys.path:  # loaded by file path
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bce_grad.golden import binary_cross_entropy_grad_golden  # noqa: E402


def calc_expect_func(x: dict, y: dict, grad_output: dict, weight: dict | None = None,
                     output: dict | None = None, reduction: str = "mean", **_: Any) -> np.ndarray:
    """The expected ``output``: exact math, rounded once to the output dtype (mean scaled)."""
    out_dtype = (output or {}).get("dtype", x["dtype"])
    out_dtype = {"float": "float32"}.get(out_dtype, out_dtype)
    return binary_cross_entropy_grad_golden(
        x=x["value"], y=y["value"], grad_output=grad_output["value"],
        weight=None if weight is None else weight["value"], reduction=reduction, compute_dtype="float64",
        out_dtype=out_dtype)
