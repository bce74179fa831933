"""``bce-grad compile``: build the operator's kernel into ``kernel_meta/``, as CANN's build does."""
from __future__ import annotations

import argparse
import os

from bce_grad.host_backend.errors import OpError
from bce_grad.tools.commands.common import (
    DTYPES, add_reduction_option, add_soc_option, resolve_soc,
)


def _shape(text: str) -> list[int]:
    text = text.strip()
    if text in ("", "()", "[]"):
        return []
    try:
        return [int(part) for part in text.strip("()[]").split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"shape should be comma-separated integers such as "
                                         f"'32,1024' (-1 dynamic, -2 unknown rank), got {text!r}")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``compile`` subcommand."""
    parser = subparsers.add_parser(
        "compile", help="compile the kernel into kernel_meta/ without running it",
        description=(
            "Compile BinaryCrossEntropyGrad for one shape and dtype into kernel_meta/<name>.so "
            "(the host library), <name>.o (its object code, as CANN's kernel_meta holds) and "
            "<name>.json (the host's and CANN's kernel description). Static by default (exact shapes); --dynamic builds the dynamic entry, "
            "where -1 dims and unknown rank (-2) are allowed."),
        epilog="Example: bce-grad compile --shape=-1,4096 --dtype float16 --dynamic")
    parser.add_argument("--shape", type=_shape, required=True,
                        help="x's shape, comma-separated (y, grad_output and weight take it too)")
    parser.add_argument("--dtype", choices=DTYPES, default="float32", help="dtype of every tensor")
    add_reduction_option(parser)
    parser.add_argument("--weight", action=argparse.BooleanOptionalAction, default=True,
                        help="include the optional weight input (default: yes)")
    add_soc_option(parser)
    parser.add_argument("--dynamic", action="store_true", help="use impl/dynamic (shape-generic)")
    parser.add_argument("--kernel-name", default="binary_cross_entropy_grad",
                        help="kernel name: letters, digits and '_', up to 200 characters")
    parser.add_argument("--kernel-meta", default=os.environ.get("BCE_GRAD_KERNEL_META", "kernel_meta"),
                        help="output directory (default: ./kernel_meta)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Check the dtype against the SoC's op info, then call the static or dynamic entry."""
    from bce_grad.api import check_dtypes
    from bce_grad.host_backend import platform
    from bce_grad.host_backend.build import kernel_meta_at

    if args.dynamic:
        from bce_grad._impl.dynamic.binary_cross_entropy_grad import binary_cross_entropy_grad
    else:
        if -1 in args.shape or -2 in args.shape:
            raise OpError("E80000", f"the parameter[--shape] {args.shape} has -1/-2 dims; add "
                          f"--dynamic to compile a shape-generic kernel", param_name="--shape")
        from bce_grad._impl.binary_cross_entropy_grad import binary_cross_entropy_grad
    with platform.use_soc(resolve_soc(args.soc)) as info:
        check_dtypes(info.soc_version, {"x": args.dtype})
        desc = {"shape": args.shape, "dtype": args.dtype, "format": "ND",
                "range": [(1, None) if d == -1 else (d, d) for d in args.shape]}
        weight = dict(desc) if args.weight else None
        with kernel_meta_at(args.kernel_meta) as out_dir:
            binary_cross_entropy_grad(dict(desc), dict(desc), dict(desc), weight, dict(desc),
                                      args.reduction, args.kernel_name)
    built = ", ".join(str(out_dir / f"{args.kernel_name}{suffix}") for suffix in (".so", ".o", ".json"))
    print(f"built {built} for {info.soc_version} "
          f"({'dynamic' if args.dynamic else 'static'}, {args.dtype}, reduction={args.reduction})")
    return 0
