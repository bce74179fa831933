"""CANN's ``error_manager_vector``: the ``raise_err_*`` functions operators call.

Each function raises what CANN's raises: a ``RuntimeError`` whose ``args`` are
``(args_dict, msg)``, with ``args_dict["errCode"]`` the code CANN's function uses (table
below), ``op_name``, the parameter names and values, and ``msg`` CANN's message template
filled in. The exception is a :class:`CannRuntimeError`, an
:class:`~bce_grad.host_backend.errors.OpError`, so it also carries ``code``,
``op_name`` and ``param_name``; ``str()`` gives ``[code] msg``.

One deliberate difference: where CANN's dict key and template argument disagree
(E80000 ``excepted_value``, E80008 ``expected_data_type_list``) CANN's message loses the
value; here the value is filled in. ``raise_err_input_param_not_in_range`` keeps CANN's
code E80001 with the range wording of E80002's template.

==========================================  ======
function                                    code
==========================================  ======
raise_err_input_value_invalid               E80000
raise_err_miss_mandatory_parameter          E80001
raise_err_input_param_not_in_range          E80001
raise_err_input_dtype_not_supported         E80008
raise_err_check_params_rules                E80009
raise_err_input_param_range_invalid         E80012
raise_err_input_format_invalid              E80015
raise_err_inputs_shape_not_equal            E80017
raise_err_inputs_dtype_not_equal            E80018
raise_err_input_shape_invalid               E80028
raise_err_two_input_shape_invalid           E80029
raise_err_two_input_dtype_invalid           E80030
raise_err_two_input_format_invalid          E80031
raise_err_dtype_invalid                     E60005
raise_err_pad_mode_invalid                  E60021
raise_err_specific_reson                    E61001
==========================================  ======
"""
from __future__ import annotations

from typing import Any, NoReturn

from bce_grad.host_backend.errors import OpError

#: CANN's message templates, keyed by code, with their argument names in order.
TEMPLATES = {
    "E80000": ("In op[{op_name}], the parameter[{param_name}] should be [{excepted_value}], "
               "but actually is [{real_value}]."),
    "E80001": "In op[{op_name}], the mandatory parameter[{param_name}] is missed.",
    "E80001_range": ("In op[{op_name}], the parameter[{param_name}] should be in the range of "
                     "[{min_value}, {max_value}], but actually is [{value}]."),
    "E80008": ("In op[{op_name}], the parameter[{param_name}]'s dtype should be one of "
               "[{excepted_dtype_list}], but actually is [{dtype}]."),
    "E80009": "Op[{op_name}] has rule: {rule_desc}, but [{param_name}] is [{param_value}].",
    "E80012": ("In op[{op_name}], the num of dimensions of input[{param_name}] should be in the "
               "range of [{min_value}, {max_value}], but actually is [{real_value}]."),
    "E80015": ("In op[{op_name}], the format of input[{param_name}] should be one of "
               "[{excepted_format_list}], but actually is [{format}]."),
    "E80017": ("In op[{op_name}], the parameter[{param_name1}][{param_name2}] is not match with "
               "the parameter[{param1_shape}][{param2_shape}],it should be [{expect_shape}]."),
    "E80018": ("In op[{op_name}], the parameter[{param_name1}][{param_name2}] are not equal in "
               "dtype with dtype[{param1_dtype}][{param2_dtype}]."),
    "E80028": "In op[{op_name}], the shape of input[{param_name}] is invalid, [{error_detail}].",
    "E80029": ("In op[{op_name}], the shape of inputs[{param_name1}][{param_name2}] are invalid, "
               "[{error_detail}]."),
    "E80030": ("In op[{op_name}], the dtype of inputs[{param_name1}][{param_name2}] are invalid, "
               "[{error_detail}]."),
    "E80031": ("In op[{op_name}], the format of inputs[{param_name1}][{param_name2}] are "
               "invalid, [{error_detail}]."),
    "E60005": ("The dtype of [{param_name}] of op[{op_name}] must in [{expected_dtype_list}], "
               "actual dtype is [{dtype}]"),
    "E60021": ("In op [{op_name}], only support pads model [{expected_pad_mode}], actual is "
               "[{actual_pad_mode}]"),
    "E61001": "In op [{op_name}], [{reason}]",
}


class CannRuntimeError(OpError):
    """CANN's ``RuntimeError(args_dict, msg)``, carrying :class:`OpError`'s fields too.

    Parameters
    ----------
    args_dict : dict
        ``errCode``, ``op_name`` and the values the message names.
    msg : str
        The filled-in message.
    """

    def __init__(self, args_dict: dict, msg: str) -> None:
        names = [args_dict.get(k) for k in ("param_name", "param_name2", "param_name1")]
        super().__init__(args_dict["errCode"], msg, str(args_dict.get("op_name") or ""),
                         str(next((n for n in names if n), "")))
        self.args = (args_dict, msg)
        self.args_dict = args_dict
        self.msg = msg

    def __str__(self) -> str:
        return f"[{self.code}] {self.msg}"

    def __reduce__(self):
        return (type(self), (self.args_dict, self.msg))


def raise_runtime_error(args_dict: dict, template: str | None = None) -> NoReturn:
    """Raise :class:`CannRuntimeError` for ``args_dict``, its message from the code's template."""
    text = TEMPLATES[template or args_dict["errCode"]]
    raise CannRuntimeError(args_dict, text.format_map(_Blank(args_dict)))


class _Blank(dict):
    """Format mapping: a missing value prints empty, as CANN's message builder does."""

    def __missing__(self, key: str) -> str:
        return ""


def _raise(code: str, op_name: Any, template: str | None = None, **values: Any) -> NoReturn:
    raise_runtime_error({"errCode": code, "op_name": op_name, **values}, template)


def raise_err_input_value_invalid(op_name, param_name, excepted_value, real_value) -> NoReturn:
    """E80000: the parameter should be ``excepted_value`` but is ``real_value``."""
    _raise("E80000", op_name, param_name=param_name, excepted_value=excepted_value,
           real_value=real_value)


def raise_err_miss_mandatory_parameter(op_name, param_name) -> NoReturn:
    """E80001: a mandatory parameter is missing."""
    _raise("E80001", op_name, param_name=param_name)


def raise_err_input_param_not_in_range(op_name, param_name, min_value, max_value,
                                       value) -> NoReturn:
    """E80001 (CANN's code): the parameter is outside [min_value, max_value]."""
    _raise("E80001", op_name, "E80001_range", param_name=param_name, min_value=min_value,
           max_value=max_value, value=value)


def raise_err_input_dtype_not_supported(op_name, param_name, excepted_dtype_list,
                                        dtype) -> NoReturn:
    """E80008: the dtype is not one of ``excepted_dtype_list``."""
    _raise("E80008", op_name, param_name=param_name, excepted_dtype_list=excepted_dtype_list,
           dtype=dtype)


def raise_err_check_params_rules(op_name, rule_desc, param_name, param_value) -> NoReturn:
    """E80009: the parameter breaks the operator's rule ``rule_desc``."""
    _raise("E80009", op_name, rule_desc=rule_desc, param_name=param_name,
           param_value=param_value)


def raise_err_input_param_range_invalid(op_name, param_name, min_value, max_value,
                                        real_value) -> NoReturn:
    """E80012: the rank of an input is outside [min_value, max_value]."""
    _raise("E80012", op_name, param_name=param_name, min_value=min_value, max_value=max_value,
           real_value=real_value)


def raise_err_input_format_invalid(op_name, param_name, excepted_format_list,
                                   actual_format) -> NoReturn:
    """E80015: the format of an input is not one of ``excepted_format_list``."""
    _raise("E80015", op_name, param_name=param_name, excepted_format_list=excepted_format_list,
           format=actual_format)


def raise_err_inputs_shape_not_equal(op_name, param_name1, param_name2, param1_shape,
                                     param2_shape, expect_shape) -> NoReturn:
    """E80017: two inputs should have one shape."""
    _raise("E80017", op_name, param_name1=param_name1, param_name2=param_name2,
           param1_shape=param1_shape, param2_shape=param2_shape, expect_shape=expect_shape)


def raise_err_inputs_dtype_not_equal(op_name, param_name1, param_name2, param1_dtype,
                                     param2_dtype) -> NoReturn:
    """E80018: two inputs should have one dtype."""
    _raise("E80018", op_name, param_name1=param_name1, param_name2=param_name2,
           param1_dtype=param1_dtype, param2_dtype=param2_dtype)


def raise_err_input_shape_invalid(op_name, param_name, error_detail) -> NoReturn:
    """E80028: the shape of one input is invalid."""
    _raise("E80028", op_name, param_name=param_name, error_detail=error_detail)


def raise_err_two_input_shape_invalid(op_name, param_name1, param_name2,
                                      error_detail) -> NoReturn:
    """E80029: the shapes of two inputs do not fit together."""
    _raise("E80029", op_name, param_name1=param_name1, param_name2=param_name2,
           error_detail=error_detail)


def raise_err_two_input_dtype_invalid(op_name, param_name1, param_name2,
                                      error_detail) -> NoReturn:
    """E80030: the dtypes of two inputs do not fit together."""
    _raise("E80030", op_name, param_name1=param_name1, param_name2=param_name2,
           error_detail=error_detail)


def raise_err_two_input_format_invalid(op_name, param_name1, param_name2,
                                       error_detail) -> NoReturn:
    """E80031: the formats of two inputs do not fit together."""
    _raise("E80031", op_name, param_name1=param_name1, param_name2=param_name2,
           error_detail=error_detail)


def raise_err_dtype_invalid(op_name, param_name, expected_list, dtype) -> NoReturn:
    """E60005: the dtype of a parameter is not in ``expected_list``."""
    _raise("E60005", op_name, param_name=param_name, expected_dtype_list=expected_list,
           dtype=dtype)


def raise_err_pad_mode_invalid(op_name, expected_pad_mode, actual_pad_mode) -> NoReturn:
    """E60021: an unsupported pad mode."""
    _raise("E60021", op_name, expected_pad_mode=expected_pad_mode,
           actual_pad_mode=actual_pad_mode)


def raise_err_specific_reson(op_name, reason) -> NoReturn:
    """E61001: an error with a specific reason (CANN's spelling of the name is kept)."""
    _raise("E61001", op_name, reason=reason)


raise_err_specific_reason = raise_err_specific_reson
