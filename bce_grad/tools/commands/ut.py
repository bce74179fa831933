"""``bce-grad ut``: run op_test_frame UT case files on the host, with op_ut_run's flags."""
from __future__ import annotations

import argparse
import sys

from bce_grad.tools.cli import EXIT_FAIL, EXIT_OK, EXIT_USAGE


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``ut`` subcommand."""
    parser = subparsers.add_parser(
        "ut", help="run UT case files (test_*_impl.py) like op_ut_run, on the host backend",
        description=(
            "Load every test_*_impl.py under --case_files, take its module-level ut_case and run "
            "its cases on each SoC. CANN's op_test_frame is used when importable; otherwise the "
            "host op_test_frame, whose precision cases run on the host backend (op_ut_run drops "
            "them without a simulator, and so does this command with CANN's frame). The report "
            "goes to <test_report_path>/.ut_test_report in op_ut_run's JSON layout. "
            "Exit codes: 0 all passed, 1 a case failed, 2 bad usage."),
        epilog="Example: bce-grad ut --case_files testcases/ut --soc_version Ascend910A,Ascend910B1")
    parser.add_argument("--case_files", default="./", help="files or directories, comma-separated "
                        "(default: ./)")
    parser.add_argument("--soc_version", required=True,
                        help="SoC versions, comma-separated, e.g. Ascend910A,Ascend910B1")
    parser.add_argument("--case_name", default=None, help="case names, comma-separated")
    parser.add_argument("--test_report", default="console", choices=("json", "console"),
                        help="as op_ut_run (default: console); the JSON report "
                             "<test_report_path>/.ut_test_report is written either way")
    parser.add_argument("--test_report_path", default="./report", help="default: ./report")
    parser.add_argument("--data_path", default="./data", help="default: ./data")
    parser.add_argument("--kernel_meta_path", default="./kernel_meta",
                        help="where kernels are built (default: ./kernel_meta, as CANN)")
    parser.add_argument("--simulator_mode", default=None, choices=("pv", "ca", "tm", "esl"),
                        help="accepted for op_ut_run compatibility; the host needs no simulator")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the cases, print one line per case and return 1 if any failed."""
    from bce_grad.host_backend.errors import OpError
    from bce_grad.host_backend.soc_table import known_soc_versions
    from bce_grad.tools.ut_frame import ensure_op_test_frame
    from bce_grad.tools.ut_frame.ut.runner import format_console, run_ut, summary

    known = set(known_soc_versions())
    unknown = [soc for soc in args.soc_version.split(",") if soc.strip() and soc.strip() not in known]
    if unknown or not args.soc_version.strip():
        raise OpError("E80000", f"the parameter[--soc_version] should list full SoC versions such "
                      f"as Ascend910A,Ascend910B1, but [{','.join(unknown)}] is unknown; known: "
                      f"{', '.join(sorted(known))}", param_name="--soc_version")
    ensure_op_test_frame()
    try:
        report = run_ut(args.case_files, args.soc_version, args.case_name, args.test_report,
                        args.test_report_path, args.data_path, args.kernel_meta_path,
                        args.simulator_mode)
    except RuntimeError as err:
        if type(err).__name__ == "OpError":
            raise
        sys.stderr.write(f"error: [E80000] {err}\n")
        return EXIT_USAGE
    print(format_console(report))
    if not report["report_list"]:
        sys.stderr.write("error: [E80000] no case matched --case_files, --soc_version and "
                         "--case_name\n")
        return EXIT_USAGE  # bad input, as every other error line
    counts = summary(report)
    return EXIT_FAIL if counts["failed"] or counts["error"] else EXIT_OK
