"""``bce-grad demo``: the first thing to run: compile, run and check every dtype and reduction."""
from __future__ import annotations

import argparse
import math
import statistics
import time
from typing import TYPE_CHECKING

from bce_grad.host_backend.errors import OpError
from bce_grad.tools.commands.common import REDUCTIONS, add_soc_option, numpy_dtype, resolve_soc

if TYPE_CHECKING:
    import numpy as np

SHAPE = (512, 4096)
#: Calls after the first; the table shows their median.
STEADY_CALLS = 5
#: Bytes the demo holds per element of x at its peak: four float32 inputs and the output,
#: plus the float64 golden's temporaries (measured peak about 60; rounded up).
BYTES_PER_ELEMENT = 80


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
    parser.add_argument("--shape", type=shape_arg, default=SHAPE,
                        help=f"x's shape, comma-separated sizes >= 0; 0 makes an empty x, '' a "
                             f"0-d x (default: {','.join(map(str, SHAPE))})")
    parser.set_defaults(func=run)


def shape_arg(text: str) -> tuple[int, ...]:
    """argparse type of ``--shape``: comma-separated sizes, each an integer >= 0."""
    parts = [part.strip() for part in text.strip().strip("()[]").split(",") if part.strip()]
    try:
        shape = tuple(int(part) for part in parts)
    except ValueError:
        shape = None
    if shape is None or any(d < 0 for d in shape) or len(shape) > 8:
        raise argparse.ArgumentTypeError(f"the parameter[--shape] should be at most 8 "
                                         f"comma-separated sizes >= 0, but actually is [{text}]")
    return shape


def available_memory() -> int | None:
    """Bytes of memory available to new allocations (``MemAvailable``), or None if unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def check_fits_in_memory(shape: tuple[int, ...]) -> None:
    """Refuse a shape whose inputs, output and golden would not fit in available memory."""
    needed = math.prod(shape) * BYTES_PER_ELEMENT
    available = available_memory()
    if available is not None and needed > available:
        raise OpError("E80002", f"the parameter[--shape] {list(shape)} needs about "
                      f"{needed / 2**30:.1f} GiB for its inputs, output and golden, but only "
                      f"{available / 2**30:.1f} GiB of memory are available", param_name="--shape")


def _inputs(shape: tuple[int, ...], dtype: str, rng: np.random.Generator) -> dict[str, np.ndarray]:
    np_dtype = numpy_dtype(dtype)
    return {
        "x": rng.uniform(0.01, 0.99, shape).astype(np_dtype),
        "y": rng.uniform(0.0, 1.0, shape).astype(np_dtype),
        "grad_output": rng.uniform(0.5, 1.5, shape).astype(np_dtype),
        "weight": rng.uniform(0.0, 2.0, shape[-1:]).astype(np_dtype),
    }


def run(args: argparse.Namespace) -> int:
    """Print one row per (dtype, reduction): exactness, error, first-call time (compile + run),
    steady time (median of the next calls, kernel cached) and GB/s from the steady time."""
    import numpy as np

    from bce_grad.api import binary_cross_entropy_backward
    from bce_grad.golden import binary_cross_entropy_grad_golden, ulp_distance
    from bce_grad.host_backend.soc_table import soc_info
    from bce_grad.tools.deploy.op_info import soc_dir_for_short_soc, supported_dtypes

    shape = tuple(args.shape)
    check_fits_in_memory(shape)
    soc = resolve_soc(args.soc)
    info = soc_info(soc)
    dtypes = supported_dtypes(soc_dir_for_short_soc(info.short_soc_version), "x")
    print(f"BinaryCrossEntropyGrad on the host backend: SoC {info.soc_version} "
          f"({info.short_soc_version}), x shape {list(shape)}, weight shape {list(shape[-1:])}")
    print(f"{'dtype':<9} {'reduction':<9} {'bit-exact':<9} {'max ulp vs f64':>15} "
          f"{'first call':>11} {'steady':>9} {'GB/s':>7}")
    rng = np.random.default_rng(2026)
    failed = 0
    for dtype in dtypes:
        data = _inputs(shape, dtype, rng)
        for reduction in REDUCTIONS:
            start = time.perf_counter()
            out = binary_cross_entropy_backward(data["grad_output"], data["x"], data["y"],
                                                data["weight"], reduction, soc=soc)
            first = time.perf_counter() - start
            times = []
            for _ in range(STEADY_CALLS):
                start = time.perf_counter()
                binary_cross_entropy_backward(data["grad_output"], data["x"], data["y"],
                                              data["weight"], reduction, soc=soc)
                times.append(time.perf_counter() - start)
            steady = statistics.median(times)
            want = binary_cross_entropy_grad_golden(x=data["x"], y=data["y"], grad_output=data["grad_output"],
                                                    weight=data["weight"], reduction=reduction, compute_dtype="float32", out_dtype=dtype)
            exact = np.array_equal(out.view(np.uint8), want.view(np.uint8))
            ref64 = binary_cross_entropy_grad_golden(x=data["x"], y=data["y"], grad_output=data["grad_output"],
                                                     weight=data["weight"], reduction=reduction, compute_dtype="float64")
            ulps = int(ulp_distance(out, ref64).max()) if out.size else 0
            nbytes = sum(a.nbytes for a in data.values()) + out.nbytes
            failed += not exact
            print(f"{dtype:<9} {reduction:<9} {'yes' if exact else 'NO':<9} {ulps:>15d} "
                  f"{first * 1e3:>9.1f}ms {steady * 1e3:>7.2f}ms "
                  f"{nbytes / steady / 1e9 if steady > 0 else 0.0:>7.1f}")
    print("all results match the golden bit for bit" if not failed else f"{failed} case(s) differ")
    return 1 if failed else 0
