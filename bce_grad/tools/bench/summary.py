"""``bce-grad bench --summary FILE``: the README's compact table from a ``--json`` file.

One line per (shapes, dtype, threads): for each timed row (``host_kernel``, ``host_api_out``,
``host_api``, ``torch``, ``numpy``) the range of its ratio to the roofline over weight and
reduction, and the roofline's own GB/s range. Nothing is measured here.
"""
from __future__ import annotations

from typing import Iterable

from bce_grad.tools.bench.records import IMPLS, shape_text

#: Columns after the roofline, in the README's order.
COLUMNS = tuple(impl for impl in IMPLS if impl != "roofline")


def _span(values: list[float], percent: bool) -> str:
    if not values:
        return "–"
    lo, hi = min(values), max(values)
    text = (lambda v: f"{v:.0%}") if percent else (lambda v: f"{v:.1f}")
    return text(lo) if text(lo) == text(hi) else f"{text(lo)}–{text(hi)}"


def summary_lines(records: Iterable[dict]) -> list[str]:
    """Markdown table lines summarising ``records`` (as ``bench --json`` writes them)."""
    groups: dict[tuple, list[dict]] = {}
    for rec in records:
        key = (shape_text(rec), rec["dtype"], rec["threads"])
        groups.setdefault(key, []).append(rec)
    lines = ["| x shape (other inputs) | dtype | threads | roofline GB/s | "
             + " | ".join(COLUMNS) + " |",
             "|---|---|---|---|" + "---|" * len(COLUMNS)]
    for (shape, dtype, threads), recs in groups.items():
        roof = [r["gbps"] for r in recs if r["impl"] == "roofline"]
        cells = [_span([r["ratio_to_roofline"] for r in recs
                        if r["impl"] == impl and r["ratio_to_roofline"] is not None], True)
                 for impl in COLUMNS]
        lines.append(f"| {shape} | {dtype} | {threads} | {_span(roof, False)} | "
                     + " | ".join(cells) + " |")
    return lines
