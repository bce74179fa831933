"""``bce-grad aot``: compile a kernel package ahead of time for the native runtime."""
from __future__ import annotations

import argparse
import os

from bce_grad.tools.commands.common import DTYPES, add_soc_option, resolve_soc


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``aot`` subcommand."""
    parser = subparsers.add_parser(
        "aot", help="precompile a kernel package for the native runtime (bce_grad.runtime)",
        description=(
            "Compile BinaryCrossEntropyGrad kernels for one SoC into DIR (kernels/ plus "
            "manifest.json) so that the native runtime serves calls without compiling. By "
            "default the kernel set of the default package (--set default): generic strided "
            "kernels for canonical ranks 1-8 (they serve every broadcast pattern, with or "
            "without weight, and mixed dtypes through the float32 ones) plus compact fast paths "
            "for the common patterns. --max-rank / --full build compact kernels per pattern "
            "instead. Mean kernels (runtime scalar cof) serve none and sum too. Kernels of an "
            "earlier run in DIR from the same sources are reused. Progress goes to stderr."),
        epilog="Example: bce-grad aot --soc Ascend910B1 --out ./bce_grad_kernels --jobs 2")
    parser.add_argument("--out", required=True, metavar="DIR", help="package directory")
    add_soc_option(parser)
    parser.add_argument("--set", dest="kernel_set", choices=("minimal", "default", "full"),
                        default="default",
                        help="the named kernel set (see bce_grad.runtime.packages; default: "
                             "default)")
    parser.add_argument("--max-rank", type=int, default=None, choices=range(1, 9), metavar="R",
                        help="compact kernels per broadcast pattern up to canonical rank R (1-8) "
                             "instead of a named set")
    parser.add_argument("--full", action="store_true",
                        help="every canonical pattern up to --max-rank (rank 3: 1530 kernels on a "
                             "SoC with 3 dtypes), not only the common ones")
    parser.add_argument("--dtypes", nargs="+", choices=DTYPES, metavar="DTYPE",
                        help="limit to these dtypes (default: all the SoC's op info lists)")
    parser.add_argument("--weight", choices=("both", "with", "without"), default="both",
                        help="kernels with the optional weight, without, or both (default)")
    parser.add_argument("--plain", action="store_true",
                        help="also build kernels without cof for none/sum (default: mean kernels "
                             "with cof = 1 serve them, bit for bit)")
    parser.add_argument("--jobs", type=int, default=len(os.sched_getaffinity(0)),
                        help="compile in this many processes (default: the usable CPUs)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Choose the kernel set from the SoC's op info, compile it, write the manifest."""
    from bce_grad.host_backend.errors import OpError
    from bce_grad.runtime.kernel_set import build_package, kernel_set, op_info_dtypes

    soc = resolve_soc(args.soc)
    info = op_info_dtypes(soc)
    uniform = [d for d in info["x"] if all(d in info[p] for p in info)]
    dtypes = uniform if not args.dtypes else [d for d in uniform if d in args.dtypes]
    if not dtypes:
        raise OpError("E80008", f"the parameter[--dtypes] {args.dtypes} lists no dtype that {soc}'s "
                      f"op info offers for every tensor ({uniform})", param_name="--dtypes")
    weights = {"both": (False, True), "with": (True,), "without": (False,)}[args.weight]
    if args.max_rank is not None or args.full:
        specs = kernel_set(dtypes, max_rank=args.max_rank or 3, full=args.full, weights=weights,
                           plain=args.plain)
    else:
        from bce_grad.runtime.packages import package_kernel_set

        specs = [s for s in package_kernel_set(soc, args.kernel_set)  # generic ones take weight
                 if set(s.dtypes) <= set(dtypes) and (s.strided or (len(s.dtypes) == 4) in weights)]
    manifest = build_package(args.out, soc, specs, jobs=max(1, args.jobs))
    print(f"wrote {len(manifest['kernels'])} kernels for {manifest['soc_version']} to {args.out} "
          f"({manifest['build_seconds']} s)")
    return 0
