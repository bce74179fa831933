"""``run_ut``: run case files on SoCs on the host and write a report, like op_ut_run."""
from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Sequence

from bce_grad.tools.ut_frame.ut.case_info import FAILED, CaseResult, CaseUsage
from bce_grad.tools.ut_frame.ut.executor import RunConfig, run_case
from bce_grad.tools.ut_frame.ut.loader import find_case_files, load_ut_case

REPORT_FORMATS = ("json", "console")


def _split(value: str | Sequence[str] | None) -> list[str]:
    if not value:
        return []
    items = value.split(",") if isinstance(value, str) else list(value)
    return [i.strip() for i in items if i.strip()]


def run_ut(case_files: str | Sequence[str], soc_version: str | Sequence[str],
           case_name: str | Sequence[str] | None = None, test_report: str = "json",
           test_report_path: str = "./report", data_path: str = "./data",
           kernel_meta_path: str = "./kernel_meta", simulator_mode: str | None = None) -> dict:
    """Run every matching case of every case file on every SoC; return the report.

    Unlike op_ut_run without a simulator, precision cases are kept: they run on the
    host backend. A case file that cannot be loaded counts as one failed entry.
    """
    socs = _split(soc_version)
    if not socs:
        raise RuntimeError("the parameter [--soc_version] is mandatory, e.g. Ascend910B1")
    if test_report not in REPORT_FORMATS:
        raise RuntimeError(f"the parameter [--test_report] should be one of {list(REPORT_FORMATS)}, "
                           f"but actually is [{test_report}]")
    names = _split(case_name)
    config = RunConfig(data_path, kernel_meta_path, simulator_mode)
    start = time.perf_counter()
    entries: list[dict] = []
    for path in find_case_files(case_files):
        try:
            ut_case = load_ut_case(path)
        except Exception as err:  # noqa: BLE001 - reported as a failed file
            entries.append({"case_file": str(path), **asdict(CaseResult(
                "<load>", "all", CaseUsage.IMPL, FAILED, f"{type(err).__name__}: {err}"))})
            continue
        for soc in socs:
            for case in ut_case.select(soc, names):
                result = run_case(ut_case, case, soc, config)
                entries.append({"case_file": str(path), **asdict(result)})
    report = _summarise(entries, socs, time.perf_counter() - start)
    _write(report, test_report, Path(test_report_path))
    return report


def _summarise(entries: list[dict], socs: list[str], seconds: float) -> dict:
    failed = [e for e in entries if e["status"] == FAILED]
    return {"run_mode": "host", "soc_version": socs, "seconds": round(seconds, 3),
            "summary": {"total": len(entries), "success": len(entries) - len(failed),
                        "failed": len(failed)},
            "cases": entries}


def format_console(report: dict) -> str:
    """One line per case (file, SoC, usage, case, result) and a summary line."""
    lines = [f"{'result':7} {'soc':18} {'usage':9} case"]
    for e in report["cases"]:
        lines.append(f"{e['status']:7} {e['soc']:18} {e['usage']:9} "
                     f"{Path(e['case_file']).name}::{e['case_name']}")
        if e["err_msg"]:
            lines.append(f"        {e['err_msg']}")
    s = report["summary"]
    lines.append(f"total {s['total']}, success {s['success']}, failed {s['failed']} "
                 f"in {report['seconds']} s (precision cases ran on the host backend)")
    return "\n".join(lines)


def _write(report: dict, test_report: str, report_dir: Path) -> None:
    report_dir.mkdir(parents=True, exist_ok=True)
    text = format_console(report)
    (report_dir / "ut_report.txt").write_text(text + "\n")
    if test_report == "json":
        (report_dir / "ut_report.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
