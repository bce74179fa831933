"""The operator against PyTorch's aten.binary_cross_entropy_backward (skipped without torch).

PyTorch eager computes fp16/bf16 in the storage dtype (every step rounds), while this
operator computes in fp32 and rounds once; peer-semantics §1.6 measured the gap against
float64 at up to 2.4e-3 relative (fp16) and 2.2e-2 (bf16). The tolerances below are that
gap plus one rounding of our own: rtol 4e-3 for fp16 and 3.2e-2 for bf16; fp32 agrees to
a few ulp (rtol 1e-5). Mean results of fp16 fall into fp16's subnormal range, where the
spacing is a fixed 2**-24, so fp16 also allows one subnormal step (atol 2**-24). Inputs keep x
away from 0 and 1, where fp16 eager gives NaN/inf.
"""
from __future__ import annotations

import numpy as np
import pytest

from testcases.operator.cases import DTYPES, make_inputs
from bce_grad.api import binary_cross_entropy_backward as bce_backward

torch = pytest.importorskip("torch", reason="torch is not installed: PyTorch comparisons skipped")
pytestmark = pytest.mark.torch

RTOL = {"float32": 1e-5, "float16": 4e-3, "bfloat16": 3.2e-2}
ATOL = {"float32": 1e-30, "float16": 2.0 ** -24, "bfloat16": 1e-30}
ENUM = {"none": 0, "mean": 1, "sum": 2}


def _to_torch(array: np.ndarray):
    if str(array.dtype) == "bfloat16":
        return torch.from_numpy(array.view(np.int16).copy()).view(torch.bfloat16)
    return torch.from_numpy(array.copy())


@pytest.mark.parametrize("weight", [True, False], ids=["weight", "no_weight"])
@pytest.mark.parametrize("reduction", ENUM)
@pytest.mark.parametrize("dtype", DTYPES)
def test_matches_torch(dtype, reduction, weight):
    shapes = {"x": (64, 33), "y": (64, 33), "grad_output": (64, 33)}
    if weight:
        shapes["weight"] = (64, 33)
    data = make_inputs(np.random.default_rng(30), dtype, shapes)
    ours = bce_backward(data["grad_output"], data["x"], data["y"], data.get("weight"), reduction)
    t = {k: _to_torch(v) for k, v in data.items()}
    theirs = torch.ops.aten.binary_cross_entropy_backward(
        t["grad_output"], t["x"], t["y"], t.get("weight"), ENUM[reduction]).float().numpy()
    np.testing.assert_allclose(ours.astype(np.float32), theirs, rtol=RTOL[dtype], atol=ATOL[dtype])
