"""The project's UT compile cases on Ascend310, outside op_ut_run.

CANN's own UT for this op compiles on Ascend310: the platform knows the SoC, and
op_test_frame calls the operator function directly (no op info check). Whether the op is
*offered* on a SoC stays the op info's decision, which the host frame applies before it
compiles, as FE does. So every compile case of ``testcases/ut`` that expects success:

- builds on Ascend310 when the operator is called as CANN's op_test_frame calls it
  (``te_set_version`` then the function), writing ``<kernel>.so``, ``.o`` and ``.json``;
- through the host op_test_frame (what ``bce-grad ut`` runs: ``OpUT.run_case``), either
  builds the same way or is refused with the op info's reason (``op_info_cfg``).
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from bce_grad.tools.ut_frame import ensure_op_test_frame, is_host_frame

SOC = "Ascend310"
UT_DIR = Path(__file__).resolve().parents[1] / "ut"
CASE_FILES = ("test_binary_cross_entropy_grad_impl.py", "test_binary_cross_entropy_grad_dynamic_impl.py")


def _compile_cases() -> list[tuple[object, object]]:
    """(ut_case, case) for every compile case expecting success, in both UT case files."""
    ensure_op_test_frame()
    if not is_host_frame():
        return []
    from bce_grad.tools.ut_frame.ut.loader import load_ut_case

    found = []
    for name in CASE_FILES:
        ut = load_ut_case(UT_DIR / name)
        found += [(ut, case) for case in ut._cases.values()  # pylint: disable=protected-access
                  if case.usage == "compile" and case.expect == "success"]
    return found


CASES = _compile_cases()
pytestmark = pytest.mark.skipif(not CASES, reason="needs the host op_test_frame (CANN's is importable)")


def test_every_ut_file_has_compile_cases():
    files = {Path(case.case_file).name for _, case in CASES}
    assert files == set(CASE_FILES)
    assert len(CASES) >= 30


@pytest.fixture(scope="module")
def kernel_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("kernel_meta_ascend310")


def _assert_built(kernel_dir: Path, kernel_name: str) -> None:
    meta = json.loads((kernel_dir / f"{kernel_name}.json").read_text())
    assert meta["soc_version"] == SOC and meta["short_soc_version"] == SOC
    obj = kernel_dir / f"{meta['binFileName']}{meta['binFileSuffix']}"
    assert obj.is_file() and obj.stat().st_size > 0
    assert (kernel_dir / f"{kernel_name}.so").is_file()


@pytest.mark.parametrize("index", range(len(CASES)),
                         ids=[f"{c.op_imply_type}-{c.short_name}" for _, c in CASES])
def test_case_builds_as_cann_op_test_frame_calls_it(kernel_dir, index):
    """te_set_version(Ascend310), then the operator function with the case's params."""
    from bce_grad.host_backend import platform
    from bce_grad.host_backend.build import kernel_meta_at
    from bce_grad.host_backend.op_context import OpContext
    from bce_grad.tools.ut_frame import host_kernel
    from bce_grad.tools.ut_frame.ut.executor import _module_for  # pylint: disable=protected-access

    ut, case = CASES[index]
    func = host_kernel.import_op_func(_module_for(ut, case), ut.op_func_name)
    kernel_name = f"direct_{case.op_imply_type}_{index}"
    mode = "dynamic" if case.op_imply_type == "dynamic" else "static"
    with platform.use_soc(SOC), kernel_meta_at(kernel_dir), OpContext(mode):
        func(*case.params, **dict(case.addition_params, kernel_name=kernel_name))
    _assert_built(kernel_dir, kernel_name)


def test_host_frame_refuses_every_case_with_the_op_info_reason(tmp_path):
    """The host frame's run_case on Ascend310 (the call ``bce-grad ut`` makes per case file):
    op_info_cfg offers no Ascend310, so every case is refused, naming the op info."""
    from bce_grad.tools.ut_frame.ut.op_ut import OpUT

    by_file: dict[str, OpUT] = {}
    for ut, case in CASES:
        target = by_file.setdefault(case.case_file, OpUT(ut.op_type, ut.op_module_name, ut.op_func_name))
        target.add_case(SOC, {"params": case.params, "case_name": case.short_name,
                              "addition_params": case.addition_params,
                              "op_imply_type": case.op_imply_type, "expect": "success"})
    cfg = {"simulator_mode": None, "kernel_meta_path": str(tmp_path / "kernel_meta"),
           "data_dump_path": str(tmp_path / "data")}
    reports = [rpt for target in by_file.values()
               for rpt in target.run_case(SOC, run_cfg=cfg).get_case_rpt_list()]
    assert len(reports) == len(CASES)
    for rpt in reports:
        assert rpt.status != "success", rpt.case_name
        assert "op_info_cfg" in (rpt.err_msg or ""), (rpt.case_name, rpt.err_msg)
        assert "E80000" in rpt.err_msg or "E80008" in rpt.err_msg, rpt.err_msg
    assert not (tmp_path / "kernel_meta").exists() or not list((tmp_path / "kernel_meta").iterdir())
