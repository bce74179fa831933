"""``bce-grad run``: run the operator on .npy files through the host backend."""
from __future__ import annotations

import argparse
import sys

import numpy as np

from bce_grad.api import binary_cross_entropy_backward
from bce_grad.tools.commands.common import (
    DTYPES, add_reduction_option, add_soc_option, cast_input, load_npy, save_npy_atomic,
)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``run`` subcommand."""
    parser = subparsers.add_parser(
        "run", help="run the operator on .npy inputs and write the output",
        description=(
            "Compile the operator for the SoC (or reuse the cached kernel) and run it on the host "
            "backend. y, grad-output and weight broadcast to x's shape; the output has x's shape. "
            "Exit codes: 0 success, 2 bad input (one 'error: ...' line, no output file)."),
        epilog="Example: bce-grad run --x x.npy --y y.npy --grad-output g.npy --reduction mean "
               "--out dx.npy")
    parser.add_argument("--x", required=True, metavar="X.npy", help="prediction, values in [0, 1]")
    parser.add_argument("--y", required=True, metavar="Y.npy", help="target")
    parser.add_argument("--grad-output", required=True, metavar="G.npy", help="incoming gradient")
    parser.add_argument("--weight", metavar="W.npy", help="optional per-element weight")
    add_reduction_option(parser)
    add_soc_option(parser)
    parser.add_argument("--dtype", choices=DTYPES,
                        help="cast every input to this dtype first (round to nearest even); "
                             "without it each input keeps its .npy dtype and mixed dtypes promote")
    parser.add_argument("--out", metavar="OUT.npy",
                        help="where to write the output; bfloat16 is saved as float32 values "
                             "(.npy has no bfloat16). Without --out a summary is printed.")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Load the inputs, run the operator and save or summarise the result."""
    names = {"x": args.x, "y": args.y, "grad_output": args.grad_output, "weight": args.weight}
    arrays = {name: cast_input(load_npy(path, f"--{name.replace('_', '-')}"), args.dtype,
                               f"--{name.replace('_', '-')}")
              for name, path in names.items() if path is not None}
    out = binary_cross_entropy_backward(arrays["grad_output"], arrays["x"], arrays["y"],
                                        arrays.get("weight"), args.reduction, soc=args.soc)
    saved = out.astype(np.float32) if str(out.dtype) == "bfloat16" else out
    if args.out:
        save_npy_atomic(args.out, saved)
        print(f"wrote {args.out}: shape {list(out.shape)}, dtype {out.dtype}"
              + (" (saved as float32 values)" if saved is not out else ""), file=sys.stderr)
    else:
        print(f"output: shape {list(out.shape)}, dtype {out.dtype}, "
              f"min {np.nanmin(saved) if saved.size else 'n/a'}, "
              f"max {np.nanmax(saved) if saved.size else 'n/a'}")
    return 0
