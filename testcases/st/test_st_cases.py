"""The ST case file runs and passes on the host for Ascend910B1; the ST runner can fail."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from bce_grad.tools.cli import main
from bce_grad.tools.st_frame.case_file import CaseFileError, load_case_file
from bce_grad.tools.st_frame.compare import compare, parse_err_thr

CASE_FILE = Path(__file__).with_name("BinaryCrossEntropyGrad_case.json")


def test_st_case_file_passes_on_ascend910b1(tmp_path, capsys):
    assert main(["st", "run", "-i", str(CASE_FILE), "-soc", "Ascend910B1",
                 "-out", str(tmp_path)]) == 0, capsys.readouterr().out
    report = json.loads((tmp_path / "st_report.json").read_text())
    summary = report["summary"]
    assert summary["failed count"] == 0
    assert summary["test case count"] == len(report["report_list"]) >= 21
    types = {e["case_info"]["case_name"].rsplit("_", 1)[-1] for e in report["report_list"]}
    assert types == {"001", "002", "003"}  # float16, float, bfloat16 sub-cases of every case


def test_st_wrong_golden_fails(tmp_path, capsys):
    # A golden without the mean scaling (the public CANN UT golden's bug) must fail the case.
    (tmp_path / "unscaled.py").write_text(
        "from bce_grad.golden import binary_cross_entropy_grad_golden as g\n"
        "def calc_expect_func(x, y, grad_output, weight=None, output=None, reduction='mean'):\n"
        "    return g(x['value'], y['value'], grad_output['value'], weight and weight['value'], 'sum')\n")
    cases = json.loads(CASE_FILE.read_text())[:1]
    cases[0]["calc_expect_func_file"] = "unscaled.py:calc_expect_func"
    case_json = tmp_path / "wrong.json"
    case_json.write_text(json.dumps(cases))
    assert main(["st", "run", "-i", str(case_json), "-soc", "Ascend910B1",
                 "-out", str(tmp_path / "out")]) == 1
    report = json.loads((tmp_path / "out" / "st_report.json").read_text())
    assert report["summary"]["failed count"] == 3
    assert "failed  Test_BinaryCrossEntropyGrad_001" in capsys.readouterr().out


def test_bad_case_file_names_file_and_key(tmp_path, capsys):
    bad = tmp_path / "bad_case.json"
    cases = json.loads(CASE_FILE.read_text())[:1]
    del cases[0]["op"]
    bad.write_text(json.dumps(cases))
    with pytest.raises(CaseFileError, match=r"bad_case\.json.*\[op\]"):
        load_case_file(bad)
    assert main(["st", "run", "-i", str(bad), "-soc", "Ascend910B1", "-out", str(tmp_path)]) == 2
    assert "[op] is required" in capsys.readouterr().err


def test_err_thr_and_compare_rule():
    assert parse_err_thr("[0.01,0.05]") == (0.01, 0.05)
    with pytest.raises(ValueError, match="-err_thr"):
        parse_err_thr("0.01")
    assert compare([1.0, 2.0], [1.0, 2.1], (0.01, 0.0))["passed"] is False
    assert compare([1.0, 2.0], [1.0, 2.1], (0.01, 0.5))["passed"] is True
