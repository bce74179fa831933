"""tbe.dsl compares, selects and logic: ``vcmp``, ``vsel``, ``vcmpsel``, ``vlogic``, bitwise ops.

CANN's semantics: ``vcmp`` gives a bool tensor (``mode="bool"``); ``vsel`` picks ``lhs``
where the condition holds, else ``rhs`` (tensors or scalars; two scalars are float16);
``vcmpsel(lhs, rhs, operation, slhs, srhs)`` is ``vsel(vcmp(lhs, rhs, operation), slhs,
srhs)`` with CANN's defaults (``rhs`` 2.0, ``slhs`` ``lhs``, ``srhs`` ``rhs`` or 0.0).
Float compares are IEEE's: any compare with a NaN is false, except ``ne``.
``mode="bit"`` (eight results packed per uint8, in an order CANN does not publish) is not
offered: it raises :class:`~bce_grad.cann_compat.errors.UnsupportedApiError`.
"""
from __future__ import annotations

from typing import Union

import tvm
from tvm import te, tirx

from bce_grad.host_backend.dsl.ops import (_check_same, _check_tensor, _convert, _scalar,
                                           dtype_of)
from bce_grad.host_backend.errors import OpError

Operand = Union[te.Tensor, int, float, tvm.ir.Expr]
def _not_equal(lhs, rhs):
    """``lhs != rhs``, true where either is a NaN. TVM emits ``!=`` as LLVM's ordered
    ``fcmp one`` (false for a NaN) and simplifies ``not (a == b)`` back to it, so a float
    compare adds a NaN test on the raw bits."""
    if dtype_of(lhs) != "float32":
        return tirx.NE(lhs, rhs)
    return tirx.Or(tirx.NE(lhs, rhs), tirx.Or(_is_nan(lhs), _is_nan(rhs)))


def _is_nan(value):
    magnitude = tirx.reinterpret("uint32", value) & tirx.const(0x7FFFFFFF, "uint32")
    return magnitude > tirx.const(0x7F800000, "uint32")


#: The compare operations, CANN's names.
OPERATIONS = {"eq": tirx.EQ, "ne": _not_equal, "lt": tirx.LT, "gt": tirx.GT, "ge": tirx.GE,
              "le": tirx.LE}
LOGIC_OPERATIONS = ("logic_and", "logic_or", "logic_not")
_NARROW_FLOATS = ("float16", "bfloat16")


def _check_operation(api: str, operation: str, allowed) -> None:
    if operation not in allowed:
        raise OpError("E80000", f"tbe.dsl.{api}: the parameter[operation] should be one of "
                      f"{list(allowed)}, but actually is [{operation}]", param_name="operation")


def _value(operand: Operand, index, dtype: str):
    if isinstance(operand, te.Tensor):
        return operand[index]
    return _scalar(operand, dtype)


def _compare(operation: str, lhs, rhs):
    """``lhs <operation> rhs`` on TIR values of one dtype (float16 and bfloat16 widen exactly)."""
    if dtype_of(lhs) in _NARROW_FLOATS:
        lhs, rhs = _convert(lhs, "float32"), _convert(rhs, "float32")
    return OPERATIONS[operation](lhs, rhs)


def _check_rhs(api: str, lhs: te.Tensor, rhs: Operand) -> None:
    if isinstance(rhs, te.Tensor):
        _check_same(api, lhs, rhs)


def vcmp(lhs: te.Tensor, rhs: Operand, operation: str = "lt", mode: str = "bool") -> te.Tensor:
    """Elementwise compare of ``lhs`` with a tensor or scalar ``rhs``: a bool tensor.

    Parameters
    ----------
    lhs : te.Tensor
    rhs : te.Tensor or scalar
        A tensor of ``lhs``'s shape and dtype, or a scalar (cast to ``lhs``'s dtype).
    operation : str
        One of ``eq``, ``ne``, ``lt``, ``gt``, ``ge``, ``le``.
    mode : str
        ``bool`` (the host's only mode; ``bit`` raises UnsupportedApiError).
    """
    _check_tensor("vcmp", "lhs", lhs)
    _check_operation("vcmp", operation, OPERATIONS)
    if mode not in ("bool", "bit"):
        raise OpError("E80000", f"tbe.dsl.vcmp: the parameter[mode] should be one of ['bool', "
                      f"'bit'], but actually is [{mode}]", param_name="mode")
    if mode == "bit":
        from bce_grad.cann_compat.errors import UnsupportedApiError

        raise UnsupportedApiError("tbe.dsl.vcmp(mode='bit')", "CANN does not publish the bit "
                                  "order of its packed compare results")
    _check_rhs("vcmp", lhs, rhs)
    dtype = dtype_of(lhs)
    return te.compute(lhs.shape, lambda *i: _compare(operation, lhs[i], _value(rhs, i, dtype)),
                      name="vcmp", tag=f"elewise_binary_vcmpv_{operation}")


def _select_dtype(lhs: Operand, rhs: Operand) -> str:
    for operand in (lhs, rhs):
        if isinstance(operand, te.Tensor):
            return dtype_of(operand)
    for operand in (lhs, rhs):
        if isinstance(operand, tvm.ir.Expr) and dtype_of(operand) != "float16":
            raise OpError("E80008", f"tbe.dsl.vsel: when lhs and rhs are both scalars they "
                          f"should be float16, but one is [{dtype_of(operand)}]",
                          param_name="lhs")
    return "float16"


def vsel(condition: te.Tensor, lhs: Operand, rhs: Operand) -> te.Tensor:
    """``lhs`` where ``condition`` (a bool tensor) holds, else ``rhs``.

    ``lhs`` and ``rhs`` are tensors of the condition's shape or scalars; two tensors share a
    dtype; two scalars make a float16 result, as on CANN.
    """
    _check_tensor("vsel", "condition", condition)
    if dtype_of(condition) != "bool":
        from bce_grad.cann_compat.errors import UnsupportedApiError

        raise UnsupportedApiError(f"tbe.dsl.vsel(condition of {dtype_of(condition)})",
                                  "a bit-mode condition packs results in an unpublished order")
    if isinstance(lhs, te.Tensor) and isinstance(rhs, te.Tensor):
        _check_same("vsel", lhs, rhs)
    dtype = _select_dtype(lhs, rhs)
    return te.compute(condition.shape, lambda *i: tirx.Select(
        condition[i], _value(lhs, i, dtype), _value(rhs, i, dtype)), name="vsel",
        tag="elewise_multiple_sel")


def vcmpsel(lhs: te.Tensor, rhs: Operand | None = None, operation: str = "lt",
            slhs: Operand | None = None, srhs: Operand | None = None) -> te.Tensor:
    """``slhs`` where ``lhs <operation> rhs``, else ``srhs``; the result has ``lhs``'s dtype.

    Defaults as CANN's: ``rhs`` 2.0, ``slhs`` ``lhs``, ``srhs`` ``rhs`` when it is a
    tensor, else 0.0.
    """
    _check_tensor("vcmpsel", "lhs", lhs)
    _check_operation("vcmpsel", operation, OPERATIONS)
    rhs = 2.0 if rhs is None else rhs
    slhs = lhs if slhs is None else slhs
    srhs = (rhs if isinstance(rhs, te.Tensor) else 0.0) if srhs is None else srhs
    for name, operand in (("rhs", rhs), ("slhs", slhs), ("srhs", srhs)):
        if isinstance(operand, te.Tensor):
            _check_same("vcmpsel", lhs, operand)
    dtype = dtype_of(lhs)
    return te.compute(lhs.shape, lambda *i: tirx.Select(
        _compare(operation, lhs[i], _value(rhs, i, dtype)), _value(slhs, i, dtype),
        _value(srhs, i, dtype)), name="vcmpsel", tag=f"elewise_binary_cmpsel_{operation}")


def vlogic(lhs: te.Tensor, rhs: te.Tensor | None = None, operation: str = "logic_and") -> te.Tensor:
    """Elementwise ``logic_and``, ``logic_or`` or ``logic_not`` of bool tensors."""
    _check_tensor("vlogic", "lhs", lhs)
    _check_operation("vlogic", operation, LOGIC_OPERATIONS)
    if operation == "logic_not":
        return te.compute(lhs.shape, lambda *i: tirx.Not(_truth(lhs[i])), name="vlogic",
                          tag="elewise_binary_logic")
    _check_tensor("vlogic", "rhs", rhs)
    _check_same("vlogic", lhs, rhs)
    combine = tirx.And if operation == "logic_and" else tirx.Or
    return te.compute(lhs.shape, lambda *i: combine(_truth(lhs[i]), _truth(rhs[i])),
                      name="vlogic", tag="elewise_binary_logic")


def _truth(value):
    return value if dtype_of(value) == "bool" else value != tirx.const(0, dtype_of(value))


def _bitwise(name: str, fn):
    def op(lhs: te.Tensor, rhs: te.Tensor) -> te.Tensor:
        _check_tensor(name, "lhs", lhs)
        _check_tensor(name, "rhs", rhs)
        _check_same(name, lhs, rhs)
        _check_integer(name, lhs)
        return te.compute(lhs.shape, lambda *i: fn(lhs[i], rhs[i]), name=name,
                          tag=f"elewise_binary_{name[1:]}")

    op.__name__ = name
    op.__doc__ = f"Elementwise bitwise ``{name[1:]}`` of two integer (or bool) tensors."
    return op


def _check_integer(api: str, tensor: te.Tensor) -> None:
    dtype = dtype_of(tensor)
    if dtype.startswith("float") or dtype.startswith("bfloat"):
        raise OpError("E80008", f"tbe.dsl.{api}: the dtype of the input should be an integer "
                      f"dtype or bool, but actually is [{dtype}]", param_name="lhs")


vand = _bitwise("vand", lambda a, b: a & b)
vor = _bitwise("vor", lambda a, b: a | b)


def vnot(raw_tensor: te.Tensor) -> te.Tensor:
    """Elementwise bitwise not of an integer (or bool) tensor."""
    _check_tensor("vnot", "raw_tensor", raw_tensor)
    _check_integer("vnot", raw_tensor)
    return te.compute(raw_tensor.shape, lambda *i: ~raw_tensor[i], name="vnot",
                      tag="elewise_single_not")
