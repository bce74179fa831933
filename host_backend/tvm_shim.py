"""The ``tvm`` names a TBE operator uses (``from tbe import tvm``), on Apache TVM."""
from __future__ import annotations

from contextlib import nullcontext
from typing import Sequence

import tvm
from tvm import te, tirx


def placeholder(shape: Sequence, dtype: str = "float32", name: str = "placeholder",
                attrs: dict | None = None) -> te.Tensor:
    """A named input tensor; ``attrs`` is accepted for CANN compatibility."""
    del attrs
    return te.placeholder(list(shape), dtype=dtype, name=name)


def const(value: int | float, dtype: str = "float32") -> tvm.ir.Expr:
    """A constant of ``dtype``."""
    return tirx.const(value, dtype)


class _Target:
    """``tvm.target.cce()`` is CANN's codegen context; on the host it changes nothing."""

    @staticmethod
    def cce():
        return nullcontext()


target = _Target()
Tensor = te.Tensor
