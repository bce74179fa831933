"""``bce-grad demo``: the first thing to run: compile, run and check every dtype and reduction."""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from bce_grad.host_backend import platform
from bce_grad.host_backend.errors import OpError
from bce_grad.golden import binary_cross_entropy_grad_golden, ulp_distance
from bce_grad.api import binary_cross_entropy_backward
from bce_grad.tools.commands.common import NUMPY_DTYPES, REDUCTIONS, add_soc_option
from bce_grad.tools.deploy.op_info import soc_dir_for_short_soc, supported_dtypes

SHAPE = (512, 4096)
#: Calls after the first; the table shows their median.
STEADY_CALLS = 5


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``demo`` subcommand."""
    parser = subparsers.add_parser(
        "demo", help="compile, run and check the operator for every dtype and reduction",
        description=(
            "Compile the operator for the SoC, run it on generated data (x in (0.01, 0.99), "
            "y in [0, 1], a row-broadcast weight) for each dtype the SoC supports and each "
            "reduction, and check it against the golden: bit for bit against the float32-compute "
            "golden, and the largest error against float64, in units in the last place of the dtype. Exits 1 if a check fails."))
    add_soc_option(parser)
    parser.add_argument("--shape", default=",".join(map(str, SHAPE)),
                        help=f"x's shape (default: {','.join(map(str, SHAPE))})")
    parser.set_defaults(func=run)


def _inputs(shape: tuple[int, ...], dtype: str, rng: np.random.Generator) -> dict[str, np.ndarray]:
    np_dtype = NUMPY_DTYPES[dtype]
    return {
        "x": rng.uniform(0.01, 0.99, shape).astype(np_dtype),
        "y": rng.uniform(0.0, 1.0, shape).astype(np_dtype),
        "grad_output": rng.uniform(0.5, 1.5, shape).astype(np_dtype),
        "weight": rng.uniform(0.0, 2.0, shape[-1:]).astype(np_dtype),
    }


def run(args: argparse.Namespace) -> int:
    """Print one row per (dtype, reduction): exactness, error, first-call time (compile + run),
    steady time (median of the next calls, kernel cached) and GB/s from the steady time."""
    try:
        shape = tuple(int(d) for d in args.shape.split(","))
    except ValueError:
        raise OpError("E80000", f"the parameter[--shape] should be comma-separated integers, but "
                      f"actually is [{args.shape}]", param_name="--shape") from None
    info = platform.soc_info(args.soc)
    dtypes = supported_dtypes(soc_dir_for_short_soc(info.short_soc_version), "x")
    print(f"BinaryCrossEntropyGrad on the host backend: SoC {info.soc_version} "
          f"({info.short_soc_version}), x shape {list(shape)}, weight shape [{shape[-1]}]")
    print(f"{'dtype':<9} {'reduction':<9} {'bit-exact':<9} {'max ulp vs f64':>15} "
          f"{'first call':>11} {'steady':>9} {'GB/s':>7}")
    rng = np.random.default_rng(2026)
    failed = 0
    for dtype in dtypes:
        data = _inputs(shape, dtype, rng)
        for reduction in REDUCTIONS:
            start = time.perf_counter()
            out = binary_cross_entropy_backward(data["grad_output"], data["x"], data["y"],
                                                data["weight"], reduction, soc=args.soc)
            first = time.perf_counter() - start
            times = []
            for _ in range(STEADY_CALLS):
                start = time.perf_counter()
                binary_cross_entropy_backward(data["grad_output"], data["x"], data["y"],
                                              data["weight"], reduction, soc=args.soc)
                times.append(time.perf_counter() - start)
            steady = statistics.median(times)
            want = binary_cross_entropy_grad_golden(data["x"], data["y"], data["grad_output"],
                                                    data["weight"], reduction, "float32", dtype)
            exact = np.array_equal(out.view(np.uint8), want.view(np.uint8))
            ref64 = binary_cross_entropy_grad_golden(data["x"], data["y"], data["grad_output"],
                                                     data["weight"], reduction, "float64")
            ulps = int(ulp_distance(out, ref64).max())
            nbytes = sum(a.nbytes for a in data.values()) + out.nbytes
            failed += not exact
            print(f"{dtype:<9} {reduction:<9} {'yes' if exact else 'NO':<9} {ulps:>15d} "
                  f"{first * 1e3:>9.1f}ms {steady * 1e3:>7.2f}ms {nbytes / steady / 1e9:>7.1f}")
    print("all results match the golden bit for bit" if not failed else f"{failed} case(s) differ")
    return 1 if failed else 0
