"""``op_test_frame.ut.ut_report``: case and run reports in op_ut_run's JSON layout.

``OpUTReport.to_json_obj()`` is ``{run_cmd, report_list}``; each entry is
``{op_type, case_name, run_soc, status, err_msg, trace_detail: {run_soc, ut_case_info,
stage_result: [{status, result, err_msg, stage_name, err_trace}]}}``, which CANN's
``ut_report.OpUTReport.load`` reads. A case's status is ``failed`` when any stage failed.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bce_grad.tools.ut_frame.ut.case_info import ERROR, FAILED, SUCCESS


@dataclass
class OpUTStageResult:
    """One stage of a case: compile, run, compare or a custom function."""

    status: str
    stage_name: str | None = None
    result: Any = None
    err_msg: str | None = None
    err_trace: str | None = None

    def is_success(self) -> bool:
        """True when the stage succeeded."""
        return self.status == SUCCESS

    def to_json_obj(self) -> dict:
        """The stage as op_test_frame writes it."""
        return {"status": self.status, "result": self.result, "err_msg": self.err_msg,
                "stage_name": self.stage_name, "err_trace": self.err_trace}


class OpUTCaseReport:
    """How one case ended on one SoC: its stages, status and messages.

    ``extra`` holds host-only details (data paths, compare numbers, seconds), written
    beside op_test_frame's keys where its loader ignores them.
    """

    def __init__(self, run_soc: str, case_info: Any, stages: list[OpUTStageResult],
                 extra: dict | None = None) -> None:
        self.run_soc = run_soc
        self.case_info = case_info
        self.op_type = case_info.op_type
        self.case_name = case_info.case_name
        self.stage_result = stages
        self.extra = extra or {}
        failed = [s for s in stages if not s.is_success()]
        self.status = FAILED if failed else SUCCESS
        self.err_msg = "".join(s.err_msg or "" for s in failed) or None
        self.err_trace = "".join(s.err_trace or "" for s in failed) or None

    def to_json_obj(self) -> dict:
        """The case as op_ut_run's ``.ut_test_report`` holds it, plus host extras."""
        return {"op_type": self.op_type, "case_name": self.case_name, "run_soc": self.run_soc,
                "status": self.status, "err_msg": self.err_msg,
                "trace_detail": {"run_soc": self.run_soc,
                                 "ut_case_info": self.case_info.to_json_obj(),
                                 "stage_result": [s.to_json_obj() for s in self.stage_result]},
                **self.extra}


class OpUTReport:
    """The reports of a run, with op_test_frame's counters and methods."""

    def __init__(self, run_cmd: str | None = None) -> None:
        self.run_cmd = run_cmd
        self.total_cnt = self.success_cnt = self.failed_cnt = self.err_cnt = 0
        self._report_list: list[OpUTCaseReport] = []

    def get_case_rpt_list(self) -> list[OpUTCaseReport]:
        """Every case report, in run order."""
        return self._report_list

    def add_case_report(self, case_rpt: OpUTCaseReport) -> None:
        """Add one case report and count it."""
        self._report_list.append(case_rpt)
        self.total_cnt += 1
        self.success_cnt += case_rpt.status == SUCCESS
        self.failed_cnt += case_rpt.status == FAILED
        self.err_cnt += case_rpt.status == ERROR

    def merge_rpt(self, rpt: "OpUTReport") -> None:
        """Add every case report of ``rpt``."""
        for case_rpt in rpt.get_case_rpt_list():
            self.add_case_report(case_rpt)

    def to_json_obj(self) -> dict:
        """``{run_cmd, report_list}``."""
        return {"run_cmd": self.run_cmd,
                "report_list": [r.to_json_obj() for r in self._report_list]}

    def save(self, report_data_path: str | Path) -> None:
        """Write the JSON report to ``report_data_path`` (its folder is created)."""
        path = Path(report_data_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_json_obj(), indent=4, default=str))

    def summary_txt(self) -> str:
        """Counts, then one line per case (failures first), as op_test_frame prints them."""
        lines = [f"run command: {self.run_cmd}",
                 f"- test case count: {self.total_cnt}", f"- success count: {self.success_cnt}",
                 f"- failed count: {self.failed_cnt}", f"- error count: {self.err_cnt}"]
        for rpt in sorted(self._report_list, key=lambda r: r.status == SUCCESS):
            lines.append(f"    {rpt.status}: [{rpt.op_type}]  {rpt.case_name} ({rpt.run_soc})"
                         + (f", error msg: {rpt.err_msg}" if rpt.err_msg else ""))
        return "\n".join(lines)

    def console_print(self) -> None:
        """Print :meth:`summary_txt` when there are cases."""
        if self.total_cnt:
            print(self.summary_txt())
