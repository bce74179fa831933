"""bce_grad/infer_shape.py (the Python twin of op_proto/): the output copies x's shape, dtype and range."""
from __future__ import annotations

import pytest

from bce_grad.host_backend.errors import OpError
from bce_grad.infer_shape import infer_shape


def test_static_shape_copies_x():
    out = infer_shape({"shape": (4, 5), "dtype": "float16", "format": "ND"},
                      y={"shape": (1, 5), "dtype": "float32"}, reduction="sum")
    assert out == {"shape": (4, 5), "dtype": "float16", "range": [(4, 4), (5, 5)],
                   "format": "ND", "ori_shape": (4, 5), "ori_format": "ND"}


def test_dynamic_dims_keep_x_range():
    # The canndev proto UT case: (-1, 8, 375) with ranges (15,16), (8,8), (375,375).
    x = {"shape": [-1, 8, 375], "dtype": "float32", "range": [(15, 16), (8, 8), (375, 375)]}
    out = infer_shape(x)
    assert out["shape"] == (-1, 8, 375)
    assert out["range"] == [(15, 16), (8, 8), (375, 375)]
    assert out["dtype"] == "float32"


def test_missing_range_is_made_up():
    assert infer_shape({"shape": (-1, 3), "dtype": "bfloat16"})["range"] == [(1, None), (3, 3)]


def test_unknown_rank_stays_unknown():
    out = infer_shape({"shape": (-2,), "dtype": "float16", "range": [(1, 2)]})
    assert out["shape"] == (-2,)
    assert out["range"] == []


def test_scalar_and_empty():
    assert infer_shape({"shape": (), "dtype": "float16"})["shape"] == ()
    assert infer_shape({"shape": (2, 0), "dtype": "float16"})["range"] == [(2, 2), (0, 0)]


@pytest.mark.parametrize("x, pattern", [
    ([2, 3], "x must be a tensor description dict"),
    ({"dtype": "float16"}, "x has no 'shape'"),
    ({"shape": (2,)}, "x has no 'dtype'"),
    ({"shape": (2, -3), "dtype": "float16"}, r"dims must be ints >= -1"),
    ({"shape": "2,3", "dtype": "float16"}, "must be a list or tuple"),
])
def test_bad_x_is_rejected(x, pattern):
    with pytest.raises(OpError, match=pattern) as info:
        infer_shape(x)
    assert info.value.code == "E80000" and info.value.param_name == "x"
