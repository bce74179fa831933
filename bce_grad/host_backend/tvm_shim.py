"""The ``tvm`` names a TBE operator uses (``from tbe import tvm``), on Apache TVM.

Apache TVM loads on first use, so that importing an operator (for its checks and
host tiling) does not load the compiler.
"""
from __future__ import annotations

import math
from contextlib import contextmanager, nullcontext
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence

if TYPE_CHECKING:
    import tvm
    from tvm import te


#: Formats whose layout is the shape itself: a placeholder in any other format is refused.
PLAIN_FORMATS = ("ND", "NCHW", "NHWC", "NCDHW", "NDHWC", "HWCN", "CHWN")
#: Elements from which static dims must be int64.
INT32_LIMIT = 2**31


def placeholder(shape: Sequence, dtype: str = "float32", name: str = "placeholder",
                attrs: dict | None = None) -> te.Tensor:
    """A named input tensor; ``attrs`` is accepted for CANN compatibility (a fractal
    ``format`` in it, a UB-fusion input, raises UnsupportedApiError).

    Static dims are int32 in TVM unless said otherwise, so a tensor of 2**31 elements or
    more gets every static dim as int64: its index arithmetic must not overflow.
    """
    from tvm import te, tirx

    if attrs and str(attrs.get("format", "ND")).upper() not in PLAIN_FORMATS:
        from bce_grad.cann_compat.errors import UnsupportedApiError

        raise UnsupportedApiError(f"tvm.placeholder(attrs={{'format': {attrs['format']!r}}})",
                                  "a tensor in a fractal format is a UB-fusion input; UB fusion "
                                  "is CANN's graph compiler's, and the host keeps no formats")
    dims = list(shape)
    static = [d for d in dims if isinstance(d, int)]
    if len(static) == len(dims) and math.prod(static) >= INT32_LIMIT:
        dims = [tirx.IntImm("int64", d) for d in dims]
    return te.placeholder(dims, dtype=dtype, name=name)


def const(value: int | float, dtype: str = "float32") -> tvm.ir.Expr:
    """A constant of ``dtype``."""
    from tvm import tirx

    return tirx.const(value, dtype)


class _Target:
    """``tvm.target.cce()`` is CANN's codegen context; on the host it changes nothing."""

    @staticmethod
    def cce():
        return nullcontext()


target = _Target()


#: CANN's tag for a binary stage whose output is its left operand (:func:`compute`).
PHONY_TAG = "elewise_binary_phony"
#: The tag :func:`tag_scope` gives the stages made in this context (thread, task).
_tag: ContextVar[str] = ContextVar("bce_grad_tvm_tag", default="")


@contextmanager
def tag_scope(tag: str) -> Iterator[None]:
    """``with tvm.tag_scope(tag):`` stages made by :func:`compute` inside carry ``tag``."""
    token = _tag.set(str(tag))
    try:
        yield
    finally:
        _tag.reset(token)


def compute(shape: Sequence, fcompute: Callable, name: str = "compute", tag: str = "",
            attrs: dict | None = None) -> te.Tensor:
    """``tvm.compute``: a stage; its tag is ``tag``, else the enclosing :func:`tag_scope`'s.

    CANN's ``elewise_binary_phony`` tag makes a binary stage output its left operand: the
    right one only orders the stages (canndev's ZerosLike writes ``zeros + x``, and its
    output is zeros). The host builds such a stage as its left operand alone.
    """
    from tvm import te

    tag = tag or _tag.get()
    if tag != PHONY_TAG:
        return te.compute(list(shape), fcompute, name=name, tag=tag, attrs=attrs)

    def left(*index):
        body = fcompute(*index)
        if not hasattr(body, "a"):
            raise ValueError(f"tvm.compute: a stage tagged {PHONY_TAG} should compute a binary "
                             f"expression, but computes {type(body).__name__}")
        return body.a

    return te.compute(list(shape), left, name=name, tag=tag, attrs=attrs)


def select(condition: tvm.ir.Expr, true_value: tvm.ir.Expr, false_value: tvm.ir.Expr):
    """``tvm.select``: ``true_value`` where ``condition`` holds, else ``false_value``."""
    from tvm import tirx

    return tirx.Select(condition, true_value, false_value)


class _TensorModule:
    """``tvm.tensor``: CANN code checks ``isinstance(x, tvm.tensor.Tensor)``."""

    @property
    def Tensor(self) -> type:  # noqa: N802 - TVM's name
        from tvm import te

        return te.Tensor


tensor = _TensorModule()


class _ExprModule:
    """``tvm.expr``: CANN code checks ``isinstance(x, tvm.expr.Var)`` and friends; each name is
    TVM's own class (from ``tvm.tirx.expr``, ``tvm.tirx``, else ``tvm.ir``)."""

    _RENAMED = {"Expr": "PrimExpr", "ConstExpr": "PrimExpr"}

    def __getattr__(self, name: str) -> Any:
        import tvm
        import tvm.tirx.expr

        wanted = self._RENAMED.get(name, name)
        for module in (tvm.tirx.expr, tvm.tirx, tvm.ir):
            if hasattr(module, wanted):
                return getattr(module, wanted)
        raise AttributeError(f"tvm.expr.{name} has no counterpart in Apache TVM's tirx or ir")


expr = _ExprModule()
#: ``tvm.max`` / ``tvm.min`` / ``tvm.abs`` and friends: TIR's own.
_TIR_FUNCTIONS = ("max", "min", "abs", "exp", "log", "sqrt", "floor", "ceil", "trunc", "round",
                  "all", "any")


def __getattr__(name: str) -> Any:
    if name == "Tensor":
        from tvm import te

        return te.Tensor
    if name in _TIR_FUNCTIONS:
        from tvm import tirx

        return getattr(tirx, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
