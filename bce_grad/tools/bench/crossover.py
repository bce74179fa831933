"""``bce-grad bench --crossover``: where a second thread starts to pay, for small inputs.

Each size is a float32 vector (x, y, grad_output of n elements, reduction mean), timed
per call (batched below 2 ms) as ``host_kernel`` and ``roofline`` in one process per
thread count. The crossover is the smallest size from which every larger size runs
faster with the most threads than with the fewest; on a shared machine the curve moves
with the load, so the load average at start and end is printed beside it.
"""
from __future__ import annotations


def crossover(records: list[dict], impl: str, few: int, many: int) -> int | None:
    """Smallest size from which ``many`` threads beat ``few`` at every larger size (None: never)."""
    times = {(r["threads"], r["elements"]): r["median_ms"] for r in records if r["impl"] == impl}
    sizes = sorted({size for _, size in times})
    found = None
    for size in reversed(sizes):
        if times.get((many, size), float("inf")) < times.get((few, size), 0.0):
            found = size
        else:
            break
    return found


def print_crossover(records: list[dict], info: dict, threads: list[int], file=None) -> None:
    """Print the curve (µs per call per thread count) and the crossover of each impl."""
    l3 = info.get("l3_bytes")
    print(f"machine: {info['cpu_model']} (LLVM cpu {info['llvm_cpu']}), {info['usable_cores']} "
          f"usable of {info['cores']} cores, L3 {l3 // (1 << 20) if l3 else '?'} MiB; load "
          f"average {info['loadavg']} at start, {info.get('loadavg_end')} at the end", file=file)
    impls = ("host_kernel", "roofline")
    head = " ".join(f"{f'{impl} {t}t us':>17}" for impl in impls for t in threads)
    print(f"{'elements':>9} {head}", file=file)
    table = {(r["impl"], r["threads"], r["elements"]): r["median_ms"] * 1e3 for r in records}
    for size in sorted({r["elements"] for r in records}):
        cells = " ".join(f"{table.get((impl, t, size), float('nan')):>17.2f}"
                         for impl in impls for t in threads)
        print(f"{size:>9} {cells}", file=file)
    if len(threads) > 1:
        few, many = threads[0], threads[-1]
        for impl in impls:
            at = crossover(records, impl, few, many)
            print(f"{impl}: {many} threads beat {few} from "
                  f"{'no size measured' if at is None else f'{at} elements'} upward", file=file)
