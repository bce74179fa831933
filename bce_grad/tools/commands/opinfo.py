"""``bce-grad opinfo``: turn ``op_info_cfg`` .ini files into ``aic-<soc>-ops-info.json``."""
from __future__ import annotations

import argparse
from pathlib import Path

from bce_grad.tools.deploy.artifacts import DEFAULT_OP_INFO_OUT, write_ops_info_json
from bce_grad.tools.commands.common import soc_arg
from bce_grad.tools.deploy.atc import soc_dir_for
from bce_grad.tools.deploy.op_info import SOC_DIRS


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``opinfo`` subcommand."""
    parser = subparsers.add_parser(
        "opinfo",
        help="convert op_info_cfg/*.ini into aic-<soc>-ops-info.json",
        description=(
            "Parse and validate op_info_cfg/ai_core/<soc>/*.ini with CANN's "
            "parse_ini_to_json rules and write <out>/<soc>/aic-<soc>-ops-info.json "
            f"for each SoC ({', '.join(SOC_DIRS)}). Errors name the file, line and rule. "
            "After editing an .ini, `bce-grad opinfo --flat --out op_info_cfg/compiled` "
            "regenerates the copies the package ships (a test keeps them equal)."
        ),
    )
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OP_INFO_OUT, metavar="DIR",
        help="output directory (default: build/op_info under the current directory)",
    )
    parser.add_argument(
        "--flat", action="store_true",
        help="write <out>/aic-<soc>-ops-info.json, without a directory per SoC (the layout of "
             "op_info_cfg/compiled)",
    )
    parser.add_argument(
        "--soc", action="append", type=soc_arg, metavar="SOC",
        help=f"only this SoC, spelt as anywhere else (Ascend910B1, Ascend910B or ascend910b); "
             f"repeatable (default: all of {', '.join(SOC_DIRS)})",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Write the JSON files and list them on stdout."""
    for path in write_ops_info_json(args.out, [soc_dir_for(soc) for soc in args.soc or ()]
                                    or SOC_DIRS, flat=args.flat):
        print(path)
    return 0
