"""``tbe_context``: the per-compile operator context that collects compile info.

As in CANN (``tbe.common.context.op_context.OpContext``), a compile runs inside an
:class:`OpContext`: ``with OpContext("dynamic"): entry(...)``. The context is
*context-local* (a :class:`contextvars.ContextVar`), so threads compiling at once
never share compile info. ``register_operator`` opens one per call of a dynamic entry.
An entry called outside any ``with`` (a static entry, as CANN's op compiler would
wrap it) gets an implicit context on first use, which ``build`` closes, so the next
compile starts empty.
"""
from __future__ import annotations

from contextvars import ContextVar, Token
from typing import Any


class OpContext:
    """Compile info gathered while one operator compiles; a context manager.

    Parameters
    ----------
    op_mode : str
        ``"static"`` or ``"dynamic"``, recorded for CANN compatibility.
    """

    def __init__(self, op_mode: str = "dynamic") -> None:
        self.op_mode = op_mode
        self._compile_info: dict[str, Any] = {}
        self._tokens: list[Token] = []
        self.implicit = False

    def __enter__(self) -> "OpContext":
        self._tokens.append(_current.set(self))
        return self

    def __exit__(self, *exc: object) -> None:
        _current.reset(self._tokens.pop())

    def add_compile_info(self, key: str, value: Any) -> None:
        """Record ``key: value``; the kernel JSON and the host tiling receive it."""
        self._compile_info[key] = value

    def get_compile_info(self) -> dict[str, Any]:
        """Return a copy of the compile info recorded so far."""
        return dict(self._compile_info)


_current: ContextVar[OpContext | None] = ContextVar("bce_grad_op_context", default=None)


def get_context() -> OpContext:
    """The context of the operator compiling now (in this thread or task).

    Outside any ``with OpContext()``, an implicit context starts here and ends when
    :func:`end_implicit_context` runs (``build`` calls it).
    """
    context = _current.get()
    if context is None:
        context = OpContext("static")
        context.implicit = True
        _current.set(context)
    return context


def new_context() -> OpContext:
    """Start a fresh implicit context in this thread or task (``build`` ends it)."""
    context = OpContext("static")
    context.implicit = True
    _current.set(context)
    return context


def end_implicit_context() -> None:
    """End the implicit context, if one is current; a ``with OpContext()`` is left alone."""
    context = _current.get()
    if context is not None and context.implicit:
        _current.set(None)


class _Namespace:
    """Lets the impl write ``tbe_context.get_context()`` as on CANN."""

    get_context = staticmethod(get_context)
    OpContext = OpContext


tbe_context = _Namespace()
