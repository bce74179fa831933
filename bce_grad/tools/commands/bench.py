"""``bce-grad bench``: the host kernel against a roofline of the same bytes, torch and numpy.

Every row is timed in one run on the same arrays: ``roofline`` (a C/OpenMP kernel that
reads each input once at its own size, with the op's broadcast, and writes x's output
once: the fastest the memory lets the op's bytes move), ``host_kernel`` (the compiled
kernel alone on a preallocated output), ``host_api`` (the numpy API, allocating),
``host_api_out`` (the API with ``out=``), ``torch`` (aten's CPU backward) and ``numpy``
(the golden). GB/s counts each input read once at its own size plus the output written
once; each row shows its median, interquartile range and ratio to the roofline of the
same dtype, shapes, weight and thread count. Rows other than ``numpy`` are paired with the
roofline: each of their samples is timed right after a roofline sample, and the ratio is
the median of the per-pair ratios, so a machine whose speed drifts between rows (a shared
VM) moves both sides of each ratio alike.

Each thread count runs in its own process (TVM reads TVM_NUM_THREADS once per process),
with TVM_NUM_THREADS, OMP_NUM_THREADS and torch.set_num_threads all set to it, and (table
runs) OMP_WAIT_POLICY=PASSIVE and TVM_THREAD_POOL_SPIN_COUNT=0, so the thread pools of
paired rows do not spin while the other runs.
Default shapes: one out of cache (at least 4x the L3; (4096, 4096) on a 32 MiB L3) and
the README's (1024, 4096), for float32, float16 and bfloat16, with and without weight,
reductions none and mean; plus the issue's broadcast shapes x (1398101, 3) with
grad_output (1398101, 1), and x (2, 2097152) with grad_output (2, 1).

``--frameworks`` instead times this op inside PyTorch, TensorFlow and MindSpore against each
framework's own BCE backward, in the same process (one process per framework), at (4, 4) and
(4096, 4096) in float32, float16 and bfloat16 (``--shape``/``--dtype`` narrow it); a framework
that is not installed is listed as skipped.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from bce_grad.tools.commands.common import add_soc_option, resolve_soc

DTYPES = ("float32", "float16", "bfloat16")
REDUCTIONS = ("none", "mean")
README_SHAPE = (1024, 4096)
OUT_OF_CACHE_SHAPE = (4096, 4096)
QUICK_SHAPE = (64, 1024)
#: The issue's broadcast patterns: (x's shape, grad_output's shape); y takes x's shape.
EXTRA_PATTERNS = (((1398101, 3), (1398101, 1)), ((2, 2097152), (2, 1)))
CROSSOVER_SIZES = tuple(2 ** k for k in range(4, 21))
QUICK_CROSSOVER_SIZES = tuple(2 ** k for k in range(4, 11, 2))
REFERENCE = ("roofline = bce_grad/tools/bench/roofline.c, out = x + y + grad_output [+ weight] with the "
             "op's broadcast and bytes (float32 adds; float16/bfloat16 as uint16 adds), "
             "gcc -O3 -march=native -fopenmp, timed in the same run with the same threads")


def _threads(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        values = []
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"threads should be positive integers separated by "
                                         f"commas, such as 1,2, got {text!r}")
    return sorted(set(values))


def _shape(text: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(part) for part in text.strip("()[]").split(",") if part.strip())
    except ValueError:
        shape = ()
    if not shape or min(shape) < 1:
        raise argparse.ArgumentTypeError(f"shape should be positive integers separated by commas, "
                                         f"such as 1024,4096, got {text!r}")
    return shape


def _frameworks(text: str) -> list[str]:
    """argparse type of ``--frameworks``: a comma-separated subset of the three frameworks."""
    from bce_grad.tools.bench.frameworks import FRAMEWORKS

    names = [name.strip() for name in text.split(",") if name.strip()]
    bad = [name for name in names if name not in FRAMEWORKS]
    if not names or bad:
        raise argparse.ArgumentTypeError(f"frameworks should be among {', '.join(FRAMEWORKS)}, "
                                         f"separated by commas, got {text!r}")
    return names


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``bench`` subcommand."""
    parser = subparsers.add_parser(
        "bench", help="benchmark the host kernel against a roofline of its bytes, torch and numpy",
        description=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    add_soc_option(parser)
    parser.add_argument("--repeats", type=int, default=15, help="timed samples per row (default 15)")
    parser.add_argument("--json", metavar="FILE", help="also write the records as JSON")
    parser.add_argument("--threads", type=_threads, default=[1, 2], metavar="N[,N...]",
                        help="thread counts, one process each (default: 1,2)")
    parser.add_argument("--dtype", choices=DTYPES, action="append",
                        help="only this dtype (repeatable; default: all three)")
    parser.add_argument("--shape", type=_shape, action="append", metavar="D0,D1,...",
                        help="only this x shape, all inputs the same (repeatable; default: the "
                             "out-of-cache shape, the README's, and the broadcast patterns)")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: float32, shape 64x1024, no weight, mean, 3 repeats, "
                             "every row")
    parser.add_argument("--crossover", action="store_true",
                        help="instead: host kernel and roofline time per call for float32 "
                             "vectors of 2^4..2^20 elements at each thread count")
    parser.add_argument("--startup", action="store_true",
                        help="instead: time whole bce-grad commands in fresh processes (--help, "
                             "opinfo, a warm 'run' on (8,16)) against 'python -c pass'")
    parser.add_argument("--frameworks", nargs="?", const="torch,tensorflow,mindspore",
                        type=_frameworks, metavar="NAME[,NAME...]",
                        help="instead: this op in each framework (default: torch,tensorflow,"
                             "mindspore) against the framework's own BCE backward")
    parser.add_argument("--summary", metavar="FILE",
                        help="instead: print the README's compact table (each row's range of "
                             "ratios to the roofline over weight and reduction) from a --json "
                             "file; measures nothing")
    parser.add_argument("--_child", metavar="PLAN", help=argparse.SUPPRESS)
    parser.set_defaults(func=run)


def out_of_cache_shape(l3_bytes: int | None) -> tuple[int, int]:
    """(4096, 4096), with rows doubled until 4 two-byte tensors are at least 4x the L3."""
    rows, cols = OUT_OF_CACHE_SHAPE
    while l3_bytes and 4 * 2 * rows * cols < 4 * l3_bytes:
        rows *= 2
    return rows, cols


def _case(dtype: str, shape_x, shape_g, weight: bool, reductions) -> dict:
    shapes = {"x": list(shape_x), "y": list(shape_x), "grad_output": list(shape_g)}
    if weight:
        shapes["weight"] = list(shape_x)
    return {"dtype": dtype, "shapes": shapes, "weight": weight, "reductions": list(reductions)}


def plan_cases(args: argparse.Namespace, l3_bytes: int | None) -> list[dict]:
    """The cases of a table run, from the options."""
    if args.quick:
        return [_case("float32", QUICK_SHAPE, QUICK_SHAPE, False, ("mean",))]
    dtypes = args.dtype or DTYPES
    shapes = args.shape or [out_of_cache_shape(l3_bytes), README_SHAPE]
    cases = [_case(d, s, s, w, REDUCTIONS) for d in dtypes for s in shapes for w in (False, True)]
    if not args.shape:
        cases += [_case(d, x, g, False, REDUCTIONS) for d in dtypes for x, g in EXTRA_PATTERNS]
    return cases


#: A table run pairs each row's samples with the roofline's, so the two thread pools
#: alternate. Spinning workers of one (OpenMP's, TVM's) would hold the cores while the other
#: runs (measured on 2 threads, (4096, 4096) float32: the kernel 9.1 -> 14.5 ms right after
#: the roofline); here they sleep as soon as a call ends. The samples last milliseconds, so a
#: worker's wake-up (microseconds) does not show. The crossover keeps the defaults: it times
#: small calls, where spinning is what users get.
PAIRED_ENV = {"OMP_WAIT_POLICY": "PASSIVE", "TVM_THREAD_POOL_SPIN_COUNT": "0"}


def _run_child(plan: dict, workdir: Path) -> list[dict]:
    threads = plan["threads"]
    plan = dict(plan, out=str(workdir / f"records_{threads}.json"))
    plan_path = workdir / f"plan_{threads}.json"
    plan_path.write_text(json.dumps(plan), encoding="utf-8")
    env = dict(os.environ, TVM_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads))
    if plan.get("mode") == "table":
        env.update(PAIRED_ENV)
    print(f"running {threads} thread(s) in a child process ...", file=sys.stderr, flush=True)
    done = subprocess.run([sys.executable, "-m", "bce_grad", "bench", "--_child", str(plan_path)],
                          env=env, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"bce-grad bench: the {threads}-thread run exited {done.returncode}")
    return json.loads(Path(plan["out"]).read_text(encoding="utf-8"))


def run(args: argparse.Namespace) -> int:
    """Plan, run one child per thread count, merge, print, and optionally write JSON."""
    if args._child:
        from bce_grad.tools.bench.child import main as child_main

        return child_main(args._child)
    if args.summary:
        return _print_summary(args.summary)
    if args.startup:
        from bce_grad.tools.commands.startup import run_startup

        return run_startup(args)
    if args.frameworks:
        return _run_frameworks(args)
    from bce_grad.tools.bench import records as rec
    from bce_grad.tools.bench.roofline import build

    build()  # once, before the children: a missing compiler fails here, with its reason
    info = rec.machine()
    repeats = 3 if args.quick else args.repeats
    base = {"soc": resolve_soc(args.soc), "repeats": repeats}
    if args.crossover:
        base.update(mode="crossover", reduction="mean",
                    sizes=list(QUICK_CROSSOVER_SIZES if args.quick else CROSSOVER_SIZES))
    else:
        base.update(mode="table", cases=plan_cases(args, info["l3_bytes"]))
    records: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="bce_grad_bench_") as tmp:
        for threads in args.threads:  # numpy's ufuncs use one thread: its rows come from the 1-thread run
            records += _run_child(dict(base, threads=threads, numpy=threads == 1), Path(tmp))
    rec.attach_ratios(records)
    info["loadavg_end"] = [round(v, 2) for v in os.getloadavg()]
    if args.crossover:
        from bce_grad.tools.bench.crossover import print_crossover

        print_crossover(records, info, args.threads)
    else:
        records.sort(key=lambda r: (r["dtype"], r["shapes"]["x"], r["shapes"]["grad_output"],
                                    r["weight"], r["threads"], r["reduction"] != "-",
                                    r["reduction"], rec.IMPLS.index(r["impl"])))
        rec.print_table(records, info, REFERENCE)
        print(f"load average at the end: {info['loadavg_end']}")
    if args.json:
        Path(args.json).write_text(json.dumps(records, indent=2) + "\n", encoding="utf-8")
    return 0


def _print_summary(path: str) -> int:
    """Print :func:`~bce_grad.tools.bench.summary.summary_lines` of a ``--json`` file.

    Raises
    ------
    OpError
        E80000 naming ``--summary`` when the file cannot be read or holds no bench records.
    """
    from bce_grad.host_backend.errors import OpError
    from bce_grad.tools.bench.summary import summary_lines

    try:
        records = json.loads(Path(path).read_text(encoding="utf-8"))
        lines = summary_lines(records)
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as err:
        raise OpError("E80000", f"the parameter[--summary] should name a file that `bce-grad "
                      f"bench --json` wrote, but [{path}] cannot be read as one: "
                      f"{type(err).__name__}: {err}", param_name="--summary") from None
    print("\n".join(lines))
    return 0


def _run_frameworks(args: argparse.Namespace) -> int:
    """``--frameworks``: one child per framework; print the table, optionally write JSON."""
    from bce_grad.tools.bench import frameworks as fw
    from bce_grad.tools.bench import records as rec

    shapes = args.shape or list(fw.SHAPES)
    dtypes = args.dtype or list(fw.DTYPES)
    records = fw.run_all(args.frameworks, shapes, dtypes, 3 if args.quick else args.repeats,
                         log=lambda line: print(line, file=sys.stderr, flush=True))
    info = rec.machine()
    print(f"machine: {info}")
    print(fw.table(records))
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": info, "records": records}, indent=2)
                                   + "\n", encoding="utf-8")
    failed = [r for r in records if "failed" in r]
    return 1 if failed else 0
