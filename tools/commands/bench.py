"""``bce-grad bench``: the host kernel against a copy roofline, numpy and PyTorch, in one run.

Every figure is a median over repeats, with GB/s from the bytes the call must touch
at least: each input read once at its own (pre-broadcast) size plus the output
written once. ``copy`` is ``numpy.copyto`` of a 64 MiB float32 buffer (read + write),
larger than the 32 MB L3 of these machines, so it measures memory, not cache.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from typing import TYPE_CHECKING, Callable

from bce_grad.tools.commands.common import add_soc_option, numpy_dtype, resolve_soc

if TYPE_CHECKING:
    import numpy as np

SHAPE = (1024, 4096)
COPY_ELEMENTS = 16 * 1024 * 1024
DTYPES = ("float32", "float16", "bfloat16")
REDUCTIONS = ("none", "mean")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``bench`` subcommand."""
    parser = subparsers.add_parser(
        "bench", help="benchmark the host kernel against copy, numpy and torch",
        description=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    add_soc_option(parser)
    parser.add_argument("--repeats", type=int, default=15, help="timed calls per record (default 15)")
    parser.add_argument("--json", metavar="FILE", help="also write the records as JSON")
    parser.add_argument("--quick", action="store_true",
                        help="one dtype, no weight, fewer repeats: a smoke run")
    parser.add_argument("--startup", action="store_true",
                        help="instead: time whole bce-grad commands in fresh processes (--help, "
                             "opinfo, a warm 'run' on (8,16)) against 'python -c pass'")
    parser.set_defaults(func=run)


def _median_ms(call: Callable[[], object], repeats: int) -> float:
    call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def _torch_call(data: dict, reduction: str) -> Callable[[], object] | None:
    try:
        import torch
    except ImportError:
        return None

    import numpy as np

    def to_torch(array: np.ndarray):
        if str(array.dtype) == "bfloat16":
            return torch.from_numpy(array.view(np.int16)).view(torch.bfloat16)
        return torch.from_numpy(array)

    tensors = {name: to_torch(a) for name, a in data.items()}
    enum = {"none": 0, "mean": 1, "sum": 2}[reduction]
    return lambda: torch.ops.aten.binary_cross_entropy_backward(
        tensors["grad_output"], tensors["x"], tensors["y"], tensors.get("weight"), enum)


def _record(impl: str, dtype: str, shape, reduction: str, weight: bool, threads: int,
            median_ms: float, nbytes: int) -> dict:
    return {"impl": impl, "dtype": dtype, "shape": list(shape), "reduction": reduction,
            "weight": weight, "threads": threads, "median_ms": round(median_ms, 4),
            "gbps": round(nbytes / (median_ms / 1e3) / 1e9, 2)}


def run(args: argparse.Namespace) -> int:
    """Measure and print every record; optionally write them as JSON."""
    if args.startup:
        from bce_grad.tools.commands.startup import run_startup

        return run_startup(args)
    import numpy as np

    from bce_grad.api import binary_cross_entropy_backward
    from bce_grad.golden import binary_cross_entropy_grad_golden

    soc = resolve_soc(args.soc)
    rng = np.random.default_rng(0)
    repeats = 5 if args.quick else args.repeats
    host_threads = int(os.environ.get("TVM_NUM_THREADS", "1"))
    records = []
    src = np.ones(COPY_ELEMENTS, np.float32)
    dst = np.empty_like(src)
    copy_ms = _median_ms(lambda: np.copyto(dst, src), repeats)
    records.append(_record("copy", "float32", src.shape, "-", False, 1, copy_ms, 2 * src.nbytes))
    print(f"copy roofline: {records[0]['gbps']} GB/s (numpy.copyto, 64 MiB, read + write)",
          file=sys.stderr)
    for dtype in DTYPES[:1] if args.quick else DTYPES:
        np_dtype = numpy_dtype(dtype)
        base = {"x": rng.uniform(0.01, 0.99, SHAPE).astype(np_dtype),
                "y": rng.uniform(0, 1, SHAPE).astype(np_dtype),
                "grad_output": rng.uniform(0.5, 1.5, SHAPE).astype(np_dtype)}
        for weight in (False,) if args.quick else (False, True):
            data = dict(base, weight=rng.uniform(0, 2, SHAPE).astype(np_dtype)) if weight else base
            in_bytes = sum(a.nbytes for a in data.values())
            out_bytes = data["x"].nbytes
            for reduction in REDUCTIONS:
                print(f"measuring {dtype} weight={weight} reduction={reduction} ...", file=sys.stderr)
                calls = {
                    "host": (host_threads, lambda: binary_cross_entropy_backward(
                        data["grad_output"], data["x"], data["y"], data.get("weight"), reduction,
                        soc=soc)),
                    "numpy": (1, lambda: binary_cross_entropy_grad_golden(
                        data["x"], data["y"], data["grad_output"], data.get("weight"), reduction,
                        "float32", dtype)),
                }
                torch_call = _torch_call(data, reduction)
                if torch_call is not None:
                    import torch

                    calls["torch"] = (torch.get_num_threads(), torch_call)
                for impl, (threads, call) in calls.items():
                    ms = _median_ms(call, repeats)
                    records.append(_record(impl, dtype, SHAPE, reduction, weight, threads, ms,
                                           in_bytes + out_bytes))
    _print_table(records)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(records, handle, indent=2)
    return 0


def _print_table(records: list[dict]) -> None:
    copy = records[0]
    print(f"{'impl':<6} {'dtype':<9} {'weight':<6} {'reduction':<9} {'threads':>7} "
          f"{'median ms':>10} {'GB/s':>7} {'vs copy':>8}")
    for rec in records:
        print(f"{rec['impl']:<6} {rec['dtype']:<9} {str(rec['weight']):<6} {rec['reduction']:<9} "
              f"{rec['threads']:>7} {rec['median_ms']:>10.3f} {rec['gbps']:>7.2f} "
              f"{rec['gbps'] / copy['gbps']:>7.0%}")
