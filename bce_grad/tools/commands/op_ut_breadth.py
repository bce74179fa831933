"""``bce-grad op-ut-breadth``: CANN's own UT cases of many canndev operators, one table.

Each operator's case folder (``ops/built-in/tests/ut/ops_test/<Op>``) runs through
``bce-grad op-ut-run`` in a process of its own (an operator whose import fails cannot
disturb the next), against canndev's own impl tree and op_test_frame. The frame's
report says passed or failed for each case and SoC; a failed case whose error is the
compat layer's :class:`~bce_grad.cann_compat.errors.UnsupportedApiError` (a CANN API the
host cannot honour: TIK, UB fusion, a device constant) counts as *unsupported*.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from bce_grad._version import __version__

from bce_grad.tools.cli import EXIT_FAIL, EXIT_OK, EXIT_USAGE

#: The 50 elementwise and broadcast DSL operators of issue 28's sample, canndev's folder names.
SAMPLE = (
    "Add", "Mul", "Sub", "RealDiv", "Div", "Maximum", "Minimum", "Exp", "Log", "Abs", "Neg",
    "Sigmoid", "SigmoidGrad", "Relu", "ReluGrad", "Gelu", "GeluGrad", "Tanh", "TanhGrad", "Sqrt",
    "Rsqrt", "Square", "SquaredDifference", "Softplus", "SoftplusGrad", "Erf", "LeakyRelu", "Elu",
    "Selu", "Mish", "Swish", "HardSigmoid", "BiasAdd", "Axpy", "AddN", "ZerosLike", "OnesLike",
    "Cast", "Reciprocal", "Sign", "Floor", "Ceil", "Round", "LogicalAnd", "Equal", "Greater",
    "Less", "Pow", "FloorDiv", "Mod",
)
#: Where canndev keeps what the run needs, relative to its root.
FRAME_DIR = "tools/op_test_frame/python"
IMPL_DIR = "ops/built-in/tbe/impl"
CASES_DIR = "ops/built-in/tests/ut/ops_test"
#: The environment variable naming a canndev checkout.
CANNDEV_ENV = "BCE_GRAD_CANNDEV_DIR"
#: The name of the error that marks a case *unsupported*.
UNSUPPORTED = "UnsupportedApiError"
#: An exception line of a Python traceback: ``module.Name: message``.
_EXCEPTION_LINE = re.compile(r"^([A-Za-z_][\w.]*(Error|Exception|Interrupt|Exit)\b.*)$")


@dataclass
class OpResult:
    """One operator's cases: how many ran, passed, failed, were unsupported, and why."""

    op: str
    cases: int = 0
    passed: int = 0
    failed: int = 0
    unsupported: int = 0
    first_cause: str = ""
    causes: list[str] = field(default_factory=list)

    @property
    def all_passed(self) -> bool:
        """Every case ran and passed (none failed, none unsupported), and there was one."""
        return self.cases > 0 and self.passed == self.cases

    @property
    def none_failed(self) -> bool:
        """No case failed: each passed or stopped on an API the host cannot honour."""
        return self.cases > 0 and self.failed == 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``op-ut-breadth`` subcommand."""
    parser = subparsers.add_parser(
        "op-ut-breadth", help="run canndev's UT cases of many operators, print a table",
        description=(
            "Run CANN's own UT cases of many canndev operators on the host backend, each "
            "through 'bce-grad op-ut-run' in a process of its own, and print one row per "
            "operator: cases (each case on each SoC), passed, failed, unsupported (the case "
            "stopped on a CANN API the host cannot honour: UnsupportedApiError) and the first "
            "cause. canndev is the checkout given by --canndev or $BCE_GRAD_CANNDEV_DIR; "
            "its op_test_frame, impl tree and case folders are used as they are; case files "
            "written for TensorFlow 1 run with op-ut-run --tf1-api. Exit codes: "
            "0 no case failed (each passed or was unsupported), 1 some case failed, 2 bad usage."),
        epilog=("Example: BCE_GRAD_CANNDEV_DIR=~/canndev bce-grad op-ut-breadth "
                "--soc_version Ascend910,Ascend910A --json breadth.json"))
    parser.add_argument("--canndev", default=None, metavar="DIR",
                        help=f"canndev checkout (default: ${CANNDEV_ENV})")
    parser.add_argument("--ops", default=None, metavar="OP[,OP...]",
                        help="canndev case folders to run (default: the 50 of issue 28's sample)")
    parser.add_argument("--soc_version", default="Ascend910A", metavar="SOCS",
                        help="op_ut_run's --soc_version (default: Ascend910A)")
    parser.add_argument("--simulator_mode", default="pv",
                        help="op_ut_run's --simulator_mode; 'none' runs compile cases only "
                             "(default: pv, precision cases run)")
    parser.add_argument("--timeout", type=float, default=900.0, metavar="SECONDS",
                        help="the most one operator may take (default: 900)")
    parser.add_argument("--json", dest="json_path", default=None, metavar="FILE",
                        help="also write the rows as JSON to FILE")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run each operator's cases, print the table, and write the JSON when asked."""
    root = args.canndev or os.environ.get(CANNDEV_ENV)
    if not root:
        sys.stderr.write(f"error: [E80001] the parameter[--canndev] is missing: give a canndev "
                         f"checkout with --canndev or ${CANNDEV_ENV}\n")
        return EXIT_USAGE
    canndev = Path(root).expanduser().resolve()
    missing = [sub for sub in (FRAME_DIR, IMPL_DIR, CASES_DIR) if not (canndev / sub).is_dir()]
    if missing:
        sys.stderr.write(f"error: [E80000] the parameter[--canndev] should be a canndev checkout "
                         f"holding {', '.join(missing)}, but actually is [{canndev}]\n")
        return EXIT_USAGE
    ops = [op.strip() for op in args.ops.split(",") if op.strip()] if args.ops else list(SAMPLE)
    absent = [op for op in ops if not (canndev / CASES_DIR / op).is_dir()]
    if absent:
        sys.stderr.write(f"error: [E80000] the parameter[--ops] should name case folders under "
                         f"{canndev / CASES_DIR}, but these are not: {', '.join(absent)}\n")
        return EXIT_USAGE
    results = []
    for index, op in enumerate(ops, 1):
        result = run_op(canndev, op, args.soc_version, args.simulator_mode, args.timeout)
        results.append(result)
        sys.stderr.write(f"[{index}/{len(ops)}] {op}: {result.passed}/{result.cases} passed, "
                         f"{result.failed} failed, {result.unsupported} unsupported\n")
    print(format_table(results))
    if args.json_path:
        rows = [asdict(result) for result in results]
        measured = {"date": datetime.now(timezone.utc).date().isoformat(),
                    "bce_grad": __version__, "canndev": str(canndev)}
        Path(args.json_path).write_text(json.dumps(
            {"measured": measured, "soc_version": args.soc_version,
             "simulator_mode": args.simulator_mode, "operators": rows}, indent=1) + "\n",
            encoding="utf-8")
    return EXIT_OK if all(result.none_failed for result in results) else EXIT_FAIL


def run_op(canndev: Path, op: str, socs: str, simulator_mode: str, timeout: float) -> OpResult:
    """Run one operator's case folder through ``op-ut-run`` and read the frame's report."""
    with tempfile.TemporaryDirectory(prefix=f"bce-grad-breadth-{op}-") as work:
        command = [sys.executable, "-m", "bce_grad", "op-ut-run",
                   "--op-test-frame", str(canndev / FRAME_DIR),
                   "--impl-path", str(canndev / IMPL_DIR),
                   "--case_files", str(canndev / CASES_DIR / op), "--soc_version", socs,
                   "--test_report_path", str(Path(work) / "report"),
                   "--data_path", str(Path(work) / "data"),
                   "--simulator_data_path", str(Path(work) / "model"), "--tf1-api"]
        if simulator_mode and simulator_mode != "none":
            command += ["--simulator_mode", simulator_mode]
        try:
            done = subprocess.run(command, cwd=work, capture_output=True, text=True,
                                  timeout=timeout, check=False)
            output = done.stdout + done.stderr
        except subprocess.TimeoutExpired as err:
            return OpResult(op, first_cause=f"timed out after {timeout:g} s", causes=[str(err)])
        report = Path(work) / "report" / ".ut_test_report"
        if not report.is_file():
            return OpResult(op, first_cause=_last_error(output) or "no report written")
        return summarize(op, json.loads(report.read_text(encoding="utf-8")), output)


def summarize(op: str, report: dict, output: str = "") -> OpResult:
    """Count one operator's cases in the frame's report (``OpUTReport`` JSON)."""
    result = OpResult(op)
    failed_causes: list[str] = []
    unsupported_causes: list[str] = []
    for case in report.get("report_list", []):
        result.cases += 1
        if case.get("status") == "success":
            result.passed += 1
            continue
        text = _case_text(case)
        cause = _last_error(text) or (case.get("err_msg") or "failed").strip().splitlines()[0]
        if UNSUPPORTED in text:
            result.unsupported += 1
            unsupported_causes.append(cause)
        else:
            result.failed += 1
            failed_causes.append(cause)
    if not result.cases:
        result.failed = 0
        failed_causes.append(_last_error(output) or "no case ran")
    result.causes = sorted(set(failed_causes + unsupported_causes))
    first = failed_causes or unsupported_causes
    result.first_cause = first[0] if first else ""
    return result


def _case_text(case: dict) -> str:
    parts = [case.get("err_msg") or ""]
    for stage in (case.get("trace_detail") or {}).get("stage_result") or []:
        parts += [stage.get("err_msg") or "", stage.get("err_trace") or ""]
    return "\n".join(parts)


def _last_error(text: str) -> str:
    """The first exception line of a traceback in ``text`` (the root of a chain), without
    the module path."""
    lines = [line.strip() for line in text.splitlines()]
    for line in lines:
        match = _EXCEPTION_LINE.match(line)
        if match:
            return _short_name(match.group(1))
    for line in reversed(lines):
        if "exception class not match" in line:
            return line[line.index("exception class not match"):]
    return ""


def _short_name(line: str) -> str:
    name, colon, message = line.partition(":")
    return f"{name.rsplit('.', 1)[-1]}{colon}{message}"


def format_table(results: list[OpResult], width: int = 90) -> str:
    """The rows as a plain-text table, each cause cut to ``width`` characters."""
    head = f"{'operator':<18} {'cases':>5} {'passed':>6} {'failed':>6} {'unsupported':>11}  first cause"
    lines = [head]
    for result in results:
        cause = result.first_cause.replace("\n", " ")
        cause = cause if len(cause) <= width else cause[:width - 3] + "..."
        lines.append(f"{result.op:<18} {result.cases:>5} {result.passed:>6} {result.failed:>6} "
                     f"{result.unsupported:>11}  {cause}".rstrip())
    total = [sum(getattr(r, key) for r in results) for key in ("cases", "passed", "failed",
                                                               "unsupported")]
    everything = sum(r.all_passed for r in results)
    only_unsupported = sum(r.none_failed and not r.all_passed for r in results)
    lines.append(f"{'total':<18} {total[0]:>5} {total[1]:>6} {total[2]:>6} {total[3]:>11}  "
                 f"{everything} of {len(results)} pass every case; {only_unsupported} more "
                 f"fail none (the rest unsupported)")
    return "\n".join(lines)
