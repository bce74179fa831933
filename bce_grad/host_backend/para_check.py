"""CANN's ``para_check``: parameter checks for operator entry functions."""
from __future__ import annotations

import functools
import inspect
from typing import Callable, Sequence

from bce_grad.host_backend.build import check_kernel_name
from bce_grad.host_backend.error_manager_vector import (CannRuntimeError,
                                                       raise_err_input_format_invalid)
from bce_grad.op_messages import DIM, RANK
from bce_grad.op_support import MAX_RANK

REQUIRED_INPUT = "required_input"
OPTION_INPUT = "option_input"
DYNAMIC_INPUT = "dynamic_input"
REQUIRED_OUTPUT = "required_output"
OPTION_OUTPUT = "option_output"
REQUIRED_ATTR_STR = "required_attr_str"
OPTION_ATTR_STR = "option_attr_str"
REQUIRED_ATTR_INT = "required_attr_int"
OPTION_ATTR_INT = "option_attr_int"
REQUIRED_ATTR_FLOAT = "required_attr_float"
OPTION_ATTR_FLOAT = "option_attr_float"
REQUIRED_ATTR_BOOL = "required_attr_bool"
OPTION_ATTR_BOOL = "option_attr_bool"
REQUIRED_ATTR_LIST_INT = "required_attr_list_int"
OPTION_ATTR_LIST_INT = "option_attr_list_int"
REQUIRED_ATTR_LIST_FLOAT = "required_attr_list_float"
OPTION_ATTR_LIST_FLOAT = "option_attr_list_float"
REQUIRED_ATTR_LIST_BOOL = "required_attr_list_bool"
OPTION_ATTR_LIST_BOOL = "option_attr_list_bool"
REQUIRED_ATTR_LIST_LIST_INT = "required_attr_list_list_int"
OPTION_ATTR_LIST_LIST_INT = "option_attr_list_list_int"
REQUIRED_ATTR_TYPE = "required_attr_type"
OPTION_ATTR_TYPE = "option_attr_type"
DYNAMIC_OUTPUT = "dynamic_output"
KERNEL_NAME = "kernel_name"

RANK_LIMIT = MAX_RANK
SHAPE_SIZE_LIMIT = 2 ** 31 - 1
DIM_LIMIT = SHAPE_SIZE_LIMIT
_TENSOR_KINDS = {REQUIRED_INPUT, OPTION_INPUT, REQUIRED_OUTPUT, OPTION_OUTPUT}
_ATTR_TYPES = {REQUIRED_ATTR_STR: str, OPTION_ATTR_STR: str, REQUIRED_ATTR_INT: int,
               OPTION_ATTR_INT: int, REQUIRED_ATTR_FLOAT: (int, float), OPTION_ATTR_FLOAT: (int, float),
               REQUIRED_ATTR_BOOL: bool, OPTION_ATTR_BOOL: bool,
               REQUIRED_ATTR_LIST_INT: (list, tuple), OPTION_ATTR_LIST_INT: (list, tuple),
               REQUIRED_ATTR_LIST_FLOAT: (list, tuple), OPTION_ATTR_LIST_FLOAT: (list, tuple),
               REQUIRED_ATTR_LIST_BOOL: (list, tuple), OPTION_ATTR_LIST_BOOL: (list, tuple),
               REQUIRED_ATTR_LIST_LIST_INT: (list, tuple), OPTION_ATTR_LIST_LIST_INT: (list, tuple),
               REQUIRED_ATTR_TYPE: str, OPTION_ATTR_TYPE: str}


def _check_one(op_name: str, name: str, kind: str | Sequence[str], value: object) -> None:
    if isinstance(kind, (tuple, list)):  # CANN: one of these kinds (an int or a float attr)
        refusals = []
        for one in kind:
            try:
                _check_one(op_name, name, one, value)
                return
            except CannRuntimeError as err:
                refusals.append(err)
        raise refusals[0]
    optional = kind.startswith("option")
    if value is None:
        if optional:
            return
        _error({"errCode": "E80001", "op_name": op_name, "param_name": name},
               f"In op[{op_name}], the mandatory parameter[{name}] is missed.")
    if kind in _TENSOR_KINDS:
        if not isinstance(value, dict) or "shape" not in value or "dtype" not in value:
            _type_error(name, "dict with shape and dtype", value, op_name)
    elif kind in _ATTR_TYPES and not isinstance(value, _ATTR_TYPES[kind]):
        _type_error(name, getattr(_ATTR_TYPES[kind], "__name__", "float"), value, op_name)
    elif kind == KERNEL_NAME:
        check_kernel_name(value, name)


def check_op_params(*kinds: str) -> Callable:
    """Decorate an operator entry so each argument is checked against its declared kind.

    Parameters
    ----------
    *kinds : str or tuple of str
        One of the module's constants per positional parameter, in order; a tuple accepts a
        value any of its kinds accepts (CANN's ``(OPTION_ATTR_INT, OPTION_ATTR_FLOAT)``).
    """
    def decorate(func: Callable) -> Callable:
        signature = inspect.signature(func)

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            op_name = bound.arguments.get("kernel_name", func.__name__)
            for (name, value), kind in zip(bound.arguments.items(), kinds):
                _check_one(str(op_name), name, kind, value)
            return func(*args, **kwargs)

        return wrapper

    return decorate


def _error(args_dict: dict, msg: str) -> None:
    raise CannRuntimeError(args_dict, msg)


def _type_error(param_name: str, param_type: str, value: object, op_name: str = "") -> None:
    """E80003: a parameter of the wrong type."""
    _error({"errCode": "E80003", "op_name": op_name, "param_name": param_name,
            "param_type": param_type, "actual_type": type(value).__name__},
           f"In op, the parameter[{param_name}]'s type should be [{param_type}], but actually "
           f"is [{type(value).__name__}].")


def check_dtype(dtype: str, check_list: Sequence[str], param_name: str = "") -> None:
    """Refuse ``dtype`` unless it is in ``check_list``: E80008 (E80003 when not a str)."""
    if not isinstance(dtype, str):
        _type_error(param_name, "str", dtype)
    if dtype.lower() not in check_list:
        _error({"errCode": "E80008", "op_name": "", "param_name": param_name,
                "excepted_dtype_list": list(check_list), "dtype": dtype.lower()},
               f"In op, the parameter[{param_name}]'s dtype should be one of "
               f"[{list(check_list)}], but actually is [{dtype.lower()}].")


def check_format(data_format: str, check_list: Sequence[str] | None = None,
                 param_name: str = "") -> None:
    """Refuse ``data_format`` unless it is in ``check_list`` (E80015; None: any format name);
    E80003 when it is not a str."""
    if not isinstance(data_format, str):
        _type_error(param_name, "str", data_format)
    if check_list is not None and data_format.upper() not in [item.upper() for item in check_list]:
        raise_err_input_format_invalid("", param_name, list(check_list), data_format)


def check_shape(shape: Sequence[int], min_dim: int = 0, max_dim: int = DIM_LIMIT,
                min_rank: int = 0, max_rank: int = RANK_LIMIT, min_size: int = 0,
                max_size: int = SHAPE_SIZE_LIMIT, param_name: str = "") -> None:
    """CANN's shape check, in CANN's positional order.

    E80003 for a non-list or a non-int dim, E80012 for a rank outside
    [min_rank, max_rank], E80002 for a dim below ``min_dim`` (-1 and an unknown rank
    ``[-2]`` are dynamic and pass), E80011 for a size below ``min_size``.
    """
    del max_dim, max_size
    if not isinstance(shape, (tuple, list)):
        _type_error(param_name, "list tuple", shape)
    dims = list(shape)
    for dim in dims:
        if not isinstance(dim, int) or isinstance(dim, bool):
            _type_error(param_name, "int", dim)
    if dims == [-2]:
        return
    if not min_rank <= len(dims) <= max_rank:
        _error({"errCode": "E80012", "op_name": "", "param_name": param_name,
                "min_value": min_rank, "max_value": max_rank, "real_value": len(dims)},
               RANK.text(param=param_name, min_rank=min_rank, max_rank=max_rank, rank=len(dims)))
    for dim in dims:
        if dim < min_dim and dim != -1:
            _error({"errCode": "E80002", "op_name": "", "param_name": param_name,
                    "min_value": min_dim, "real_value": dim},
                   DIM.text(param=param_name, min_dim=min_dim, dim=dim, shape=dims))
    size = 1
    for dim in dims:
        size *= dim
    if -1 not in dims and size < min_size:
        _error({"errCode": "E80011", "op_name": "", "param_name": param_name,
                "min_value": min_size, "real_value": size},
               f"In op, the shape size(product of all dimensions) of input[{param_name}] should "
               f"more than [{min_size}], but actually is [{size}].")


def check_tensor_shape_size(shape: Sequence[int]) -> int:
    """The element count of ``shape`` (CANN's deprecated helper, which checks nothing more)."""
    if not isinstance(shape, (tuple, list)):
        _type_error("shape", "list tuple", shape)
    size = 1
    for dim in shape:
        size *= int(dim)
    return size


check_kernel_name = check_kernel_name


def is_scalar(shape: Sequence[int]) -> bool:
    """Whether a shape is CANN's scalar form: a list or tuple holding exactly one dim of 1."""
    return isinstance(shape, (list, tuple)) and len(shape) == 1 and shape[0] == 1


def check_elewise_shape_range(inputs: Sequence[dict], support_broadcast: bool = False) -> None:
    """In a dynamic compile, refuse inputs whose ranges cannot meet (CANN's E80024).

    Consecutive inputs are compared from their last dims: each pair of (low, high) ranges
    (a static dim is its own range, a missing range and ``high`` None are unbounded) must
    overlap; with ``support_broadcast``, a dim of 1 on either side, or a range that reaches
    down to 1, may stretch instead. Static compiles check nothing here, as on CANN.
    """
    from bce_grad.host_backend.op_context import in_dynamic

    if not in_dynamic() or len(inputs) <= 1:
        return
    described = [_dims_with_ranges(one, index) for index, one in enumerate(inputs)]
    for (shape_x, range_x), (shape_y, range_y) in zip(described, described[1:]):
        for i in range(1, min(len(shape_x), len(shape_y)) + 1):
            low = max(range_x[-i][0], range_y[-i][0])
            high = min(_bound(range_x[-i][1]), _bound(range_y[-i][1]))
            if low <= high:
                continue
            if support_broadcast and (1 in (shape_x[-i], shape_y[-i])
                                      or range_x[-i][0] <= 1 or range_y[-i][0] <= 1):
                continue
            _error({"errCode": "E80024", "op_name": "", "param_name": "inputs"},
                   f"In op, the ranges of dim {-i} of the inputs {range_x[-i]} and "
                   f"{range_y[-i]} should have an intersection.")


def _bound(high: int | None) -> float:
    return float("inf") if high is None or high < 0 else high


def _dims_with_ranges(one: dict, index: int) -> tuple[list[int], list[tuple[int, int | None]]]:
    """An input's dims and one range per dim: a static dim is its own range, a ``-1`` dim takes
    the pair at its position in ``range`` (unbounded without one)."""
    if not isinstance(one, dict) or "shape" not in one:
        _type_error(f"inputs[{index}]", "dict with shape", one)
    shape = [int(d) for d in one["shape"]]
    given = list(one.get("range") or [])
    ranges = []
    for axis, dim in enumerate(shape):
        if dim >= 0:
            ranges.append((dim, dim))
        elif axis < len(given) and given[axis] is not None:
            low, high = given[axis]
            ranges.append((int(low or 0), None if high is None else int(high)))
        else:
            ranges.append((0, None))
    return shape, ranges
