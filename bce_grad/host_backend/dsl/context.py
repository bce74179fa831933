"""The dynamic-shape compute context: ``tbe.dsl.compute()`` and ``tbe.dsl.var``.

CANN opens one context per classified case. Inside it, :func:`var` declares
symbolic values. A var that appears in a tensor shape is a dynamic dim, bound
from the tensors at launch; any other var is a *runtime scalar* (such as a mean
coefficient) that the operator's host tiling function supplies at launch.

No state here is process-wide: the open compute contexts are context-local (a
:class:`contextvars.ContextVar`), and the declared vars belong to the compile's
``OpContext`` (``tbe_context``), so threads compiling at once never see each other's vars
and a compile never sees a finished one's.
"""
from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from typing import Iterator

from tvm import te, tirx

from bce_grad.host_backend import op_context

#: The compute contexts open in this thread or task, innermost last.
_open: ContextVar[tuple[dict, ...]] = ContextVar("bce_grad_dsl_compute", default=())


@contextmanager
def compute() -> Iterator[dict]:
    """Open a compute context for one case; yields its record of declared vars."""
    record = {"vars": []}
    token = _open.set((*_open.get(), record))
    try:
        yield record
    finally:
        _open.reset(token)


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
    op_context.get_context().declared_vars[symbol.__chandle__()] = symbol
    records = _open.get()
    if records:
        records[-1]["vars"].append(symbol)
    return symbol


def var_attr(name: str, bound: tuple[int, int] | None = None, dtype: str = "int32",
             addition: dict | None = None) -> tirx.Var:
    """Declare an operator attribute as a runtime scalar, as ``tbe.dsl.var_attr`` does.

    The kernel takes the attribute's value at launch under ``name``, like any runtime
    scalar of :func:`var`. List dtypes (``"int32[4]"``) are not offered.
    """
    if not dtype.isidentifier():
        from bce_grad.cann_compat.errors import UnsupportedApiError

        raise UnsupportedApiError(f"tbe.dsl.var_attr(dtype={dtype!r})",
                                  "list attributes are not runtime scalars on the host")
    return var(name, bound, dtype, addition)


def is_declared(symbol: tirx.Var) -> bool:
    """Whether ``symbol`` was declared with :func:`var` in the compile running here."""
    context = op_context.current_context()
    if context is None:
        return False
    known = context.declared_vars.get(symbol.__chandle__())
    return known is not None and known.same_as(symbol)
