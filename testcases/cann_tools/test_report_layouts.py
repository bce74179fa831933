"""Golden layouts of the UT and ST reports that CANN's loaders read, and their counting rules.

The layouts (``golden/*.json``) list the keys op_test_frame's ``OpUTReport.load`` and
msopst's ``OpSTReport.load`` read; the host may add keys beside them. The counting
rules below are those loaders': a UT case is ``failed`` when any stage is not
``success``; an ST case succeeds when all its stages succeeded and that matches ``expect``.
"""
from __future__ import annotations

import json
import textwrap
from pathlib import Path

from bce_grad.tools.st_frame.runner import run_st
from bce_grad.tools.ut_frame import ensure_op_test_frame
from bce_grad.tools.ut_frame.ut.runner import run_ut

ensure_op_test_frame()
HERE = Path(__file__).parent
ROOT = HERE.parents[1]
UT_LAYOUT = json.loads((HERE / "golden" / "ut_test_report_layout.json").read_text())
ST_LAYOUT = json.loads((HERE / "golden" / "st_report_layout.json").read_text())

CASE_FILE = """
from op_test_frame.ut import OpUT
from testcases.ut.bce_grad_ut_helpers import io

ut_case = OpUT("BinaryCrossEntropyGrad", "impl.dynamic.binary_cross_entropy_grad",
               "binary_cross_entropy_grad")
ut_case.add_case("Ascend910B1", {"params": io("float16", [-1, 8]) + ["sum"], "case_name": "ok"})
ut_case.add_case("Ascend910B1", {"params": io("float16", [-1, 8]) + ["sum"], "case_name": "bad",
                                 "expect": RuntimeError})


def test_custom(soc):
    assert soc == "Ascend910B1"


ut_case.add_cust_test_func("Ascend910B1", test_func=test_custom)
"""


def _has(obj: dict, keys: list[str], where: str) -> None:
    missing = [k for k in keys if k not in obj]
    assert not missing, f"{where} lacks {missing}"


def _loader_ut_status(entry: dict) -> str:
    stages = entry["trace_detail"]["stage_result"]
    return "success" if all(s["status"] == "success" for s in stages) else "failed"


def test_ut_report_layout_and_counts(tmp_path):
    (tmp_path / "test_layout_impl.py").write_text(textwrap.dedent(CASE_FILE))
    (tmp_path / "test_broken_impl.py").write_text("raise ImportError('no impl here')\n")
    run_ut(str(tmp_path), "Ascend910B1", test_report_path=str(tmp_path / "report"),
           data_path=str(tmp_path / "data"), kernel_meta_path=str(tmp_path / "km"), run_cmd="x")
    report = json.loads((tmp_path / "report" / ".ut_test_report").read_text())
    _has(report, UT_LAYOUT["report"], "report")
    by_name = {}
    for entry in report["report_list"]:
        _has(entry, UT_LAYOUT["case"], "case")
        _has(entry["trace_detail"], UT_LAYOUT["trace_detail"], "trace_detail")
        info = entry["trace_detail"]["ut_case_info"]
        assert info["case_usage"] in UT_LAYOUT["case_usages"]
        _has(info, UT_LAYOUT["ut_case_info_custom" if info["case_usage"] == "custom"
                             else "ut_case_info"], "ut_case_info")
        for stage in entry["trace_detail"]["stage_result"]:
            _has(stage, UT_LAYOUT["stage"], "stage")
            assert stage["status"] in UT_LAYOUT["statuses"]
            assert stage["stage_name"] in UT_LAYOUT["stage_names"]
        assert entry["status"] == _loader_ut_status(entry)
        by_name[entry["case_name"]] = entry["status"]
    assert by_name == {"BinaryCrossEntropyGrad_dynamic_ok": "success",
                       "BinaryCrossEntropyGrad_dynamic_bad": "failed", "test_custom": "success",
                       "load[test_broken_impl.py]": "failed"}


def test_st_report_layout_and_counts(tmp_path):
    cases = json.loads((ROOT / "testcases" / "st" / "BinaryCrossEntropyGrad_case.json").read_text())
    case = cases[0]
    for desc in case["input_desc"] + case["output_desc"]:
        desc["type"] = ["float16", "float"]
    case["calc_expect_func_file"] = str(ROOT / "testcases" / "st" /
                                        "binary_cross_entropy_grad_golden.py:calc_expect_func")
    failing = json.loads(json.dumps(case))
    failing["case_name"] = "expected_to_fail_but_passes"
    failing["expect"] = "failed"
    case_json = tmp_path / "case.json"
    case_json.write_text(json.dumps([case, failing]))
    report = run_st(case_json, "Ascend910B1", tmp_path / "out", (0.01, 0.05), run_cmd="x")
    on_disk = json.loads((Path(report["run_dir"]) / "st_report.json").read_text())
    _has(on_disk, ST_LAYOUT["report"], "report")
    _has(on_disk["summary"], ST_LAYOUT["summary"], "summary")
    for entry in on_disk["report_list"]:
        _has(entry, ST_LAYOUT["case"], "case")
        _has(entry["trace_detail"], ST_LAYOUT["trace_detail"], "trace_detail")
        _has(entry["trace_detail"]["st_case_info"], ST_LAYOUT["st_case_info"], "st_case_info")
        for stage in entry["trace_detail"]["stage_result"]:
            _has(stage, ST_LAYOUT["stage"], "stage")
            assert stage["status"] in ST_LAYOUT["statuses"]
            assert stage["stage_name"] in ST_LAYOUT["stage_names"]
    # msopst's count: all stages success, compared with the case's expect
    counted = [all(s["status"] == "success" for s in e["trace_detail"]["stage_result"])
               == (e["expect"] == "success") for e in on_disk["report_list"]]
    assert on_disk["summary"]["success count"] == sum(counted) == 2
    assert on_disk["summary"]["failed count"] == 2
    assert [e["case_name"] for e in on_disk["report_list"]][2] == \
        "expected_to_fail_but_passes_sub_case_001_ND_float16"
