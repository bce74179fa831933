"""CANN's ``error_manager_vector``: the ``raise_err_*`` functions DSL operators call.

Every function raises :class:`bce_grad.host_backend.errors.OpError` with the CANN error code
and a message naming the operator, the parameter, the rule and the value.
"""
from __future__ import annotations

from bce_grad.host_backend.errors import OpError


def raise_err_input_value_invalid(op_name, param_name, excepted_value, real_value):
    """E80000: the parameter should be ``excepted_value`` but is ``real_value``."""
    raise OpError("E80000", f"the parameter[{param_name}] should be [{excepted_value}], "
                  f"but actually is [{real_value}]", op_name, param_name)


def raise_err_miss_mandatory_parameter(op_name, param_name):
    """E80001: a mandatory parameter is missing."""
    raise OpError("E80001", f"the mandatory parameter[{param_name}] is missing", op_name, param_name)


def raise_err_input_param_not_in_range(op_name, param_name, min_value, max_value, value):
    """E80002: the parameter is outside [min_value, max_value]."""
    raise OpError("E80002", f"the parameter[{param_name}] should be in the range of "
                  f"[{min_value}, {max_value}], but actually is [{value}]", op_name, param_name)


def raise_err_input_dtype_not_supported(op_name, param_name, param_type, dtype):
    """E80008: the dtype is not one of ``param_type``."""
    raise OpError("E80008", f"the parameter[{param_name}] dtype should be one of [{param_type}], "
                  f"but actually is [{dtype}]", op_name, param_name)


def raise_err_check_params_rules(op_name, rule_desc, param_name, param_value):
    """E80009: the parameter breaks the rule ``rule_desc``."""
    raise OpError("E80009", f"the parameter[{param_name}] breaks the rule: {rule_desc}; "
                  f"its value is [{param_value}]", op_name, param_name)


def raise_err_input_shape_invalid(op_name, param_name, error_detail):
    """E80028-style: the shape of one input is invalid."""
    raise OpError("E80012", f"the shape of parameter[{param_name}] is invalid: {error_detail}",
                  op_name, param_name)


def raise_err_two_input_shape_invalid(op_name, param_name1, param_name2, error_detail):
    """E80017: the shapes of two inputs do not agree."""
    raise OpError("E80017", f"the shapes of parameter[{param_name1}] and parameter[{param_name2}] "
                  f"do not agree: {error_detail}", op_name, param_name2)


def raise_err_two_input_dtype_invalid(op_name, param_name1, param_name2, error_detail):
    """E80018: the dtypes of two inputs do not agree."""
    raise OpError("E80018", f"the dtypes of parameter[{param_name1}] and parameter[{param_name2}] "
                  f"do not agree: {error_detail}", op_name, param_name2)


def raise_err_specific_reson(op_name, reason):
    """E61001: an error with a specific reason (CANN's spelling of the name is kept)."""
    raise OpError("E61001", str(reason), op_name)


raise_err_specific_reason = raise_err_specific_reson
