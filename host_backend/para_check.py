"""CANN's ``para_check``: parameter checks for operator entry functions."""
from __future__ import annotations

import functools
import inspect
from typing import Callable, Sequence

from bce_grad.host_backend.build import check_kernel_name
from bce_grad.host_backend.errors import OpError

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
KERNEL_NAME = "kernel_name"

MAX_RANK = 8
_TENSOR_KINDS = {REQUIRED_INPUT, OPTION_INPUT, REQUIRED_OUTPUT, OPTION_OUTPUT}
_ATTR_TYPES = {REQUIRED_ATTR_STR: str, OPTION_ATTR_STR: str, REQUIRED_ATTR_INT: int,
               OPTION_ATTR_INT: int, REQUIRED_ATTR_FLOAT: (int, float), OPTION_ATTR_FLOAT: (int, float)}


def _check_one(op_name: str, name: str, kind: str, value: object) -> None:
    optional = kind.startswith("option")
    if value is None:
        if optional:
            return
        raise OpError("E80001", f"the mandatory parameter[{name}] is missing", op_name, name)
    if kind in _TENSOR_KINDS:
        if not isinstance(value, dict) or "shape" not in value or "dtype" not in value:
            raise OpError("E80000", f"the parameter[{name}] should be a tensor description dict "
                          f"with 'shape' and 'dtype', but actually is [{value!r}]", op_name, name)
    elif kind in _ATTR_TYPES and not isinstance(value, _ATTR_TYPES[kind]):
        raise OpError("E80000", f"the parameter[{name}] should be of type "
                      f"{_ATTR_TYPES[kind]}, but actually is [{value!r}]", op_name, name)
    elif kind == KERNEL_NAME:
        check_kernel_name(value, name)


def check_op_params(*kinds: str) -> Callable:
    """Decorate an operator entry so each argument is checked against its declared kind.

    Parameters
    ----------
    *kinds : str
        One of the module's constants per positional parameter, in order.
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


def check_dtype(dtype: str, check_list: Sequence[str], param_name: str = "") -> None:
    """Refuse ``dtype`` unless it is in ``check_list`` (E80008)."""
    if str(dtype).lower() not in check_list:
        raise OpError("E80008", f"the parameter[{param_name}] dtype should be one of "
                      f"{list(check_list)}, but actually is [{dtype}]", param_name=param_name)


def check_shape(shape: Sequence[int], min_rank: int = 0, max_rank: int = MAX_RANK,
                param_name: str = "", **_: object) -> None:
    """Refuse a shape with a rank outside [min_rank, max_rank] or a dim below -1."""
    dims = list(shape)
    if dims == [-2]:
        return
    if not min_rank <= len(dims) <= max_rank:
        raise OpError("E80012", f"the parameter[{param_name}] rank should be in "
                      f"[{min_rank}, {max_rank}], but actually is {len(dims)} (shape {dims})",
                      param_name=param_name)
    bad = [d for d in dims if not isinstance(d, int) or d < -1]
    if bad:
        raise OpError("E80000", f"the parameter[{param_name}] dims should be integers >= 0 "
                      f"(or -1 when dynamic), but actually is {dims}", param_name=param_name)


check_kernel_name = check_kernel_name
