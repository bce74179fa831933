"""The ST case file runs and passes on the host; the ST runner follows msopst and can fail."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bce_grad.tools.cli import main
from bce_grad.tools.st_frame.case_file import CaseFileError, expand_case, load_case_file
from bce_grad.tools.st_frame.compare import compare, parse_err_thr

CASE_FILE = Path(__file__).with_name("BinaryCrossEntropyGrad_case.json")


def read_report(out: Path) -> dict:
    """The st_report.json of the one timestamped run folder under ``out``."""
    (run_dir,) = [p for p in out.iterdir() if p.is_dir()]
    assert run_dir.name[:14].isdigit() and len(run_dir.name) >= 14  # YYYYmmddHHMMSS
    return json.loads((run_dir / "st_report.json").read_text())


def test_st_case_file_passes_on_ascend910b1(tmp_path, capsys):
    assert main(["st", "run", "-i", str(CASE_FILE), "-soc", "Ascend910B1",
                 "-out", str(tmp_path)]) == 0, capsys.readouterr().out
    report = read_report(tmp_path)
    summary = report["summary"]
    assert summary["failed count"] == 0
    assert summary["test case count"] == len(report["report_list"]) >= 21
    names = [e["case_name"] for e in report["report_list"]]
    assert "Test_BinaryCrossEntropyGrad_001_mean_weight_sub_case_001_ND_float16" in names
    assert {n.rsplit("_", 1)[-1] for n in names} == {"float16", "float", "bfloat16"}
    stages = report["report_list"][0]["trace_detail"]["stage_result"]
    assert [(s["stage_name"], s["status"]) for s in stages] == [
        ("atc_single_op_convert", "success"), ("run_acl_code", "success"),
        ("compare_data", "success")]


@pytest.mark.parametrize("soc", ["Ascend910A", "Ascend310P3"])
def test_st_case_file_passes_on_socs_without_bf16(tmp_path, soc, capsys):
    """bf16 sub-cases are left out where the SoC's op info lists no bf16 (FE would refuse)."""
    assert main(["st", "run", "-i", str(CASE_FILE), "-soc", soc, "-out", str(tmp_path)]) == 0, \
        capsys.readouterr().out
    report = read_report(tmp_path)
    assert report["summary"]["failed count"] == 0 and report["report_list"]
    assert report["summary"]["not offered on soc"] == len(report["not_offered_on_soc"]) > 0
    assert all(name.endswith("_bfloat16") for name in report["not_offered_on_soc"])


def test_st_wrong_golden_fails(tmp_path, capsys):
    # A golden without the mean scaling (the public CANN UT golden's bug) must fail the case.
    (tmp_path / "unscaled.py").write_text(
        "from bce_grad.golden import binary_cross_entropy_grad_golden as g\n"
        "def calc_expect_func(x, y, grad_output, weight=None, output=None, reduction='mean'):\n"
        "    return g(x=x['value'], y=y['value'], grad_output=grad_output['value'],\n"
        "             weight=weight and weight['value'], reduction='sum')\n")
    cases = json.loads(CASE_FILE.read_text())[:1]
    cases[0]["calc_expect_func_file"] = "unscaled.py:calc_expect_func"
    case_json = tmp_path / "wrong.json"
    case_json.write_text(json.dumps(cases))
    assert main(["st", "run", "-i", str(case_json), "-soc", "Ascend910B1",
                 "-out", str(tmp_path / "out")]) == 1
    report = read_report(tmp_path / "out")
    assert report["summary"]["failed count"] == 3
    assert report["report_list"][0]["trace_detail"]["stage_result"][-1] == {
        **report["report_list"][0]["trace_detail"]["stage_result"][-1],
        "stage_name": "compare_data", "status": "failed"}
    assert "FAIL failed  Test_BinaryCrossEntropyGrad_001" in capsys.readouterr().out


def _one_case(**changes) -> list[dict]:
    cases = json.loads(CASE_FILE.read_text())[:1]
    cases[0].update(changes)
    return cases


def test_bad_case_file_names_file_and_key(tmp_path, capsys):
    bad = tmp_path / "bad_case.json"
    cases = _one_case()
    del cases[0]["op"]
    bad.write_text(json.dumps(cases))
    with pytest.raises(CaseFileError, match=r"The \"case\" is missing key: \['op'\].*bad_case\.json"):
        load_case_file(bad)
    assert main(["st", "run", "-i", str(bad), "-soc", "Ascend910B1", "-out", str(tmp_path)]) == 2
    assert "missing key: ['op']" in capsys.readouterr().err


@pytest.mark.parametrize(("change", "message"), [
    ({"attr": [{"name": "reduction", "type": "str", "value": "mean"}]},
     r'The value\(str\) of "type" does not support'),
    ({"attr": [{"name": "reduction", "value": "mean"}]}, r"The \"attr\" is missing key: \['type'\]"),
])
def test_attr_type_is_validated(tmp_path, change, message):
    bad = tmp_path / "bad_attr.json"
    bad.write_text(json.dumps(_one_case(**change)))
    with pytest.raises(CaseFileError, match=message):
        load_case_file(bad)


def test_dynamic_shape_needs_typical_shape_as_list_of_lists(tmp_path):
    cases = json.loads(CASE_FILE.read_text())
    dynamic = next(c for c in cases if c["input_desc"][0]["shape"] == [-2])
    subs = expand_case(dynamic, CASE_FILE)
    assert dynamic["input_desc"][0]["typical_shape"] == [[16, 16]]
    assert subs[0].inputs[0]["typical_shape"] == [16, 16]
    del dynamic["output_desc"][0]["typical_shape"]
    bad = tmp_path / "no_typical.json"
    bad.write_text(json.dumps([dynamic]))
    with pytest.raises(CaseFileError, match='Please add "typical_shape"'):
        load_case_file(bad)


def test_single_combination_is_named_case_not_sub_case():
    case = _one_case()[0]
    for desc in case["input_desc"] + case["output_desc"]:
        desc["type"] = "float16"
    (sub,) = expand_case(case, CASE_FILE)
    assert sub.case_name == "Test_BinaryCrossEntropyGrad_001_mean_weight_case_001_ND_float16"


def test_err_thr_and_msopst_compare_rule():
    assert parse_err_thr("[0.01,0.05]") == (0.01, 0.05)
    with pytest.raises(ValueError, match="-err_thr"):
        parse_err_thr("0.01")
    # relative to max(|actual|, |expect|): 2.0 vs 2.1 is 4.8 % off
    assert compare([1.0, 2.0], [1.0, 2.1], (0.01, 0.0))["passed"] is False
    assert compare([1.0, 2.0], [1.0, 2.1], (0.01, 0.5))["passed"] is True
    # one element 50 % off inside a 5 % allowance still fails (max_diff_hd 0.1)
    many = np.ones(100)
    off = many.copy()
    off[0] = 2.0
    assert compare(off, many, (0.01, 0.05))["passed"] is False
    off[0] = 1.05
    assert compare(off, many, (0.01, 0.05))["passed"] is True
    # NaN against NaN and equal infinities match; inf against a finite value is an error
    # (msopst skips it; test_st_verdict.py has the garbage outputs this must fail)
    assert compare([np.nan, np.inf, 3.0, 1.0], [np.nan, np.inf, 3.0, 1.0], (0.01, 0.0))["passed"]
    assert not compare([np.nan, np.inf, np.inf, 1.0], [np.nan, np.inf, 3.0, 1.0], (0.01, 0.5))["passed"]
