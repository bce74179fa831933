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


def scalar2tensor_one(shape: Sequence[Dim]) -> list[Dim] | Sequence[Dim]:
    """A 0-d shape (``[]`` or ``()``) as ``[1]``; any other value as it is (CANN's helper)."""
    if isinstance(shape, (list, tuple)) and len(shape) == 0:
        return [1]
    return shape


def shape_refine(shape: Sequence[int], reduce_axis=None, keep_dims: bool = True) -> list[int]:
    """``shape`` without its dims of 1 (``[1]`` when nothing is left), as an elementwise
    operator refines a shape before computing.

    Raises
    ------
    UnsupportedApiError
        With ``reduce_axis``: the reduce form serves reduce operators, which the host backend
        does not run.
    """
    if reduce_axis is not None:
        from bce_grad.cann_compat.errors import UnsupportedApiError

        raise UnsupportedApiError("shape_util.shape_refine(shape, reduce_axis)",
                                  "reduce operators are not supported on the host")
    kept = [dim for dim in shape if dim > 1]
    return kept or [1]


def refine_shapes_for_broadcast(shape1: Sequence[int], shape2: Sequence[int]) -> tuple:
    """Fuse the axes of two static shapes that broadcast together, as CANN's helper does.

    The shorter shape gets leading 1s; axes where both are 1 are dropped (``[1], [1]`` when
    none is left); then an axis joins the previous group when both it and the previous axis
    are equal in the two shapes, or when both differ and one shape repeats its previous dim
    there; each group is the product of its dims. Returns two lists, in the arguments' order.
    """
    first, second = list(shape1), list(shape2)
    swapped = len(first) < len(second)
    if swapped:
        first, second = second, first
    second = [1] * (len(first) - len(second)) + second
    pairs = [(a, b) for a, b in zip(first, second) if not (a == b == 1)] or [(1, 1)]
    fused = [list(pairs[0])]
    for (a, b), (prev_a, prev_b) in zip(pairs[1:], pairs[:-1]):
        same_kind = (a == b and prev_a == prev_b) or \
            (a != b and prev_a != prev_b and (a == prev_a or b == prev_b))
        if same_kind:
            fused[-1][0] *= a
            fused[-1][1] *= b
        else:
            fused.append([a, b])
    out1, out2 = [g[0] for g in fused], [g[1] for g in fused]
    return (out2, out1) if swapped else (out1, out2)


def compare_tensor_dict_key(dict1: dict, dict2: dict, dict_key: str) -> None:
    """Refuse two tensor descriptions whose ``dict_key`` values differ (a str compared without
    case, a list or tuple by its items), as CANN's helper does.

    Raises
    ------
    RuntimeError
        When an argument is not a dict, lacks the key, or the values differ in type or value.
    """
    for name, value in (("dict1", dict1), ("dict2", dict2)):
        if not isinstance(value, dict):
            raise RuntimeError(f"the input {name} is not dict")
        if dict_key not in value:
            raise RuntimeError(f"there is no value for {dict_key} in {name}, please check the input")
    first, second = dict1[dict_key], dict2[dict_key]
    first = list(first) if isinstance(first, (list, tuple)) else first
    second = list(second) if isinstance(second, (list, tuple)) else second
    if not isinstance(first, type(second)):
        raise RuntimeError(f"the two inputs' {dict_key} types are inconsistent: "
                           f"{type(first).__name__} and {type(second).__name__}")
    if isinstance(first, str):
        equal = first.lower() == second.lower()
    else:
        equal = first == second
    if not equal:
        raise RuntimeError(f"input one and input two are not equal in {dict_key}: "
                           f"{first} and {second}")


def refine_shape_axes(shape: Sequence[int], axes) -> tuple[list[int], list[int]]:
    """Fuse a reduce operator's axes: dims of 1 are dropped, and runs of consecutive reduced
    (or kept) dims become one dim, their product. ``axes`` (an int or a sequence, negative
    counting from the end) give the reduced dims; returns (shape, reduced axes of that shape).
    A rank-1 shape comes back as it is. ``(2, 3, 4, 5, 6)`` with axes ``(1, -3)`` gives
    ``([2, 12, 30], [1])``.

    Raises
    ------
    RuntimeError
        When an axis is outside ``[-rank, rank)``.
    """
    if len(shape) == 1:
        return shape, axes
    rank = len(shape)
    reduced = set()
    for axis in axes if isinstance(axes, (list, tuple)) else [axes]:
        if not -rank <= axis < rank:
            raise RuntimeError(f"Axis must between [-{rank}, {rank}), but is {axis}.")
        reduced.add(axis % rank)
    fused: list[int] = []
    fused_axes: list[int] = []
    previous = None
    for index, dim in enumerate(shape):
        if dim == 1:
            continue
        kind = index in reduced
        if kind == previous:
            fused[-1] *= dim
        else:
            fused.append(dim)
            if kind:
                fused_axes.append(len(fused) - 1)
            previous = kind
    return fused or [1], fused_axes
