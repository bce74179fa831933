"""``op_test_frame.common.precision_info``: precision standards and their comparison rule.

op_test_frame's meanings, which are not numpy's:

- ``atol`` is a *relative* per-element bound: an element is an error when
  ``|actual - expect| > |expect| * atol``;
- ``rtol`` is the fraction of elements allowed to be errors;
- ``max_atol``, when set, fails the case if any element has
  ``|actual - expect| > |expect| * max_atol``.

Elements compare as op_test_frame compares them: where actual and expect are both
inf (or either is NaN) the difference is NaN, which meets no bound, so the element
counts as an error (inside the ``rtol`` fraction when rare). ``precision_type`` is
recorded but, as in op_test_frame, the bound is always relative to ``|expect|``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PRECISION_TYPES = ("percent", "absolute")


class PrecisionStandard:
    """One precision standard, as op_test_frame's constructor takes it.

    Parameters
    ----------
    rtol : float
        Fraction of elements allowed to miss the per-element bound.
    atol : float
        Per-element bound, relative to ``|expect|`` (absolute for ``"absolute"``).
    max_atol : float, optional
        Bound that no element may miss.
    precision_type : {"percent", "absolute"}
        How ``atol`` and ``max_atol`` are read.
    """

    def __init__(self, rtol: float, atol: float, max_atol: float | None = None,
                 precision_type: str = "percent") -> None:
        if precision_type not in PRECISION_TYPES:
            raise RuntimeError(f"precision_type should be one of {list(PRECISION_TYPES)}, "
                               f"but actually is [{precision_type}]")
        self.rtol = rtol
        self.atol = atol
        self.max_atol = max_atol
        self.precision_type = precision_type

    @staticmethod
    def parse_json_obj(json_obj: dict | None) -> "PrecisionStandard | None":
        """A standard from :meth:`to_json_obj`'s dict; None for an empty one."""
        if not json_obj:
            return None
        return PrecisionStandard(json_obj["rtol"], json_obj["atol"], json_obj["max_atol"],
                                 json_obj["precision_type"])

    def to_json_obj(self) -> dict:
        """``{precision_type, rtol, atol, max_atol}``, as op_test_frame's report holds it."""
        return {"precision_type": self.precision_type, "rtol": self.rtol, "atol": self.atol,
                "max_atol": self.max_atol}

    def __repr__(self) -> str:
        return (f"PrecisionStandard(rtol={self.rtol}, atol={self.atol}, "
                f"max_atol={self.max_atol}, precision_type={self.precision_type!r})")


_DEFAULTS = {
    "float16": (0.001, 0.001, 0.1, "percent"),
    "float32": (0.0001, 0.0001, 0.01, "percent"),
    "float": (0.0001, 0.0001, 0.01, "percent"),
    "int8": (0.001, 1, 1, "absolute"),
    "uint8": (0.001, 1, 1, "absolute"),
}


def get_default_standard(dtype: str) -> PrecisionStandard:
    """op_test_frame's default standard for ``dtype`` (float16's for other dtypes)."""
    rtol, atol, max_atol, kind = _DEFAULTS.get(str(dtype), (0.001, 0.001, 0.1, "percent"))
    return PrecisionStandard(rtol, atol, max_atol, kind)


@dataclass
class CompareResult:
    """Outcome of one comparison, with the numbers a report shows."""

    passed: bool
    error_count: int
    total: int
    allowed_errors: float
    max_bound_misses: int
    max_abs_diff: float
    message: str


def compare_precision(actual: np.ndarray, expect: np.ndarray,
                      standard: PrecisionStandard) -> CompareResult:
    """Compare ``actual`` with ``expect`` by op_test_frame's rule (see the module docstring)."""
    act = np.asarray(actual).astype(np.float64).reshape(-1)
    exp = np.asarray(expect).astype(np.float64).reshape(-1)
    if act.size != exp.size:
        return CompareResult(False, act.size, act.size, 0, 0, float("inf"),
                             f"actual has {act.size} elements but expect has {exp.size}")
    with np.errstate(all="ignore"):
        diff = np.abs(act - exp)
        scale = np.abs(exp)
        errors = ~(diff <= scale * standard.atol)
        misses = int(np.sum(~(diff <= scale * standard.max_atol))) if standard.max_atol else 0
    count = int(np.sum(errors))
    allowed = standard.rtol * act.size
    max_diff = float(np.nanmax(diff)) if diff.size and not np.isnan(diff).all() else 0.0
    passed = count <= allowed and misses == 0
    message = (f"{count}/{act.size} elements beyond atol {standard.atol} (allowed "
               f"{allowed:g} by rtol {standard.rtol}); {misses} beyond max_atol "
               f"{standard.max_atol}; max |actual-expect| {max_diff:g}")
    return CompareResult(passed, count, act.size, allowed, misses, max_diff, message)
