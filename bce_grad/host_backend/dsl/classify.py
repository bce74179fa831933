"""Shape classification for dynamic compute: ``classify`` and broadcast patterns.

A *pattern* is the canonical form of a set of broadcasting shapes. Ranks are
aligned, axes where every input is 1 are dropped, and adjacent axes where the
same inputs are 1 are merged. Two calls with the same pattern share one kernel
with dynamic dims. The same function canonicalises compile-time descriptions
(dims may be -1) and launch-time numpy shapes, so both sides agree.

:func:`classify` turns input descriptions into the cases one dynamic kernel
compiles, so that every concrete shape inside the declared ranges has a case.
As CANN's broadcast classifier does, it gives each dim one of three kinds: 1,
*common* (a known size > 1, or -1 whose range starts above 1) and *unknown*
(-1 whose range holds 1). A common dim is never 1 at run time; an unknown one
may be 1, which makes its input broadcast along that axis. Host kernels fix
their broadcast axes at compile time (CANN's kernels resolve them at run time),
so ``classify`` splits every unknown dim into "is 1" and "is not 1", as CANN's
const classifier divides each -1 into 1 and the axis size, and keeps one case
per distinct canonical pattern. When that would be more than
:data:`MAX_CASES` cases (many unknown dims, unknown rank), it compiles the
declared pattern (every unknown dim > 1) and the fully elementwise case instead;
the :class:`~bce_grad.host_backend.launch.Kernel` serves any other shape through
the elementwise case by expanding the broadcast inputs first.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from enum import Enum
from typing import Iterable, Sequence

from bce_grad.host_backend.errors import OpError
from bce_grad.op_support import MAX_RANK  # the rank an unknown-rank input ([-2]) stands for

UNKNOWN_DIM = -1
UNKNOWN_RANK = -2
#: At most this many compact cases per kernel; beyond, the declared and elementwise cases.
MAX_CASES = 8
#: Combinations of per-axis choices examined at most before falling back (bounds the work).
MAX_COMBINATIONS = 4096

Range = tuple[int, "int | None"]


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
    """Whether this context compiles generic strided kernels (``compile_options.strided_inputs``)."""
    from bce_grad.host_backend.compile_options import strided_inputs_enabled

    return strided_inputs_enabled()


def _is_unknown_rank(shape: Sequence[int]) -> bool:
    return list(shape) == [UNKNOWN_RANK]


def _name(desc: dict, index: int) -> str:
    return str(desc.get("param_name") or f"input{index}")


def _dims_and_ranges(desc: dict, index: int) -> tuple[list[int], list[Range]]:
    """The shape of one description and a (low, high) range per dim; high None is unbounded."""
    shape = [int(d) for d in desc.get("shape", ())]
    if _is_unknown_rank(shape):
        return [UNKNOWN_DIM] * MAX_RANK, [(1, None)] * MAX_RANK
    if any(d < UNKNOWN_DIM for d in shape):
        raise OpError("E80000", f"classify: the shape {shape} of input [{_name(desc, index)}] has "
                      f"an invalid dim (dims are sizes >= 0, -1, or the whole shape is [-2])",
                      param_name="shape")
    given = desc.get("range")
    if given is None or UNKNOWN_DIM not in shape:
        given = [None] * len(shape)
    given = list(given)
    if len(given) > len(shape):
        raise OpError("E80000", f"classify: the range of input [{_name(desc, index)}] should hold "
                      f"at most one (low, high) pair per dim of its shape {shape}, but actually "
                      f"is {given}", param_name="range")
    # CANN's cases may give pairs for the leading dims only: a dim past them is unbounded
    given += [None] * (len(shape) - len(given))
    ranges: list[Range] = []
    for dim, pair in zip(shape, given):
        if dim != UNKNOWN_DIM:
            ranges.append((dim, dim))
            continue
        low, high = (1, None) if pair is None else tuple(pair)
        low = 1 if low is None else int(low)
        high = None if high is None or int(high) < 0 else int(high)
        if low < 0 or (high is not None and high < low):
            raise OpError("E80000", f"classify: the range of input [{_name(desc, index)}] should "
                          f"hold pairs 0 <= low <= high (high -1 or None: unbounded), but "
                          f"actually holds {tuple(pair)}", param_name="range")
        ranges.append((low, high))
    return shape, ranges


def _intersect(ranges: Iterable[Range]) -> Range | None:
    low, high = 0, None
    for lo, hi in ranges:
        low = max(low, lo)
        high = hi if high is None else (high if hi is None else min(high, hi))
    return None if high is not None and low > high else (low, high)


def _big_range(low: int, high: int | None) -> Range | None:
    """The part of ``(low, high)`` other than 1: sizes > 1 (and 0 when the range holds it)."""
    if low == 0:
        return (0, high)
    return None if high is not None and high < 2 else (max(low, 2), high)


@dataclass(frozen=True)
class _Choice:
    """One way an axis can be at run time: which inputs have its size (the rest are 1)."""

    mask: tuple[bool, ...]
    size: int          # the size of the inputs in ``mask``: static, or -1 (a var)
    range: Range


def _axis_choices(axis: int, dims: Sequence[int], ranges: Sequence[Range],
                  complete: Sequence[bool], uniform: bool, names: Sequence[str]) -> list[_Choice]:
    """Every way this axis can be at run time, for inputs whose dims are ``dims`` on it.

    A dim of 1 stays 1; a common dim (known > 1, or -1 with a range above 1) is always the
    axis size; an unknown dim (-1 whose range holds 1) is either 1 or the axis size. A
    complete input (CANN's ``input_shape_type`` 1) never broadcasts: when it is 1, every input
    is. ``uniform`` (ELEWISE) keeps the choices where all inputs agree.
    """
    big: dict[int, Range] = {}
    either: dict[int, Range] = {}
    for i, (dim, (low, high)) in enumerate(zip(dims, ranges)):
        if dim == 1 or (dim == UNKNOWN_DIM and high == 1 and low >= 1):
            continue
        if dim != UNKNOWN_DIM or low >= 2 or (low == 0 and high == 0):
            big[i] = (low, high)
        elif (part := _big_range(low, high)) is not None:
            either[i] = part
    common = _intersect(big.values()) if big else None
    if big and common is None:
        shown = {names[i]: (dims[i] if dims[i] != UNKNOWN_DIM else list(r)) for i, r in big.items()}
        raise OpError("E80017", f"classify: the dims of the inputs {shown} at axis {axis} should "
                      f"broadcast together (equal, or 1), but their sizes and ranges do not meet",
                      param_name="shape")
    choices = []
    optional = sorted(either)
    for picks in itertools.product((False, True), repeat=len(optional)):
        members = set(big) | {i for i, pick in zip(optional, picks) if pick}
        mask = tuple(i in members for i in range(len(dims)))
        if members and any(c and not m for c, m in zip(complete, mask)):
            continue  # a complete input would broadcast
        if uniform and members and not all(mask):
            continue
        size_range = _intersect([big[i] if i in big else either[i] for i in members])
        if size_range is None:
            continue
        size = size_range[0] if size_range[0] == size_range[1] else UNKNOWN_DIM
        choices.append(_Choice(mask, size, size_range if members else (1, 1)))
    if not choices:
        raise OpError("E80017", f"classify: at axis {axis}, an input that never broadcasts "
                      f"(input_shape_type 1: {[n for n, c in zip(names, complete) if c]}) is 1 "
                      f"while {[names[i] for i in big]} are not", param_name="shape")
    return choices


def _times(a: Range, b: Range) -> Range:
    high = None if a[1] is None or b[1] is None else a[1] * b[1]
    return (a[0] * b[0], high)


def _canonical_case(combo: Sequence[_Choice], count: int) -> tuple[tuple, list[list[int]], list[list[Range]]]:
    """The canonical pattern of one choice per axis: (mask key, shapes, ranges) per input."""
    columns: list[_Choice] = []
    for choice in combo:
        if not any(choice.mask):
            continue  # every input is 1 here
        if columns and columns[-1].mask == choice.mask:
            last = columns[-1]
            size = UNKNOWN_DIM if UNKNOWN_DIM in (last.size, choice.size) else last.size * choice.size
            columns[-1] = _Choice(last.mask, size, _times(last.range, choice.range))
        else:
            columns.append(choice)
    if not columns:
        columns = [_Choice((False,) * count, 1, (1, 1))]
    shapes = [[c.size if c.mask[i] else 1 for c in columns] for i in range(count)]
    ranges = [[c.range if c.mask[i] else (1, 1) for c in columns] for i in range(count)]
    return tuple(c.mask for c in columns), shapes, ranges


def _join(cases: dict, key: tuple, shapes: list[list[int]], ranges: list[list[Range]]) -> None:
    """Add a canonical case; one with the same key widens to cover both (a differing size: -1)."""
    if key not in cases:
        cases[key] = (shapes, ranges)
        return
    old_shapes, old_ranges = cases[key]
    for i, (old_s, new_s, old_r, new_r) in enumerate(zip(old_shapes, shapes, old_ranges, ranges)):
        old_shapes[i] = [a if a == b else UNKNOWN_DIM for a, b in zip(old_s, new_s)]
        old_ranges[i] = [(min(a[0], b[0]), None if None in (a[1], b[1]) else max(a[1], b[1]))
                         for a, b in zip(old_r, new_r)]


def _enumerate(choices: list[list[_Choice]], count: int) -> dict | None:
    """Canonical cases of every combination of choices; None past the limits."""
    if math.prod(len(c) for c in choices) > MAX_COMBINATIONS:
        return None
    cases: dict = {}
    for combo in itertools.product(*choices):
        _join(cases, *_canonical_case(combo, count))
        if len(cases) > MAX_CASES:
            return None
    return cases


def _fallback(choices: list[list[_Choice]], count: int) -> dict:
    """The declared pattern (each unknown dim > 1) and the elementwise case."""
    cases: dict = {}
    declared = [max(axis, key=lambda c: sum(c.mask)) for axis in choices]
    _join(cases, *_canonical_case(declared, count))
    _join(cases, ((True,) * count,), [[UNKNOWN_DIM] for _ in range(count)],
          [[(1, None)] for _ in range(count)])
    return cases


def _complete_flags(ins: Sequence[dict], extra_params: dict | None) -> list[bool]:
    types = (extra_params or {}).get("input_shape_type")
    if types is None:
        return [False] * len(ins)
    types = list(types)
    if len(types) != len(ins) or any(t not in (0, 1) for t in types):
        raise OpError("E80000", f"classify: the parameter[input_shape_type] of extra_params should "
                      f"hold one 0 (may broadcast) or 1 (complete shape) per input "
                      f"({len(ins)}), but actually is {types}", param_name="input_shape_type")
    return [t == 1 for t in types]


def classify(ins: Sequence[dict], mode: str | OpPatternMode,
             extra_params: dict | None = None) -> list[list[dict]]:
    """Classify input descriptions into the cases to compile, as ``tbe.dsl.classify``.

    Parameters
    ----------
    ins : sequence of dict
        Input descriptions with ``shape`` (dims may be -1; ``[-2]`` is unknown rank) and an
        optional ``range`` (one ``(low, high)`` per dim; high None or -1 is unbounded; a -1
        dim without a range is ``(1, None)``).
    mode : OpPatternMode or str
        ``ELEWISE`` (all inputs one shape) or ``ELEWISE_WITH_BROADCAST``.
    extra_params : dict, optional
        ``input_shape_type``: one 0 or 1 per input, as CANN's; 1 marks an input with the
        complete (output) shape, which never broadcasts, so no case makes it 1 where another
        input is not. Other keys are accepted for CANN compatibility.

    Returns
    -------
    list of list of dict
        Cases; each holds one description per input with a canonical ``shape`` (-1 for a
        dynamic dim) and its ``range``. Together they serve every shape inside the declared
        ranges: exactly, one case per canonical pattern, up to :data:`MAX_CASES` cases;
        beyond that, the declared pattern plus the elementwise case (the kernel then expands
        broadcast inputs). In a strided-inputs context one case keeps every declared axis.

    Raises
    ------
    OpError
        E80000 for an invalid dim, range or ``input_shape_type``; E80017 when the inputs
        cannot broadcast together, or ELEWISE inputs differ.

    Examples
    --------
    >>> [[d["shape"] for d in case] for case in classify(
    ...     [{"shape": [-1, 16], "range": [(1, 64), (16, 16)]}, {"shape": [1, 16]}], "broadcast")]
    [[[16], [16]], [[-1, 16], [1, 16]]]
    """
    mode = OpPatternMode(mode)
    complete = _complete_flags(ins, extra_params)
    parsed = [_dims_and_ranges(desc, i) for i, desc in enumerate(ins)]
    names = [_name(desc, i) for i, desc in enumerate(ins)]
    if mode is OpPatternMode.ELEWISE and not any(_is_unknown_rank(d.get("shape", ())) for d in ins):
        declared = canonical_pattern([shape for shape, _ in parsed])
        if any(p != declared[0] for p in declared):
            raise OpError("E80017", f"classify: ELEWISE inputs should have one shape, but got "
                          f"{[list(d.get('shape', ())) for d in ins]}", param_name="shape")
    if any(_is_unknown_rank(d.get("shape", ())) for d in ins) and _keeps_axes():
        return [_descriptions(ins, {None: ([[UNKNOWN_DIM]] * len(ins), [[(1, None)]] * len(ins))})[0]]
    rank = max((len(shape) for shape, _ in parsed), default=0)
    shapes = [[1] * (rank - len(s)) + s for s, _ in parsed]
    ranges = [[(1, 1)] * (rank - len(r)) + r for _, r in parsed]
    if _keeps_axes():  # a generic strided kernel: one axis per axis of the descriptions
        shapes = shapes if rank else [[1]] * len(ins)
        ranges = ranges if rank else [[(1, 1)]] * len(ins)
        return _descriptions(ins, {None: (shapes, ranges)})
    choices = [_axis_choices(axis, [s[axis] for s in shapes], [r[axis] for r in ranges],
                             complete, mode is OpPatternMode.ELEWISE, names)
               for axis in range(rank)]
    cases = _enumerate(choices, len(ins))
    if cases is None:
        cases = _fallback(choices, len(ins))
    return _descriptions(ins, cases)


def _descriptions(ins: Sequence[dict], cases: dict) -> list[list[dict]]:
    """One description list per case, simplest first (fewest axes, fewest dynamic dims)."""
    def order(item):
        shapes = item[1][0]
        return (len(shapes[0]), sum(d == UNKNOWN_DIM for s in shapes for d in s))

    result = []
    for _, (shapes, ranges) in sorted(cases.items(), key=order):
        case = []
        for desc, shape, rng in zip(ins, shapes, ranges):
            new = dict(desc)
            new["shape"] = list(shape)
            new["range"] = [tuple(r) for r in rng]
            case.append(new)
        result.append(case)
    return result
