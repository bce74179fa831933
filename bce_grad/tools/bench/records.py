"""Timing, records and the printed table of ``bce-grad bench``.

A record is one measured row, a dict with these keys (the JSON that ``--json`` writes):

==================  ======================================================================
impl                ``roofline``, ``host_kernel``, ``host_api``, ``host_api_out``, ``torch``,
                    ``numpy``
dtype               ``float32``, ``float16`` or ``bfloat16`` (every input and the output)
shape               x's shape (list of int)
shapes              each input's own shape: ``{"x": [...], "y": [...], "grad_output": [...],
                    "weight": [...]}`` (weight only when present)
reduction           ``none`` or ``mean``; ``-`` for ``roofline`` (it has no reduction)
weight              whether the weight input is present (bool)
threads             threads of the call: TVM_NUM_THREADS, OMP_NUM_THREADS, torch's
                    ``set_num_threads``; numpy's ufuncs use 1
repeats             timed samples
median_ms           median time of one call, ms
spread              ``[p25_ms, p75_ms]``: the interquartile range of one call, ms
bytes               bytes the op must move: each input once at its own size + the output once
gbps                ``bytes / median``, in 1e9 bytes per second
ratio_to_roofline   paired rows (``host_*``, ``torch``): the median over samples of
                    roofline time / this row's time, each sample of the row timed right
                    after one of the roofline on the same arrays, so that a machine that
                    slows down or speeds up between rows moves both; other rows: ``gbps`` /
                    ``gbps`` of the roofline row of the same dtype, shapes, weight and
                    threads (1.0 for the roofline itself); None when that row is missing
pair_ratios         paired rows only: each sample's roofline time / this row's time
roofline_ms         paired rows only: median time of the roofline samples paired with it
==================  ======================================================================
"""
from __future__ import annotations

import os
import statistics
import time
from pathlib import Path
from typing import Callable, Iterable

IMPLS = ("roofline", "host_kernel", "host_api", "host_api_out", "torch", "numpy")
#: Shortest sample: calls are batched until one sample lasts this long (tiny inputs).
MIN_SAMPLE_S = 0.002
#: Least warm-up time before the timed samples.
WARMUP_S = 0.05


def _warm(call: Callable[[], object]) -> int:
    """Untimed warm-up calls (at least 3, and at least :data:`WARMUP_S`, at most 100: a fresh
    thread team's first calls are far slower than its later ones); returns the batch size
    that makes one sample last :data:`MIN_SAMPLE_S`."""
    warm, fastest, began = 0, float("inf"), time.perf_counter()
    while warm < 3 or (time.perf_counter() - began < WARMUP_S and warm < 100):
        start = time.perf_counter()
        call()
        fastest = min(fastest, time.perf_counter() - start)
        warm += 1
    return max(1, int(MIN_SAMPLE_S / max(fastest, 1e-7)))


def _sample(call: Callable[[], object], batch: int) -> float:
    """Seconds per call over one batch."""
    start = time.perf_counter()
    for _ in range(batch):
        call()
    return (time.perf_counter() - start) / batch


def _quartiles(times: list[float]) -> tuple[float, float, float]:
    """(median, p25, p75) in ms."""
    q1, median, q3 = statistics.quantiles(times, n=4, method="inclusive")
    return median * 1e3, q1 * 1e3, q3 * 1e3


def measure(call: Callable[[], object], repeats: int) -> tuple[float, float, float]:
    """Median, 25th and 75th percentile of one call's time, in ms, over ``repeats`` samples.

    Warm-up calls come first (:func:`_warm`); calls shorter than :data:`MIN_SAMPLE_S` are
    timed in batches and divided.
    """
    batch = _warm(call)
    return _quartiles([_sample(call, batch) for _ in range(max(repeats, 2))])


def measure_paired(call: Callable[[], object], reference: Callable[[], object],
                   repeats: int) -> tuple[tuple[float, float, float], list[float], float]:
    """:func:`measure` for ``call``, each sample taken right after one of ``reference``.

    Returns
    -------
    tuple
        ``call``'s (median, p25, p75) in ms; per sample, reference time / call time; and the
        reference samples' median in ms.
    """
    batches = _warm(call), _warm(reference)
    times, ratios, reference_times = [], [], []
    for _ in range(max(repeats, 2)):
        before = _sample(reference, batches[1])
        took = _sample(call, batches[0])
        times.append(took)
        reference_times.append(before)
        ratios.append(before / took)
    return _quartiles(times), ratios, statistics.median(reference_times) * 1e3


def make_record(impl: str, case: dict, reduction: str, threads: int, repeats: int,
                timing: tuple[float, float, float], nbytes: int) -> dict:
    """One row; ``case`` holds ``dtype``, ``shapes`` and ``weight``."""
    median, q1, q3 = timing
    return {"impl": impl, "dtype": case["dtype"], "shape": list(case["shapes"]["x"]),
            "shapes": {k: list(v) for k, v in case["shapes"].items()},
            "reduction": reduction, "weight": bool(case["weight"]), "threads": int(threads),
            "repeats": int(repeats), "median_ms": round(median, 5),
            "spread": [round(q1, 5), round(q3, 5)], "bytes": int(nbytes),
            "gbps": round(nbytes / (median / 1e3) / 1e9, 3), "ratio_to_roofline": None}


def _group(rec: dict) -> tuple:
    return (rec["dtype"], repr(sorted(rec["shapes"].items())), rec["weight"], rec["threads"])


def attach_ratios(records: list[dict]) -> list[dict]:
    """Fill ``ratio_to_roofline``: the median of a paired row's ``pair_ratios``, else from the
    roofline row of the same dtype, shapes, weight and threads."""
    roofs = {_group(r): r["gbps"] for r in records if r["impl"] == "roofline"}
    for rec in records:
        if rec.get("pair_ratios"):  # measured against the roofline sample by sample
            rec["ratio_to_roofline"] = round(statistics.median(rec["pair_ratios"]), 6)
            continue
        roof = roofs.get(_group(rec))
        rec["ratio_to_roofline"] = round(rec["gbps"] / roof, 6) if roof else None
    return records


def _l3_bytes() -> int | None:
    for index in sorted(Path("/sys/devices/system/cpu/cpu0/cache").glob("index*")):
        try:
            if (index / "level").read_text().strip() == "3":
                text = (index / "size").read_text().strip().upper()
                scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1:], 1)
                return int(text.rstrip("KMG")) * scale
        except (OSError, ValueError):
            continue
    return None


def machine() -> dict:
    """The machine the figures belong to: CPU model, LLVM CPU name, cores, L3, load."""
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        from bce_grad.host_backend.targets import host_cpu

        llvm_cpu = host_cpu()
    except Exception as err:  # noqa: BLE001 - a table header must not stop the run
        llvm_cpu = f"unknown ({err})"
    return {"cpu_model": model, "llvm_cpu": llvm_cpu, "cores": os.cpu_count(),
            "usable_cores": len(os.sched_getaffinity(0)), "l3_bytes": _l3_bytes(),
            "loadavg": [round(v, 2) for v in os.getloadavg()]}


def shape_text(rec: dict) -> str:
    """x's shape as "4096x4096", followed by the inputs whose shape differs: "(g4096x1)"."""
    shapes = rec["shapes"]
    x = "x".join(map(str, shapes["x"]))
    others = [f"{k[0]}{'x'.join(map(str, v))}" for k, v in shapes.items()
              if k != "x" and v != shapes["x"]]
    return x + (" (" + ",".join(others) + ")" if others else "")


def print_table(records: Iterable[dict], info: dict, reference: str, file=None) -> None:
    """Print the machine, the reference and one line per record."""
    l3 = info.get("l3_bytes")
    print(f"machine: {info['cpu_model']} (LLVM cpu {info['llvm_cpu']}), {info['usable_cores']} "
          f"usable of {info['cores']} cores, L3 {l3 // (1 << 20) if l3 else '?'} MiB, "
          f"load average {info['loadavg']} at start", file=file)
    print(f"reference: {reference}", file=file)
    print(f"{'impl':<12} {'dtype':<8} {'shape':<26} {'weight':<6} {'red.':<4} {'thr':>3} "
          f"{'median ms':>10} {'IQR ms':>17} {'GB/s':>7} {'vs roof':>7}", file=file)
    for rec in records:
        ratio = rec["ratio_to_roofline"]
        iqr = f"{rec['spread'][0]:.3f}-{rec['spread'][1]:.3f}"
        print(f"{rec['impl']:<12} {rec['dtype']:<8} {shape_text(rec):<26} "
              f"{str(rec['weight']):<6} {rec['reduction']:<4} {rec['threads']:>3} "
              f"{rec['median_ms']:>10.3f} {iqr:>17} {rec['gbps']:>7.2f} "
              f"{'' if ratio is None else f'{ratio:.0%}':>7}", file=file)
