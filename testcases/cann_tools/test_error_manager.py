"""error_manager_vector and para_check raise what CANN's raise: codes, args and messages."""
from __future__ import annotations

import pickle

import pytest

from bce_grad.host_backend import error_manager_vector as emv
from bce_grad.host_backend import para_check
from bce_grad.host_backend.errors import OpError

CODES = [
    (emv.raise_err_input_value_invalid, ("op", "p", "a", "b"), "E80000"),
    (emv.raise_err_miss_mandatory_parameter, ("op", "p"), "E80001"),
    (emv.raise_err_input_param_not_in_range, ("op", "p", 1, 2, 3), "E80001"),
    (emv.raise_err_input_dtype_not_supported, ("op", "p", "float16", "int8"), "E80008"),
    (emv.raise_err_check_params_rules, ("op", "rule", "p", "v"), "E80009"),
    (emv.raise_err_input_param_range_invalid, ("op", "p", 0, 8, 9), "E80012"),
    (emv.raise_err_input_format_invalid, ("op", "p", "ND", "NCHW"), "E80015"),
    (emv.raise_err_inputs_shape_not_equal, ("op", "a", "b", [1], [2], [1]), "E80017"),
    (emv.raise_err_inputs_dtype_not_equal, ("op", "a", "b", "f16", "f32"), "E80018"),
    (emv.raise_err_input_shape_invalid, ("op", "p", "detail"), "E80028"),
    (emv.raise_err_two_input_shape_invalid, ("op", "a", "b", "detail"), "E80029"),
    (emv.raise_err_two_input_dtype_invalid, ("op", "a", "b", "detail"), "E80030"),
    (emv.raise_err_two_input_format_invalid, ("op", "a", "b", "detail"), "E80031"),
    (emv.raise_err_dtype_invalid, ("op", "p", ["float16"], "int8"), "E60005"),
    (emv.raise_err_pad_mode_invalid, ("op", "CONSTANT", "EDGE"), "E60021"),
    (emv.raise_err_specific_reson, ("op", "why"), "E61001"),
]


@pytest.mark.parametrize(("func", "args", "code"), CODES, ids=[c[0].__name__ for c in CODES])
def test_codes_and_cann_exception_shape(func, args, code):
    with pytest.raises(RuntimeError) as err:
        func(*args)
    args_dict, msg = err.value.args
    assert args_dict["errCode"] == code and args_dict["op_name"] == "op"
    assert isinstance(err.value, OpError) and err.value.code == code
    assert str(err.value) == f"[{code}] {msg}"
    assert pickle.loads(pickle.dumps(err.value)).args == err.value.args


def test_message_templates():
    with pytest.raises(RuntimeError) as err:
        emv.raise_err_check_params_rules("bce", "reduction should be mean", "reduction", "avg")
    assert err.value.args[1] == "Op[bce] has rule: reduction should be mean, but [reduction] is [avg]."
    with pytest.raises(RuntimeError) as err:
        emv.raise_err_two_input_shape_invalid("bce", "x", "y", "does not broadcast to x")
    assert err.value.args[1] == ("In op[bce], the shape of inputs[x][y] are invalid, "
                                 "[does not broadcast to x].")
    assert err.value.param_name == "y"


@pytest.mark.parametrize(("args", "kwargs", "code"), [
    (([1] * 9,), {"param_name": "x"}, "E80012"),
    (([2, -3],), {}, "E80002"),
    (([2, "a"],), {}, "E80003"),
    (("2",), {}, "E80003"),
    (([2, 0], 1), {}, "E80002"),          # min_dim is CANN's second positional
    (([2, 3], 0, 100, 3), {}, "E80012"),  # then max_dim, min_rank
    (([2, 3], 0, 100, 0, 8, 7), {}, "E80011"),  # then max_rank, min_size
])
def test_check_shape_positional_order_and_codes(args, kwargs, code):
    with pytest.raises(RuntimeError) as err:
        para_check.check_shape(*args, **kwargs)
    assert err.value.args[0]["errCode"] == code


def test_check_shape_accepts_dynamic_shapes():
    para_check.check_shape([-1, 8])
    para_check.check_shape([-2])
    para_check.check_shape([])
