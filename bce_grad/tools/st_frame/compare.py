"""msopst's comparison: ``-err_thr [diff_thd, pct_thd]``, default ``[0.01, 0.05]``.

Per element where both values are finite, with ``d = |actual - expect|`` (in float32):

- ``d < diff_thd``: the element's error is ``d`` itself, so it never fails;
- otherwise its error is ``d / (max(|actual|, |expect|, 2**-14 / diff_thd) + 1e-9)``;
- the element fails when its error exceeds ``diff_thd``.

A case fails when more than ``pct_thd`` of the elements fail, or when any failing element's
error is 10 % or more (``max_diff_hd``), even inside ``pct_thd``.

Where msopst differs, and why: msopst skips an element whose ``d`` is NaN (a NaN) or whose
relative error is NaN (inf against a finite value), so an output of all NaN or all inf passes
there. Here NaN against NaN and inf against the same-signed inf match; any other element where
either value is NaN or inf is an error, counted in ``error_count``, and fails the case however
rare, as an error beyond ``max_diff_hd`` would.
"""
from __future__ import annotations

import json

import numpy as np

DEFAULT_ERR_THR = (0.01, 0.05)
MAX_DIFF_HD = 0.1


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
    if not (0 < rel and 0 <= frac <= 1):
        raise ValueError(f"the option [-err_thr] should have relative > 0 and 0 <= fraction <= 1, "
                         f"but actually is [{text}]")
    return rel, frac


def compare(actual: np.ndarray, expect: np.ndarray, err_thr: tuple[float, float]) -> dict:
    """Compare two arrays by msopst's rule; return ``passed``, counts and the worst error."""
    act = np.asarray(actual).astype(np.float32).reshape(-1)
    exp = np.asarray(expect).astype(np.float32).reshape(-1)
    if act.size != exp.size:
        return {"passed": False, "error_count": act.size, "total": int(act.size),
                "max_error": None,
                "message": f"the size of actual output [{act.size}] and expect [{exp.size}] "
                           f"is not equal"}
    if act.size == 0:
        return {"passed": True, "error_count": 0, "total": 0, "max_error": 0.0,
                "message": "empty output, the same as expect"}
    diff_thd, pct_thd = err_thr
    finite = np.isfinite(act) & np.isfinite(exp)
    same_special = (np.isnan(act) & np.isnan(exp)) | (np.isinf(act) & (act == exp))
    mismatched = int(np.count_nonzero(~finite & ~same_special))
    act, exp = act[finite], exp[finite]
    with np.errstate(all="ignore"):
        diff = np.abs(act - exp)
        idx = np.where(diff > 0)
        floor = np.float32((1.0 / (1 << 14)) / diff_thd)
        scale = np.maximum(np.maximum(np.abs(act[idx]), np.abs(exp[idx])), floor) + 10e-10
        rdiff = np.where(diff[idx] < diff_thd, diff[idx], diff[idx] / scale)
        errors = rdiff[rdiff > diff_thd]
    total = int(finite.size)
    error_count = int(errors.size) + mismatched
    fulfill = (total - error_count) / total
    max_error = float(errors.max()) if errors.size else 0.0
    passed = fulfill >= 1 - pct_thd and max_error < MAX_DIFF_HD and not mismatched
    message = (f"{error_count}/{total} elements beyond {diff_thd} (allowed {pct_thd:.2%}); "
               f"max error {max_error:.6g} (fails at {MAX_DIFF_HD})")
    if mismatched:
        message += (f"; {mismatched} elements NaN or inf where the other side is not the same "
                    f"(fails at 1)")
    return {"passed": bool(passed), "error_count": error_count, "total": total,
            "max_error": max_error, "message": message}
