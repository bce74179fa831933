"""Shape classification for dynamic compute: ``classify`` and broadcast patterns.

A *pattern* is the canonical form of a set of broadcasting shapes. Ranks are
aligned, axes where every input is 1 are dropped, and adjacent axes where the
same inputs are 1 are merged. Two calls with the same pattern share one kernel
with dynamic dims. The same function canonicalises compile-time descriptions
(dims may be -1) and launch-time numpy shapes, so both sides agree.
"""
from __future__ import annotations

from enum import Enum
from typing import Sequence

from bce_grad.host_backend.errors import OpError

UNKNOWN_DIM = -1
UNKNOWN_RANK = -2


class OpPatternMode(str, Enum):
    """The classify modes the host backend implements."""

    ELEWISE = "elewise"
    ELEWISE_WITH_BROADCAST = "broadcast"


def _merge_dim(a: int, b: int) -> int:
    return UNKNOWN_DIM if UNKNOWN_DIM in (a, b) else a * b


def canonical_pattern(shapes: Sequence[Sequence[int]]) -> list[tuple[int, ...]]:
    """Canonicalise broadcasting shapes into one pattern.

    Parameters
    ----------
    shapes : sequence of sequence of int
        One shape per input; dims are sizes, or -1 for unknown (never 1).

    Returns
    -------
    list of tuple of int
        One canonical shape per input, all of one rank (at least 1). A dim is 1
        where that input broadcasts along the axis, otherwise the merged size.

    Examples
    --------
    >>> canonical_pattern([(4, 5, 6), (1, 5, 6)])
    [(4, 30), (1, 30)]
    >>> canonical_pattern([(2, 3), (3,), ()])
    [(2, 3), (1, 3), (1, 1)]
    """
    rank = max((len(s) for s in shapes), default=0)
    aligned = [(1,) * (rank - len(s)) + tuple(int(d) for d in s) for s in shapes]
    columns = [tuple(s[a] for s in aligned) for a in range(rank)]
    kept = [col for col in columns if any(d != 1 for d in col)]
    merged: list[list[int]] = []
    for col in kept:
        mask = tuple(d == 1 for d in col)
        if merged and tuple(d == 1 for d in merged[-1]) == mask:
            merged[-1] = [1 if m else _merge_dim(p, d) for m, p, d in zip(mask, merged[-1], col)]
        else:
            merged.append(list(col))
    if not merged:
        merged = [[1] * len(shapes)]
    return [tuple(col[i] for col in merged) for i in range(len(shapes))]


def _keeps_axes() -> bool:
    """Whether this context compiles generic strided kernels (``build.strided_inputs``)."""
    from bce_grad.host_backend.build import strided_inputs_enabled

    return strided_inputs_enabled()


def _is_unknown_rank(shape: Sequence[int]) -> bool:
    return list(shape) == [UNKNOWN_RANK]


def classify(ins: Sequence[dict], mode: str | OpPatternMode,
             extra_params: dict | None = None) -> list[list[dict]]:
    """Classify input descriptions into the cases to compile, as ``tbe.dsl.classify``.

    Parameters
    ----------
    ins : sequence of dict
        Input descriptions with ``shape`` (dims may be -1; ``[-2]`` is unknown rank)
        and optional ``range``.
    mode : OpPatternMode or str
        ``ELEWISE`` or ``ELEWISE_WITH_BROADCAST``.
    extra_params : dict, optional
        Accepted for CANN compatibility.

    Returns
    -------
    list of list of dict
        Cases; each holds one description per input with canonical ``shape``
        and ``range``. Unknown rank yields the fully elementwise case; other
        broadcast patterns are compiled when first launched.
    """
    mode = OpPatternMode(mode)
    shapes = [list(desc.get("shape", ())) for desc in ins]
    if any(_is_unknown_rank(s) for s in shapes):
        pattern = [(UNKNOWN_DIM,)] * len(shapes)
    else:
        for desc, shape in zip(ins, shapes):
            if any(d < UNKNOWN_DIM for d in shape):
                raise OpError("E80000", f"classify: the shape {shape} of input "
                              f"[{desc.get('param_name', '')}] has an invalid dim",
                              param_name="shape")
        pattern = canonical_pattern(shapes)
        if _keeps_axes():  # a generic strided kernel: one axis per axis of the descriptions
            rank = max((len(s) for s in shapes), default=0)
            pattern = [(1,) * (rank - len(s)) + tuple(s) for s in shapes] if rank else pattern
        if mode is OpPatternMode.ELEWISE and any(p != pattern[0] for p in pattern):
            raise OpError("E80017", f"classify: ELEWISE inputs should have one shape, but got "
                          f"{shapes}", param_name="shape")
    case = []
    for desc, shape in zip(ins, pattern):
        new = dict(desc)
        new["shape"] = list(shape)
        new["range"] = [(1, None) if d == UNKNOWN_DIM else (d, d) for d in shape]
        case.append(new)
    return [case]
