"""CANN's ``shape_util`` helpers: shape lists, variable shapes and broadcasting."""
from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from bce_grad.host_backend.dsl.classify import UNKNOWN_DIM
from bce_grad.host_backend.errors import OpError

if TYPE_CHECKING:  # tvm loads on first use, so that importing an operator stays cheap
    import tvm
    from tvm import tirx

    Dim = int | tvm.ir.Expr


def shape_to_list(shape: Sequence[Dim]) -> list[Dim]:
    """Turn a TVM shape into a list: constant dims become ints, symbolic dims stay."""
    from tvm import tirx

    return [int(d.value) if isinstance(d, tirx.IntImm) else d for d in shape]


def variable_shape(inputs: Sequence[dict], op_mode: str = "elewise") -> list[list[Dim]]:
    """Turn the case descriptions from ``classify`` into shapes with symbolic dims.

    A -1 dim becomes the var ``dim_<axis>``, shared by every input that does not
    broadcast along that axis, so the compute sees one symbolic size per axis.
    """
    from tvm import te

    del op_mode
    rank = max(len(desc["shape"]) for desc in inputs)
    axis_vars: dict[int, tirx.Var] = {}
    shapes = []
    for desc in inputs:
        dims = [1] * (rank - len(desc["shape"])) + list(desc["shape"])
        out: list[Dim] = []
        for axis, dim in enumerate(dims):
            if dim == UNKNOWN_DIM:
                if axis not in axis_vars:
                    axis_vars[axis] = te.var(f"dim_{axis}", dtype="int64")
                out.append(axis_vars[axis])
            else:
                out.append(int(dim))
        shapes.append(out)
    return shapes


def _is_one(dim: Dim) -> bool:
    return isinstance(dim, int) and dim == 1


def _unify(shapes: Sequence[Sequence[Dim]], names: Sequence[str]) -> tuple[list[list[Dim]], list[Dim]]:
    rank = max((len(s) for s in shapes), default=0)
    padded = [[1] * (rank - len(s)) + shape_to_list(s) for s in shapes]
    shape_max: list[Dim] = []
    for axis in range(rank):
        dims = [s[axis] for s in padded]
        big = [d for d in dims if not _is_one(d)]
        consts = {d for d in big if isinstance(d, int)}
        if len(consts) > 1:
            raise OpError("E80017", f"the shapes {[list(s) for s in shapes]} of "
                          f"[{', '.join(names)}] cannot broadcast together at axis {axis}",
                          param_name=names[0] if names else "shape")
        shape_max.append(consts.pop() if consts else (big[0] if big else 1))
    return padded, shape_max


def unify_broadcast_shapes(shapes: Sequence[Sequence[Dim]], op_name: str = "") -> tuple:
    """Align ``shapes`` by left-padding with 1; return ``(*aligned, shape_max)``."""
    padded, shape_max = _unify(shapes, [op_name] if op_name else [])
    return (*padded, shape_max)


def broadcast_shapes(shape1: Sequence[Dim], shape2: Sequence[Dim], op_name: str = "",
                     param_name_input1: str = "", param_name_input2: str = "") -> tuple:
    """Broadcast two shapes with numpy rules; return ``(aligned1, aligned2, shape_max)``.

    Raises
    ------
    OpError
        E80017, naming both parameters, when the shapes do not broadcast.
    """
    names = [param_name_input1 or "input1", param_name_input2 or "input2"]
    padded, shape_max = _unify([shape1, shape2], names)
    return padded[0], padded[1], shape_max
