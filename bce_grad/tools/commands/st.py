"""``bce-grad st run``: run an msopst ST case file on the host backend."""
from __future__ import annotations

import argparse
import sys

from bce_grad.tools.cli import EXIT_FAIL, EXIT_OK, EXIT_USAGE
from bce_grad.tools.commands.common import soc_arg


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``st`` subcommand with its ``run`` action (msopst's single-dash options)."""
    parser = subparsers.add_parser(
        "st", help="run msopst ST case files on the host backend",
        description="msopst's 'run' on the host: compile, generate data, run, compare, report.")
    actions = parser.add_subparsers(dest="st_action", metavar="ACTION")
    actions.required = True
    run_parser = actions.add_parser(
        "run", help="run the cases of one ST case JSON file",
        description=(
            "Expand each case into sub-cases (alternatives of format, shape, type, data_distribute "
            "and value_range), compile the op's dynamic entry for the SoC, generate data, run it on "
            "the host, compare with calc_expect_func_file (msopst's rule) and write "
            "<out>/<YYYYmmddHHMMSS>/st_report.json in msopst's layout. "
            "Exit codes: 0 all passed, 1 a case failed, 2 bad usage or case file."),
        epilog="Example: bce-grad st run -i testcases/st/BinaryCrossEntropyGrad_case.json "
               "-soc Ascend910B1 -out st_out")
    run_parser.add_argument("-i", "--input", dest="input", required=True, metavar="CASE.json",
                            help="the ST case file")
    run_parser.add_argument("-soc", "--soc_version", dest="soc", required=True, type=soc_arg,
                            help="SoC version, e.g. Ascend910B1 (any spelling --soc accepts)")
    run_parser.add_argument("-out", "--output", dest="out", default="./st_out",
                            help="output directory; each run gets a timestamped folder in it (default: ./st_out)")
    run_parser.add_argument("-c", "--case_name", dest="case_name", default="all",
                            help="case names, comma-separated, or all (default)")
    run_parser.add_argument("-err_thr", "--error_threshold", dest="err_thr", default=None,
                            help="'[relative, fraction]' (default: [0.01,0.05])")
    run_parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the case file; print one line per sub-case; 1 if any failed."""
    from bce_grad.host_backend.errors import OpError
    from bce_grad.tools.st_frame.case_file import CaseFileError
    from bce_grad.tools.st_frame.compare import parse_err_thr
    from bce_grad.tools.st_frame.runner import run_st

    try:
        err_thr = parse_err_thr(args.err_thr)
        report = run_st(args.input, args.soc, args.out, err_thr, args.case_name.split(","),
                        run_cmd=" ".join(sys.argv))
    except (CaseFileError, ValueError) as err:
        if isinstance(err, OpError):
            raise
        sys.stderr.write(f"error: [E80000] {err}\n")
        return EXIT_USAGE
    for entry in report["report_list"]:
        verdict = "pass" if entry["status"] == entry["expect"] else "FAIL"
        print(f"{verdict:4} {entry['status']:7} {entry['case_name']}  {entry['response']}")
    summary = report["summary"]
    print(f"{summary['test case count']} cases: {summary['success count']} success, "
          f"{summary['failed count']} failed; report {report['run_dir']}/st_report.json")
    if summary["not offered on soc"]:
        print(f"{summary['not offered on soc']} sub-case(s) left out: their dtypes are not in "
              f"{args.soc}'s op info")
    return EXIT_FAIL if summary["failed count"] or not report["report_list"] else EXIT_OK
