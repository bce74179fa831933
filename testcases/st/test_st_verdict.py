"""The ST verdict cannot pass garbage: NaN or inf where the golden is finite (or the reverse) fails.

msopst's own compare skips such elements (a NaN difference is not > 0; inf against a finite value
gives a NaN relative error), so an all-NaN output passes there. Ours counts each as an error and
fails the case on any of them; NaN against NaN and inf against the same-signed inf still match.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from bce_grad.tools.cli import main
from bce_grad.tools.st_frame import runner
from bce_grad.tools.st_frame.compare import DEFAULT_ERR_THR, compare

CASE_FILE = Path(__file__).with_name("BinaryCrossEntropyGrad_case.json")
EXPECT = np.linspace(-3.0, 3.0, 1000, dtype=np.float32)


def _one_nan(a: np.ndarray) -> np.ndarray:
    out = a.copy()
    out.reshape(-1)[len(out.reshape(-1)) // 2] = np.nan
    return out


GARBAGE: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "all_nan": lambda a: np.full_like(a, np.nan),
    "all_inf": lambda a: np.full_like(a, np.inf),
    "all_minus_inf": lambda a: np.full_like(a, -np.inf),
    "one_nan_in_many": _one_nan,
    "sign_flipped": lambda a: -a,
}


@pytest.mark.parametrize("name", GARBAGE)
def test_garbage_output_fails_compare(name):
    result = compare(GARBAGE[name](EXPECT), EXPECT, DEFAULT_ERR_THR)
    assert result["passed"] is False, result
    assert result["error_count"] >= 1 and result["total"] == EXPECT.size


def test_exact_output_passes_compare():
    result = compare(EXPECT.copy(), EXPECT, DEFAULT_ERR_THR)
    assert result == {**result, "passed": True, "error_count": 0, "max_error": 0.0}


@pytest.mark.parametrize(("actual", "expect", "passed"), [
    ([np.nan, 1.0], [np.nan, 1.0], True),          # NaN vs NaN matches
    ([np.inf, -np.inf], [np.inf, -np.inf], True),  # same-signed infinities match
    ([np.inf, 1.0], [-np.inf, 1.0], False),        # opposite infinities
    ([1.0, 1.0], [np.nan, 1.0], False),            # finite where the golden is NaN
    ([1.0, 1.0], [np.inf, 1.0], False),            # finite where the golden is inf
    ([np.nan, 1.0], [np.inf, 1.0], False),         # NaN where the golden is inf
])
def test_nonfinite_elements(actual, expect, passed):
    result = compare(actual, expect, (0.01, 0.5))
    assert result["passed"] is passed, result
    assert result["error_count"] == (0 if passed else 1)
    if not passed:
        assert "NaN or inf" in result["message"]


def test_one_nonfinite_mismatch_fails_inside_the_allowed_fraction():
    expect = np.ones(10_000, np.float32)
    actual = expect.copy()
    actual[17] = np.inf
    result = compare(actual, expect, (0.01, 0.05))
    assert result["passed"] is False
    assert result["error_count"] == 1
    assert json.loads(json.dumps(result, allow_nan=False)) == result  # strict JSON in the report


def _float32_case(tmp_path: Path) -> Path:
    cases = json.loads(CASE_FILE.read_text())[:1]
    for desc in cases[0]["input_desc"] + cases[0]["output_desc"]:
        desc["type"] = "float"
    cases[0]["calc_expect_func_file"] = str(CASE_FILE.with_name("binary_cross_entropy_grad_golden.py")) \
        + ":calc_expect_func"
    path = tmp_path / "one_case.json"
    path.write_text(json.dumps(cases))
    return path


def _run_with_output(tmp_path, monkeypatch, change: Callable[[np.ndarray], np.ndarray]) -> tuple[int, dict]:
    real_launch = runner.host_kernel.launch

    def launch(*args, **kwargs):
        return [change(a) for a in real_launch(*args, **kwargs)]

    monkeypatch.setattr(runner.host_kernel, "launch", launch)
    out = tmp_path / "out"
    rc = main(["st", "run", "-i", str(_float32_case(tmp_path)), "-soc", "Ascend910B1",
               "-out", str(out)])
    (run_dir,) = [p for p in out.iterdir() if p.is_dir()]
    return rc, json.loads((run_dir / "st_report.json").read_text())


@pytest.mark.parametrize("name", GARBAGE)
def test_st_run_fails_garbage_output(tmp_path, monkeypatch, name):
    rc, report = _run_with_output(tmp_path, monkeypatch, GARBAGE[name])
    assert rc == 1
    assert report["summary"]["failed count"] == 1
    (entry,) = report["report_list"]
    assert entry["trace_detail"]["stage_result"][-1]["stage_name"] == "compare_data"
    assert entry["trace_detail"]["stage_result"][-1]["status"] == "failed"
    assert entry["compare"][0]["passed"] is False


def test_st_run_passes_exact_output(tmp_path, monkeypatch):
    rc, report = _run_with_output(tmp_path, monkeypatch, lambda a: a)
    assert rc == 0
    assert report["summary"]["failed count"] == 0
    assert report["report_list"][0]["compare"][0]["error_count"] == 0
