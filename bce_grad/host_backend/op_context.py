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
        self._op_infos: list[Any] = []
        self._tokens: list[Token] = []
        self.implicit = False
        #: vars declared with ``tbe.dsl.var`` during this compile, by handle; holding them keeps
        #: their handles from being reused while the context lives.
        self.declared_vars: dict[int, Any] = {}

    def __enter__(self) -> "OpContext":
        self._tokens.append(_current.set(self))
        return self

    def __exit__(self, *exc: object) -> None:
        _current.reset(self._tokens.pop())

    def add_compile_info(self, key: str, value: Any) -> None:
        """Record ``key: value``; the kernel JSON and the host tiling receive it."""
        self._compile_info[key] = value

    def get_compile_info(self, key: str | None = None) -> Any:
        """Return a copy of the compile info recorded so far, or the value under ``key``."""
        if key is not None:
            return self._compile_info.get(key)
        return dict(self._compile_info)

    def get_op_mode(self) -> str:
        """``"static"``, ``"dynamic"`` or ``"pre-static"``, as the caller opened the context."""
        return self.op_mode

    def set_op_mode(self, op_mode: str) -> None:
        """Change the recorded mode, as CANN's context allows."""
        self.op_mode = op_mode

    def add_op_info(self, op_info: Any) -> None:
        """Record an operator description (CANN's ``OpInfo``: ``op_name``, ``op_type``, ...)."""
        self._op_infos.append(op_info)

    def get_op_info(self, name: str | None = None) -> Any:
        """Every recorded ``OpInfo``, or the one whose ``op_name`` is ``name`` (None if absent)."""
        if name is None:
            return list(self._op_infos)
        return next((info for info in self._op_infos if getattr(info, "op_name", None) == name), None)


_current: ContextVar[OpContext | None] = ContextVar("bce_grad_op_context", default=None)


def current_context() -> OpContext | None:
    """The context current in this thread or task, without starting an implicit one."""
    return _current.get()


def in_dynamic() -> bool:
    """Whether the compile running here is dynamic (CANN's ``operation.in_dynamic()``)."""
    context = _current.get()
    return context is not None and context.get_op_mode() == "dynamic"


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
