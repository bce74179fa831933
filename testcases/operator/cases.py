"""The operator's test grid, as data: dtypes, SoCs, broadcast patterns, edge values, tolerances."""
from __future__ import annotations

import numpy as np

from bce_grad import op_support
from bce_grad.golden import ulp_distance  # noqa: F401 - re-exported for the tests
from bce_grad.op_support import REDUCTIONS, SOC_DIRS, supported_dtypes  # noqa: F401

#: dtype name -> numpy scalar type, for every dtype the operator computes in.
DTYPES = {name: op_support.numpy_dtype(name).type for name in op_support.DTYPES}
X_SHAPE = (3, 4, 5)
#: Shapes of y / grad_output / weight that broadcast to X_SHAPE.
BROADCASTS = {"scalar": (), "one": (1,), "row": (5,), "column": (3, 1, 1), "middle": (4, 1),
              "full": X_SHAPE}
#: One full SoC version per supported short version.
SOC_EXAMPLES = {"ascend910": "Ascend910A", "ascend910b": "Ascend910B1",
                "ascend910_93": "Ascend910_9391", "ascend310p": "Ascend310P3",
                "ascend950": "Ascend950PR_9599"}
#: (soc, dtype) pairs that the op info allows: derived from op_info_cfg, never listed by hand.
SOC_DTYPES = [(SOC_EXAMPLES[d], dtype) for d in SOC_DIRS for dtype in supported_dtypes(d, "x")]
#: Tolerance against the float64 golden, in units in the last place of the output dtype.
#: float32: the op rounds five times (sub, mul, div, two muls); a few ulp is the bound.
#: float16/bfloat16: computed in float32 and rounded once, so at most 1 ulp from the exact value.
ULP_TOLERANCE = {"float32": 4, "float16": 1, "bfloat16": 1}


def make_inputs(rng: np.random.Generator, dtype: str, shapes: dict[str, tuple]) -> dict[str, np.ndarray]:
    """x in (0.01, 0.99), y in [0, 1], grad_output in (0.5, 1.5), weight in (0, 2)."""
    np_dtype = DTYPES[dtype]
    ranges = {"x": (0.01, 0.99), "y": (0.0, 1.0), "grad_output": (0.5, 1.5), "weight": (0.0, 2.0)}
    return {name: np.asarray(rng.uniform(*ranges[name], shape)).astype(np_dtype)
            for name, shape in shapes.items()}
