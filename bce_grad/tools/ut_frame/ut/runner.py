"""``run_ut``: run case files on SoCs and write op_ut_run's report, with either frame.

The runner speaks op_test_frame's public API only, so it drives CANN's frame (on an
Ascend machine) and the host one alike: ``ut_case.get_all_test_case_name(soc)`` (a list
of dicts) picks the cases, ``ut_case.run_case(soc, case_name_list, run_cfg=...)`` runs them
and returns a report whose case reports give ``to_json_obj()``. The run's report is
written, as op_ut_run writes it, to ``<test_report_path>/.ut_test_report``.
"""
from __future__ import annotations

import json
import shlex
import sys
import traceback
from pathlib import Path
from typing import Any, Sequence

from bce_grad.tools.ut_frame.ut.case_info import FAILED, STAGE_LOAD, SUCCESS, CaseUsage
from bce_grad.tools.ut_frame.ut.loader import find_case_files, load_ut_case

REPORT_FORMATS = ("json", "console")
REPORT_FILE = ".ut_test_report"
IMPLY_TYPES = ("pre_static", "static", "dynamic")


def _split(value: str | Sequence[str] | None) -> list[str]:
    if not value:
        return []
    items = value.split(",") if isinstance(value, str) else list(value)
    return [i.strip() for i in items if i.strip()]


def matches(info: dict, wanted: Sequence[str]) -> bool:
    """Whether a case (a ``get_all_test_case_name`` dict) is named in ``wanted``.

    A name matches the stored name, or the name the case file gave
    (``<op_type>_<imply_type>_<name>`` stored).
    """
    if not wanted:
        return True
    name = info["case_name"]
    return any(name == w or name in {f"{info['op_type']}_{t}_{w}" for t in IMPLY_TYPES}
               for w in wanted)


def select_cases(ut_case: Any, soc: str, wanted: Sequence[str], with_precision: bool) -> list[str]:
    """Stored names of the cases of ``ut_case`` to run on ``soc``."""
    return [info["case_name"] for info in ut_case.get_all_test_case_name(soc)
            if matches(info, wanted)
            and (with_precision or info["case_usage"] != CaseUsage.PRECISION)]


def load_failure_entry(path: Path, err: BaseException) -> dict:
    """A report entry for a case file that could not be loaded, readable by op_test_frame."""
    info = {"support_soc": ["all"], "op_type": None, "case_name": f"load[{path.name}]",
            "case_usage": CaseUsage.CUSTOM, "case_file": str(path), "case_line_num": None,
            "test_func_name": None}
    message = f"{type(err).__name__}: {err}"
    stage = {"status": FAILED, "result": None, "err_msg": message, "stage_name": STAGE_LOAD,
             "err_trace": "".join(traceback.format_exception(err, limit=6))}
    return {"op_type": None, "case_name": info["case_name"], "run_soc": "all", "status": FAILED,
            "err_msg": message, "trace_detail": {"run_soc": "all", "ut_case_info": info,
                                                 "stage_result": [stage]},
            "case_file": str(path)}


def run_ut(case_files: str | Sequence[str], soc_version: str | Sequence[str],
           case_name: str | Sequence[str] | None = None, test_report: str = "console",
           test_report_path: str = "./report", data_path: str = "./data",
           kernel_meta_path: str = "./kernel_meta", simulator_mode: str | None = None,
           with_precision: bool | None = None, run_cmd: str | None = None) -> dict:
    """Run every matching case of every case file on every SoC; return op_ut_run's report.

    ``with_precision`` defaults to True on the host frame (precision cases run on the
    host backend) and, as op_ut_run, to ``bool(simulator_mode)`` on CANN's frame.
    A case file that cannot be loaded counts as one failed entry.
    """
    from bce_grad.tools.ut_frame import is_host_frame

    socs = _split(soc_version)
    if not socs:
        raise RuntimeError("the parameter [--soc_version] is mandatory, e.g. Ascend910B1")
    if test_report not in REPORT_FORMATS:
        raise RuntimeError(f"the parameter [--test_report] should be one of {list(REPORT_FORMATS)}, "
                           f"but actually is [{test_report}]")
    if with_precision is None:
        with_precision = is_host_frame() or bool(simulator_mode)
    wanted = _split(case_name)
    run_cfg = {"simulator_mode": simulator_mode, "simulator_lib_path": None,
               "data_dump_path": data_path, "kernel_meta_path": kernel_meta_path}
    entries: list[dict] = []
    for path in find_case_files(case_files):
        try:
            ut_case = load_ut_case(path)
        except Exception as err:  # noqa: BLE001 - reported as a failed file
            entries.append(load_failure_entry(path, err))
            continue
        for soc in socs:
            names = select_cases(ut_case, soc, wanted, with_precision)
            if not names:
                continue
            report = ut_case.run_case(soc, names, run_cfg=run_cfg)
            entries.extend({**rpt.to_json_obj(), "case_file": str(path)}
                           for rpt in report.get_case_rpt_list())
    report = {"run_cmd": run_cmd if run_cmd is not None else shlex.join(sys.argv),
              "report_list": entries}
    out = Path(test_report_path)
    out.mkdir(parents=True, exist_ok=True)
    (out / REPORT_FILE).write_text(json.dumps(report, indent=4, default=str))
    return report


def summary(report: dict) -> dict:
    """Counts as op_test_frame's loader gives them: total, success, failed, error."""
    statuses = [e["status"] for e in report["report_list"]]
    return {"total": len(statuses), "success": statuses.count(SUCCESS),
            "failed": statuses.count(FAILED), "error": statuses.count("error")}


def format_console(report: dict) -> str:
    """One line per case (result, SoC, usage, file::case) and a summary line."""
    lines = [f"{'result':7} {'soc':18} {'usage':9} case"]
    for e in report["report_list"]:
        usage = e["trace_detail"]["ut_case_info"]["case_usage"]
        lines.append(f"{e['status']:7} {e['run_soc']:18} {usage:9} "
                     f"{Path(e.get('case_file', '?')).name}::{e['case_name']}")
        if e["err_msg"]:
            lines.append(f"        {e['err_msg']}")
    s = summary(report)
    lines.append(f"total {s['total']}, success {s['success']}, failed {s['failed']}, "
                 f"error {s['error']}")
    return "\n".join(lines)
