"""``schedule.fold.constant``: what a schedule may decide in Python while it builds."""
from __future__ import annotations

import pytest
from tvm import tirx

from bce_grad.host_backend.schedule.fold import constant


def _i(value: int) -> tirx.IntImm:
    return tirx.IntImm("int64", value)


@pytest.mark.parametrize("a, b", [(7, 2), (-7, 2), (7, -2), (-7, -2), (6, 3)])
def test_div_and_mod_truncate_as_tir_defines_them(a, b):
    quotient = int(a / b)  # toward zero
    assert constant(tirx.Div(_i(a), _i(b))) == quotient
    assert constant(tirx.Mod(_i(a), _i(b))) == a - quotient * b
    assert constant(tirx.FloorDiv(_i(a), _i(b))) == a // b
    assert constant(tirx.FloorMod(_i(a), _i(b))) == a % b


def test_nested_casts_comparisons_and_likely_fold():
    expr = tirx.Cast("int32", tirx.Mul(tirx.Add(_i(3), _i(4)), tirx.Div(_i(9), _i(2))))
    assert constant(expr) == 28
    assert constant(tirx.LT(_i(1), _i(2))) == 1
    assert constant(tirx.Not(tirx.LT(_i(1), _i(2)))) == 0
    assert constant(tirx.likely(tirx.GE(_i(5), _i(5)))) == 1
    assert constant(tirx.Min(_i(3), tirx.Max(_i(1), _i(8)))) == 3


def test_anything_with_a_variable_or_a_zero_divisor_is_not_constant():
    n = tirx.Var("n", "int64")
    assert constant(n) is None
    assert constant(tirx.Add(n, _i(1))) is None
    assert constant(tirx.Mul(_i(0), n)) is None  # not folded: a schedule keeps the general code
    for op in (tirx.Div, tirx.Mod, tirx.FloorDiv, tirx.FloorMod):
        assert constant(op(_i(4), _i(0))) is None
    assert constant(tirx.BitwiseAnd(_i(6), _i(3))) is None  # not among the folded nodes
