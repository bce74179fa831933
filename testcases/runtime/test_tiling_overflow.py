"""Every tiling refuses an element count that int64 cannot hold, with E80002 naming the input.

The C++ tiling merged such dims into a wrapped-around product (a negative canonical dim) and the
Python tiling returned a coefficient for it, though no kernel can index that many elements.
"""
from __future__ import annotations

import pytest

from bce_grad.host_backend.errors import OpError
from impl.dynamic.binary_cross_entropy_grad import binary_cross_entropy_grad_tiling

INT64_MAX = 2**63 - 1
#: (shapes, the input refused): x first; the product of the dims of one input passes 2**63.
OVERFLOWS = [
    ([(2**40, 2**40), (2**40, 2**40), (1,)], "x"),
    ([(2**31, 2**31, 2**2), (1,), (1,)], "x"),
    ([(2, 3), (2**62, 4), (1,)], "y"),
    ([(1,), (1,), (1,), (2**33, 2**33, 1, 2**3)], "weight"),
]


def _python_tiling(shapes, reduction="mean"):
    inputs = [{"shape": list(s), "dtype": "float32"} for s in shapes]
    return binary_cross_entropy_grad_tiling(inputs, [{"shape": list(shapes[0])}],
                                            {"reduction": reduction},
                                            {"reduce_mean_cof_dtype": "float32"})


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize(("shapes", "name"), OVERFLOWS)
def test_native_tiling_refuses_overflowing_element_count(runtime_library, shapes, name, reduction):
    from bce_grad.runtime import load_library, tiling

    with pytest.raises(OpError, match=rf"^\[E80002\] In op\[binary_cross_entropy_grad\], the "
                                      rf"parameter\[{name}\] should be in the range of \[0, "
                                      rf"{INT64_MAX}\], but actually is \[more than {INT64_MAX} "
                                      rf"elements \(shape .*\); its element count must fit "
                                      rf"int64\]") as info:
        tiling(shapes, reduction, lib=load_library(runtime_library))
    assert info.value.code == "E80002"


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize(("shapes", "name"), OVERFLOWS)
def test_python_tiling_refuses_overflowing_element_count(shapes, name, reduction):
    with pytest.raises(RuntimeError, match=rf"^\[E80002\] In op\[binary_cross_entropy_grad\], "
                                           rf"the parameter\[{name}\] should be in the range of "
                                           rf"\[0, {INT64_MAX}\], but actually is \[\d+ elements "
                                           rf"\(shape .*\); its element count must fit "
                                           rf"int64\]") as info:
        _python_tiling(shapes, reduction)
    assert info.value.args[0]["errCode"] == "E80002"
    assert info.value.args[0]["param_name"] == name


def test_tilings_keep_the_largest_counts_that_fit(runtime_library):
    from bce_grad.runtime import load_library, tiling

    shapes = [(2**31, 2**31, 1), (1, 2**31, 1), (1,)]  # 2**62 elements: fits
    pattern, cof = tiling(shapes, "mean", lib=load_library(runtime_library))
    assert pattern == [(2**31, 2**31), (1, 2**31), (1, 1)]
    assert cof == 2.0**-62
    assert _python_tiling(shapes) == {"cof": 2.0**-62, "cof_empty": 0.0}
    assert tiling([(INT64_MAX,)], "sum", lib=load_library(runtime_library)) == ([(INT64_MAX,)], None)
    assert _python_tiling([(INT64_MAX,)], "sum") == {}
