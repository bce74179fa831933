"""``bce-grad atc-json``: write the single-op JSON that ``atc --singleop`` compiles."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bce_grad.host_backend.errors import OpError
from bce_grad.tools.deploy.atc import parse_shape, single_op_json
from bce_grad.tools.deploy.files import write_output
from bce_grad.tools.commands.common import add_soc_option, resolve_soc
from bce_grad.tools.deploy.op_info import REDUCTIONS


def _shape_arg(text: str) -> list[int]:
    """argparse type for ``--shape``: a usage error names the value and the rule."""
    try:
        return parse_shape(text)
    except OpError as err:
        raise argparse.ArgumentTypeError(err.detail) from err


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``atc-json`` subcommand."""
    parser = subparsers.add_parser(
        "atc-json",
        help="write a single-op JSON for 'atc --singleop'",
        description=(
            "Write the single-op description of one BinaryCrossEntropyGrad call for "
            "'atc --singleop=FILE --soc_version=SOC --output=DIR'. All inputs and the "
            "output take x's shape. The dtype must be one that op_info_cfg lists for --soc."
        ),
    )
    parser.add_argument("--shape", required=True, type=_shape_arg, metavar="D0,D1,...",
                        help="shape of x (and of y, grad_output, weight, output), e.g. 8,1024")
    parser.add_argument("--dtype", required=True, metavar="DTYPE",
                        help="float16, float32 (or float) or bfloat16, as the SoC allows")
    parser.add_argument("--reduction", default="mean", choices=REDUCTIONS,
                        help="the reduction attr (default: %(default)s)")
    parser.add_argument("--weight", action=argparse.BooleanOptionalAction, default=True,
                        help="pass the optional input weight (default: yes)")
    add_soc_option(parser)
    parser.add_argument("--out", type=Path, metavar="FILE",
                        help="output file (default: print to stdout)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Build the JSON and write it to ``--out`` or stdout."""
    ops = single_op_json(args.shape, args.dtype, args.reduction, args.weight,
                         resolve_soc(args.soc))
    text = json.dumps(ops, indent=4) + "\n"
    if args.out is None:
        sys.stdout.write(text)
        return 0
    write_output(args.out, text.encode("utf-8"))
    print(args.out)
    return 0
