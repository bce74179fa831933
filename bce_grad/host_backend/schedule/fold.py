"""Constant folding of TIR integer expressions, for schedule choices made in Python.

A schedule decides some things while it builds (is this extent static, does this parallel
loop vanish once lowered); :func:`constant` answers from the expression alone, folding the
integer and comparison nodes of :data:`_FOLD` (truncating ``Div``/``Mod`` as TIR defines
them), casts, ``Not`` and ``likely``, and gives None for anything that holds a variable.
"""
from __future__ import annotations

import operator

import tvm
from tvm import tirx


def _truncdiv(a: int, b: int) -> int:
    quotient = abs(a) // abs(b)
    return quotient if (a < 0) == (b < 0) else -quotient


_FOLD = {tirx.Add: operator.add, tirx.Sub: operator.sub, tirx.Mul: operator.mul,
         tirx.Div: _truncdiv, tirx.Mod: lambda a, b: a - _truncdiv(a, b) * b,
         tirx.FloorDiv: operator.floordiv, tirx.FloorMod: operator.mod, tirx.Min: min,
         tirx.Max: max, tirx.LT: operator.lt, tirx.LE: operator.le, tirx.GT: operator.gt,
         tirx.GE: operator.ge, tirx.EQ: operator.eq, tirx.NE: operator.ne,
         tirx.And: lambda a, b: a and b, tirx.Or: lambda a, b: a or b}


#: Names of the ``likely`` intrinsic (TVM 0.27 registers it as ``prim.likely``; this matched
#: only ``tirx.likely`` before, so a ``likely`` condition never folded).
_LIKELY = ("prim.likely", "tirx.likely", "tir.likely")


def constant(expr) -> int | None:
    """The value of an integer expression made of constants only (None when it has a var)."""
    if isinstance(expr, tirx.IntImm):
        return int(expr.value)
    if isinstance(expr, tirx.Cast):
        return constant(expr.value)
    if isinstance(expr, tirx.Not):
        inner = constant(expr.a)
        return None if inner is None else int(not inner)
    if isinstance(expr, tvm.ir.Call) and getattr(expr.op, "name", "") in _LIKELY:
        return constant(expr.args[0])
    fold = _FOLD.get(type(expr))
    if fold is None:
        return None
    a, b = constant(expr.a), constant(expr.b)
    if a is None or b is None or (b == 0 and type(expr) in (tirx.FloorDiv, tirx.FloorMod,
                                                            tirx.Div, tirx.Mod)):
        return None
    return int(fold(a, b))
