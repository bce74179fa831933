"""The ``tvm`` names a TBE operator uses (``from tbe import tvm``), on Apache TVM.

Apache TVM loads on first use, so that importing an operator (for its checks and
host tiling) does not load the compiler.
"""
from __future__ import annotations

import math
from contextlib import nullcontext
from typing import TYPE_CHECKING, Any, Sequence

if TYPE_CHECKING:
    import tvm
    from tvm import te


#: Elements from which static dims must be int64.
INT32_LIMIT = 2**31


def placeholder(shape: Sequence, dtype: str = "float32", name: str = "placeholder",
                attrs: dict | None = None) -> te.Tensor:
    """A named input tensor; ``attrs`` is accepted for CANN compatibility.

    Static dims are int32 in TVM unless said otherwise, so a tensor of 2**31 elements or
    more gets every static dim as int64: its index arithmetic must not overflow.
    """
    from tvm import te, tirx

    del attrs
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


def __getattr__(name: str) -> Any:
    if name == "Tensor":
        from tvm import te

        return te.Tensor
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
