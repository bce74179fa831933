"""The dynamic-shape compute context: ``tbe.dsl.compute()`` and ``tbe.dsl.var``.

CANN opens one context per classified case. Inside it, :func:`var` declares
symbolic values. A var that appears in a tensor shape is a dynamic dim, bound
from the tensors at launch; any other var is a *runtime scalar* (such as a mean
coefficient) that the operator's host tiling function supplies at launch.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from tvm import te, tirx

_stack: list[dict] = []
#: Addresses of every var declared with :func:`var`, to tell runtime scalars from other vars.
_declared: set[int] = set()


@contextmanager
def compute() -> Iterator[dict]:
    """Open a compute context for one case; yields its record of declared vars."""
    record = {"vars": []}
    _stack.append(record)
    try:
        yield record
    finally:
        _stack.pop()


def var(name: str, bound: tuple[int, int] | None = None, dtype: str = "int32",
        addition: dict | None = None) -> tirx.Var:
    """Declare a symbolic value, as ``tbe.dsl.var`` does.

    Parameters
    ----------
    name : str
        The var's name; runtime scalars are supplied under this name at launch.
    bound : tuple of int, optional
        (low, high) range, recorded for documentation only.
    dtype : str
        ``int32``/``int64`` for dims, a float dtype for runtime scalars.
    addition : dict, optional
        Accepted for CANN compatibility.
    """
    symbol = te.var(name, dtype=dtype)
    _declared.add(symbol.__chandle__())
    if _stack:
        _stack[-1]["vars"].append(symbol)
    return symbol


def is_declared(symbol: tirx.Var) -> bool:
    """Whether ``symbol`` was declared with :func:`var`."""
    return symbol.__chandle__() in _declared
