"""``bce-grad ut`` and the UT pytest plugin work with CANN's real op_test_frame importable.

A stand-in with exactly the real frame's public surface and return types
(:mod:`testcases.cann_tools.cann_frame_standin`) is put first on ``PYTHONPATH`` in a
subprocess, so ``ensure_op_test_frame`` picks it instead of the host frame. The runner
and the plugin must then use only that surface: ``get_all_test_case_name`` dicts and
``run_case`` reports (no ``select``, no case objects).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from testcases.cann_tools.cann_frame_standin import write_package

ROOT = Path(__file__).resolve().parents[2]
UT_DIR = ROOT / "testcases" / "ut"


def _run(code_or_args: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    standin = write_package(tmp_path / "standin")
    full_env = {**os.environ, "PYTHONPATH": f"{standin}{os.pathsep}{ROOT}", **env}
    return subprocess.run([sys.executable, *code_or_args], cwd=tmp_path, env=full_env,
                          capture_output=True, text=True, timeout=300)


def test_cli_ut_uses_only_the_real_frames_public_api(tmp_path):
    code = f"""
import json, sys
from bce_grad.tools.cli import main
rc = main(["ut", "--case_files", {str(UT_DIR)!r}, "--soc_version", "Ascend910A,Ascend910B1",
           "--test_report_path", "report"])
import op_test_frame.ut.op_ut as frame
print(json.dumps({{"rc": rc, "frame": frame.__file__, "calls": frame.CALLS}}))
"""
    out = _run(["-c", code], tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["rc"] == 0
    assert str(tmp_path / "standin") in result["frame"]
    calls = result["calls"]
    usages = {usage for _, _, usage in calls}
    # As op_ut_run without --simulator_mode: CANN's frame gets no precision case.
    assert usages == {"compile", "custom"}
    names = {name for _, name, _ in calls}
    assert "BinaryCrossEntropyGrad_pre_static_rank_8" in names
    assert "BinaryCrossEntropyGrad_dynamic_cann_case_2_unknown_rank" in names
    assert "test_bad_kernel_name" in names
    report = json.loads((tmp_path / "report" / ".ut_test_report").read_text())
    assert len(report["report_list"]) == len(calls)
    assert {e["run_soc"] for e in report["report_list"]} == {"Ascend910A", "Ascend910B1"}


def test_cli_ut_passes_precision_cases_with_a_simulator_mode(tmp_path):
    code = f"""
import json
from bce_grad.tools.cli import main
rc = main(["ut", "--case_files", {str(UT_DIR)!r}, "--soc_version", "Ascend910B1",
           "--simulator_mode", "pv", "--test_report_path", "report"])
import op_test_frame.ut.op_ut as frame
print(json.dumps({{"rc": rc, "usages": sorted({{c[2] for c in frame.CALLS}})}}))
"""
    out = _run(["-c", code], tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {
        "rc": 0, "usages": ["compile", "custom", "precision"]}


def test_pytest_plugin_collects_and_runs_with_the_real_frame(tmp_path):
    out = _run(["-m", "pytest", "-p", "no:cacheprovider", "-q", "-rs", "--rootdir", str(ROOT),
                str(UT_DIR)], tmp_path, BCE_GRAD_UT_SOCS="Ascend910A")
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    progress = out.stdout.split("[100%]")[0]
    assert progress.count(".") > 40 and "F" not in progress and "E" not in progress
    assert "SKIPPED" in out.stdout  # precision cases: a simulator only
    assert "op_ut_run --simulator_mode" in out.stdout
