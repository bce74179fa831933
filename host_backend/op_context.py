"""``tbe_context``: the per-compile operator context that collects compile info."""
from __future__ import annotations

from typing import Any


class OpContext:
    """Compile info gathered while one operator compiles."""

    def __init__(self) -> None:
        self._compile_info: dict[str, Any] = {}

    def add_compile_info(self, key: str, value: Any) -> None:
        """Record ``key: value``; the kernel JSON and the host tiling receive it."""
        self._compile_info[key] = value

    def get_compile_info(self) -> dict[str, Any]:
        """Return a copy of the compile info recorded so far."""
        return dict(self._compile_info)


_current = {"context": OpContext()}


def get_context() -> OpContext:
    """The context of the operator compiling now."""
    return _current["context"]


def new_context() -> OpContext:
    """Start a fresh context, as CANN does when an operator compile begins."""
    _current["context"] = OpContext()
    return _current["context"]


class _Namespace:
    """Lets the impl write ``tbe_context.get_context()`` as on CANN."""

    get_context = staticmethod(get_context)


tbe_context = _Namespace()
