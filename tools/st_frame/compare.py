"""msopst's comparison: ``-err_thr [rel, frac]``, default ``[0.01, 0.05]``.

An element is an error when its difference is at least ``rel`` in absolute terms
and more than ``rel`` relative to ``|expect|`` (below an absolute difference of
``rel`` the absolute difference is what counts). A case passes when the errors
are at most ``frac`` of the elements.
"""
from __future__ import annotations

import json

import numpy as np

DEFAULT_ERR_THR = (0.01, 0.05)


def parse_err_thr(text: str | None) -> tuple[float, float]:
    """Parse ``"[0.01,0.05]"``; an error names the option and the value."""
    if text is None:
        return DEFAULT_ERR_THR
    try:
        values = json.loads(text)
        rel, frac = (float(v) for v in values)
    except (ValueError, TypeError):
        raise ValueError(f"the option [-err_thr] should be '[relative, fraction]' such as "
                         f"'[0.01,0.05]', but actually is [{text}]") from None
    if not (0 <= rel and 0 <= frac <= 1):
        raise ValueError(f"the option [-err_thr] should have relative >= 0 and 0 <= fraction <= 1, "
                         f"but actually is [{text}]")
    return rel, frac


def compare(actual: np.ndarray, expect: np.ndarray, err_thr: tuple[float, float]) -> dict:
    """Compare two arrays; return ``passed``, counts and the worst differences."""
    act = np.asarray(actual).astype(np.float64).reshape(-1)
    exp = np.asarray(expect).astype(np.float64).reshape(-1)
    if act.size != exp.size:
        return {"passed": False, "error_count": act.size, "total": act.size,
                "message": f"actual has {act.size} elements, expect has {exp.size}"}
    rel_thr, frac = err_thr
    with np.errstate(all="ignore"):
        diff = np.where(act == exp, 0.0, np.abs(act - exp))
        rel = np.where(exp != 0, diff / np.abs(exp), np.inf)
        errors = (diff >= rel_thr) & (rel > rel_thr) | np.isnan(diff)
    count = int(np.sum(errors))
    passed = count <= frac * act.size
    return {"passed": bool(passed), "error_count": count, "total": int(act.size),
            "max_abs_diff": float(np.nanmax(diff)) if diff.size else 0.0,
            "message": f"{count}/{act.size} elements beyond {rel_thr} (allowed "
                       f"{frac * act.size:g} by {frac})"}
