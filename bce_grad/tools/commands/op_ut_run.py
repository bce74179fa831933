"""``bce-grad op-ut-run``: CANN's own op_ut_run, running on the host backend.

The real op_test_frame (``--op-test-frame DIR``, or an importable ``op_test_frame``) runs
its own UT case files; CANN's module names come from the host backend's compat layer
(:mod:`bce_grad.cann_compat`), its runtime seam from a host stand-in, and its reports are
its own. Worker processes of its pool get the same setup (fork, spawn or forkserver).
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from bce_grad.tools.cli import EXIT_FAIL, EXIT_OK, EXIT_USAGE

#: op_ut_run's own flags (scripts/op_ut_run), with its defaults.
OP_UT_RUN_FLAGS = {
    "case_files": None, "soc_version": None, "case_name": None, "cov_report": None,
    "cov_report_path": "./cov_report", "test_report": None, "test_report_path": "./report",
    "simulator_mode": None, "simulator_lib_path": None, "simulator_data_path": "./model",
    "data_path": "./data",
}
#: ``simulator_lib_path`` given to the frame when the host stand-in plays the simulator.
HOST_SIMULATOR = "bce_grad-host-backend"


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``op-ut-run`` subcommand."""
    parser = subparsers.add_parser(
        "op-ut-run", help="run CANN's real op_ut_run (op_test_frame) on the host backend",
        description=(
            "Run CANN's own op_ut_run with CANN's own UT case files on the host backend. The "
            "frame is loaded from --op-test-frame (the directory holding the op_test_frame "
            "package) or from the Python path; operators from --impl-path (a directory laid "
            "out as CANN's impl/, whose package __init__ files are not executed) or else the "
            "project's own impl/. As on CANN, precision cases run only with --simulator_mode "
            "(pv, ca or tm): the host stand-in of the frame's runtime plays the simulator, "
            "no --simulator_lib_path needed. The reports are the frame's own "
            "(<test_report_path>/.ut_test_report). Exit codes: 0 every case passed, 1 a case "
            "failed, 2 bad usage."),
        epilog=("Example: bce-grad op-ut-run --op-test-frame canndev/tools/op_test_frame/python "
                "--impl-path canndev/ops/built-in/tbe/impl --case_files "
                "canndev/ops/built-in/tests/ut/ops_test/BinaryCrossEntropyGrad "
                "--soc_version Ascend910A --simulator_mode pv"))
    parser.add_argument("--op-test-frame", dest="op_test_frame", default=None, metavar="DIR",
                        help="directory containing CANN's op_test_frame package")
    parser.add_argument("--impl-path", dest="impl_path", default=None, metavar="DIR",
                        help="a directory laid out as CANN's impl/ (default: the project's impl)")
    parser.add_argument("--tf1-api", dest="tf1_api", action="store_true",
                        help="case files written for TensorFlow 1 (tf.ConfigProto, tf.Session, "
                             "tf.placeholder) run on TensorFlow 2: at its first import, eager "
                             "execution is turned off and tf.compat.v1's names are exposed")
    parser.add_argument("--process-num", dest="process_num", type=int, default=0,
                        help="worker processes of the frame's pool (0: the frame's choice)")
    for flag, default in OP_UT_RUN_FLAGS.items():
        parser.add_argument(f"--{flag}", default=default,
                            help=f"op_ut_run's own flag (default: {default})")
    parser.set_defaults(func=run)


def _frame_dir(given: str | None) -> str | None:
    if given is None:
        return None
    path = Path(given).resolve()
    if (path / "op_test_frame" / "__init__.py").is_file():
        return str(path)
    if path.name == "op_test_frame" and (path / "__init__.py").is_file():
        return str(path.parent)
    raise FileNotFoundError(f"--op-test-frame should be the directory that holds the "
                            f"op_test_frame package, but [{given}] does not")


def run(args: argparse.Namespace) -> int:
    """Set up the host, call the frame's ``op_ut_runner.run_ut`` as op_ut_run does, report."""
    from bce_grad.cann_compat import CannCompatError
    from bce_grad.cann_compat.workers import bootstrap, export, unexport
    from bce_grad.resources import impl_dir

    if not args.soc_version:
        sys.stderr.write('[ERROR] Please set soc_version, see "bce-grad op-ut-run --help"\n')
        return EXIT_USAGE
    try:
        frame_dir = _frame_dir(args.op_test_frame)
        # the frame imports impl.<op>: served from --impl-path, else from the project's impl/
        # (installed as bce_grad._impl, so no top-level impl exists to find on the path)
        impl_path = str(Path(args.impl_path).resolve() if args.impl_path else impl_dir())
        if frame_dir and frame_dir not in sys.path:
            sys.path.insert(0, frame_dir)
        config = {"layer": True, "impl_path": impl_path, "frame": True,
                  "tf1_api": bool(getattr(args, "tf1_api", False))}
        bootstrap(config)
    except (CannCompatError, FileNotFoundError, ModuleNotFoundError) as err:
        sys.stderr.write(f"error: {err}\n")
        return EXIT_USAGE
    from op_test_frame.ut import op_ut_runner

    simulator_lib_path = args.simulator_lib_path
    if args.simulator_mode and not simulator_lib_path and not os.environ.get("SIMULATOR_PATH"):
        simulator_lib_path = HOST_SIMULATOR
    case_files = (args.case_files or os.path.realpath("./")).split(",")
    exported = export(config, [frame_dir] if frame_dir else None)
    try:
        result = op_ut_runner.run_ut(
            case_dir=case_files, soc_version=args.soc_version,
            case_name=args.case_name.split(",") if args.case_name else None,
            test_report=args.test_report, test_report_path=args.test_report_path,
            cov_report=args.cov_report, cov_report_path=args.cov_report_path,
            simulator_mode=args.simulator_mode, simulator_lib_path=simulator_lib_path,
            simulator_data_path=args.simulator_data_path, test_data_path=args.data_path,
            process_num=args.process_num)
    finally:
        unexport(exported)
    if result != "success":
        print("UT run failed, please see detail report.")
        return EXIT_FAIL
    return EXIT_OK
