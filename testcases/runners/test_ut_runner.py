"""The host op_test_frame and ``bce-grad ut`` fail when they should."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from bce_grad.tools.cli import main
from bce_grad.tools.ut_frame import ensure_op_test_frame
from bce_grad.tools.ut_frame.common.precision_info import PrecisionStandard, compare_precision
from bce_grad.tools.ut_frame.ut.runner import run_ut

ensure_op_test_frame()
ROOT = Path(__file__).resolve().parents[2]

HEADER = """
from op_test_frame.ut import OpUT
from op_test_frame.common import precision_info
from bce_grad.golden import binary_cross_entropy_grad_golden
from testcases.ut.bce_grad_ut_helpers import io, calc_expect_func

ut_case = OpUT("BinaryCrossEntropyGrad", "impl.dynamic.binary_cross_entropy_grad",
               "binary_cross_entropy_grad")
"""


def write_case_file(folder: Path, name: str, body: str) -> Path:
    path = folder / f"test_{name}_impl.py"
    path.write_text(HEADER + textwrap.dedent(body))
    return path


def run(path: Path, tmp: Path, soc: str = "Ascend910B1") -> dict:
    return run_ut(str(path), soc, test_report="json", test_report_path=str(tmp / "report"),
                  data_path=str(tmp / "data"), kernel_meta_path=str(tmp / "kernel_meta"))


def test_wrong_golden_fails_precision_case(tmp_path):
    # The public CANN golden's bug: "mean" never scales by 1/numel(x).
    path = write_case_file(tmp_path, "wrong_golden", """
        def unscaled_golden(x, y, grad_output, weight, output, reduction="mean"):
            return binary_cross_entropy_grad_golden(x=x["value"], y=y["value"],
                                                    grad_output=grad_output["value"],
                                                    reduction="sum")

        for name, func in (("right", calc_expect_func), ("wrong", unscaled_golden)):
            ut_case.add_precision_case("Ascend910B1", {
                "params": io("float32", [-1, 8], weight=False, run_shapes={"x": [4, 8], "y": [4, 8],
                             "grad_output": [4, 8]}, precision=True) + ["mean"],
                "case_name": name, "calc_expect_func": func,
                "precision_standard": precision_info.PrecisionStandard(0.0001, 0.0001, 0.001)})
    """)
    report = run(path, tmp_path)
    status = {c["case_name"].rsplit("_", 1)[-1]: c for c in report["report_list"]}
    assert status["right"]["status"] == "success", status["right"]
    assert status["wrong"]["status"] == "failed"
    assert "precision of output [output]" in status["wrong"]["err_msg"]
    assert any(p.name.endswith("_expect_output0.bin")
               for p in (tmp_path / "data" / "BinaryCrossEntropyGrad" / "Ascend910B1").iterdir())


def test_expect_class_mismatch_fails(tmp_path):
    path = write_case_file(tmp_path, "expect_mismatch", """
        ut_case.add_case("Ascend910B1", {"params": io("float16", [-1, 8]) + ["average"],
                                         "case_name": "wrong_class", "expect": ValueError})
        ut_case.add_case("Ascend910B1", {"params": io("float16", [-1, 8]) + ["average"],
                                         "case_name": "right_class", "expect": RuntimeError})
        ut_case.add_case("Ascend910B1", {"params": io("float16", [-1, 8]) + ["mean"],
                                         "case_name": "nothing_raised", "expect": RuntimeError})
    """)
    cases = {c["case_name"].split("_dynamic_")[-1]: c for c in run(path, tmp_path)["report_list"]}
    assert cases["right_class"]["status"] == "success"
    assert cases["wrong_class"]["status"] == "failed"
    assert "expect ValueError, but the operator raised CannRuntimeError" in cases["wrong_class"]["err_msg"]
    assert "reduction" in cases["wrong_class"]["err_msg"]
    assert cases["nothing_raised"]["status"] == "failed"
    assert "raised nothing" in cases["nothing_raised"]["err_msg"]


def test_case_file_without_ut_case_names_file_and_key(tmp_path):
    path = tmp_path / "test_empty_impl.py"
    path.write_text("x = 1\n")
    (entry,) = run(path, tmp_path)["report_list"]
    assert entry["status"] == "failed"
    assert str(path) in entry["err_msg"] and "[ut_case]" in entry["err_msg"]


def test_case_without_params_names_the_key(tmp_path):
    path = write_case_file(tmp_path, "no_params", """
        ut_case.add_case("all", {"case_name": "no_params"})
    """)
    (entry,) = run(path, tmp_path)["report_list"]
    assert entry["status"] == "failed" and "[params]" in entry["err_msg"]


def test_cli_ut_exit_codes_and_report(tmp_path, capsys):
    path = write_case_file(tmp_path, "cli", """
        ut_case.add_case(["Ascend910B1", "Ascend910A"], {"params": io("float16", [-1, 8]) + ["sum"],
                                                         "case_name": "ok"})
        ut_case.add_case("Ascend910A", {"params": io("float16", [-1, 8]) + ["sum"],
                                        "case_name": "bad", "expect": RuntimeError})
    """)
    common = ["--case_files", str(path), "--test_report_path", str(tmp_path / "r"),
              "--data_path", str(tmp_path / "d"), "--kernel_meta_path", str(tmp_path / "k")]
    assert main(["ut", "--soc_version", "Ascend910B1", *common]) == 0
    report = json.loads((tmp_path / "r" / ".ut_test_report").read_text())
    assert [(c["run_soc"], c["status"]) for c in report["report_list"]] == [("Ascend910B1", "success")]
    assert main(["ut", "--soc_version", "Ascend910B1,Ascend910A", *common]) == 1
    out = capsys.readouterr().out
    assert "failed  Ascend910A" in out and "BinaryCrossEntropyGrad_dynamic_bad" in out
    # --case_name takes the stored name or the name the case file gave
    assert main(["ut", "--soc_version", "Ascend910B1,Ascend910A", "--case_name", "ok", *common]) == 0
    assert main(["ut", "--soc_version", "Ascend910B1", "--case_files",
                 str(tmp_path / "missing"), *common[2:]]) == 2
    capsys.readouterr()
    # a --case_name that matches nothing is bad input: one error line and exit 2, as elsewhere
    assert main(["ut", "--soc_version", "Ascend910B1", "--case_name", "no_such", *common]) == 2
    assert "error: [E80000] no case matched" in capsys.readouterr().err


@pytest.mark.parametrize(("actual", "standard", "passed"), [
    # atol is relative: 1e-3 off an expect of 100 is fine at atol 1e-4 ...
    ([100.001, 1.0], PrecisionStandard(0.0, 1e-4), True),
    # ... but 1e-3 off an expect of 1 is not; rtol 0.5 lets one of two elements miss.
    ([100.0, 1.001], PrecisionStandard(0.0, 1e-4), False),
    ([100.0, 1.001], PrecisionStandard(0.5, 1e-4), True),
    # max_atol: no element may pass it, whatever rtol allows.
    ([100.0, 1.5], PrecisionStandard(0.5, 1e-4, 0.1), False),
])
def test_compare_precision_follows_op_test_frame(actual, standard, passed):
    assert compare_precision(np.array(actual), np.array([100.0, 1.0]), standard).passed is passed


def test_real_op_test_frame_is_not_shadowed(tmp_path):
    fake = tmp_path / "op_test_frame"
    fake.mkdir()
    (fake / "__init__.py").write_text("REAL = True\n")
    code = ("import sys; from bce_grad.tools.ut_frame import ensure_op_test_frame; "
            "print(ensure_op_test_frame(), getattr(sys.modules['op_test_frame'], 'REAL', False))")
    env_path = f"{tmp_path}:{ROOT}"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         env={"PYTHONPATH": env_path, "PATH": "/usr/bin:/bin"}, check=True)
    assert out.stdout.split() == ["False", "True"]
