"""``bce-grad run``: run the operator on .npy files through the host backend."""
from __future__ import annotations

import argparse
import sys

from bce_grad.tools.commands.common import (
    DTYPES, add_reduction_option, add_soc_option, cast_input, load_npy, resolve_soc, save_npy,
)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``run`` subcommand."""
    parser = subparsers.add_parser(
        "run", help="run the operator on .npy inputs and write the output",
        description=(
            "Compile the operator for the SoC (or reuse the cached kernel) and run it on the host "
            "backend. y, grad-output and weight broadcast to x's shape; the output has x's shape. "
            "Inputs are .npy files; a 2-byte void dtype (|V2, how np.save stores "
            "ml_dtypes.bfloat16) is read as bfloat16. "
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
                        help="where to write the output (.npy). A symlink is followed, an existing "
                             "file keeps its permissions, a read-only file is refused. bfloat16 "
                             "keeps its bits (stored as |V2): read it back with "
                             "np.load(OUT).view(ml_dtypes.bfloat16). Without --out a summary is "
                             "printed.")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Load the inputs, run the operator and save or summarise the result."""
    import numpy as np

    from bce_grad.api import binary_cross_entropy_backward

    names = {"x": args.x, "y": args.y, "grad_output": args.grad_output, "weight": args.weight}
    arrays = {name: cast_input(load_npy(path, f"--{name.replace('_', '-')}"), args.dtype,
                               f"--{name.replace('_', '-')}")
              for name, path in names.items() if path is not None}
    out = binary_cross_entropy_backward(arrays["grad_output"], arrays["x"], arrays["y"],
                                        arrays.get("weight"), args.reduction,
                                        soc=resolve_soc(args.soc))
    if args.out:
        save_npy(args.out, out)
        print(f"wrote {args.out}: shape {list(out.shape)}, dtype {out.dtype}", file=sys.stderr)
        return 0
    values = out.astype(np.float32)
    finite = values[np.isfinite(values)]
    print(f"output: shape {list(out.shape)}, dtype {out.dtype}, "
          f"min {finite.min() if finite.size else 'n/a'}, "
          f"max {finite.max() if finite.size else 'n/a'}")
    return 0
