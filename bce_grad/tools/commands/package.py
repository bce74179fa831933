"""``bce-grad package``: build the custom OPP (vendors tree, install.sh, reproducible tar.gz)."""
from __future__ import annotations

import argparse
from pathlib import Path

from bce_grad.tools.deploy.package import DEFAULT_VENDOR, build_package


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``package`` subcommand."""
    parser = subparsers.add_parser(
        "package",
        help="build the custom OPP package (vendors/ tree, install.sh, tar.gz)",
        description=(
            "Build <out>/bce_grad_opp_<vendor>/ in CANN's vendors layout: op info JSON for "
            "every SoC in op_info_cfg, the impl/ Python files as <vendor>_impl, the op_proto "
            "sources, MindSpore and TensorFlow registration generated from the op info, "
            "vendors/config.ini and install.sh; and <out>/bce_grad_opp_<vendor>.tar.gz, "
            "byte-identical when built twice. Install with "
            "'bash <out>/bce_grad_opp_<vendor>/install.sh [--install-path DIR]'."
        ),
    )
    parser.add_argument("--out", type=Path, required=True, metavar="DIR",
                        help="output directory; an older package there is replaced")
    parser.add_argument("--vendor", default=DEFAULT_VENDOR, metavar="NAME",
                        help="vendor name: vendors/NAME and NAME_impl (default: %(default)s)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Build the package and print where it is."""
    package = build_package(args.out, args.vendor)
    print(f"{package.tree} ({len(package.files)} files)")
    print(package.archive)
    return 0
