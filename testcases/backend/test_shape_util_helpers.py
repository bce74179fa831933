"""CANN's ``shape_util`` helpers that canndev's elementwise operators call (issue 28): values,
the order of the results, and the refusal of the forms the host cannot run."""
from __future__ import annotations

import pytest

from bce_grad.cann_compat.errors import UnsupportedApiError
from bce_grad.host_backend import shape_util


@pytest.mark.parametrize("shape, want", [([], [1]), ((), [1]), ([3], [3]), ((2, 1), (2, 1)),
                                         (5, 5)])
def test_scalar2tensor_one(shape, want):
    assert shape_util.scalar2tensor_one(shape) == want


@pytest.mark.parametrize("shape, want", [([2, 1, 3], [2, 3]), ([1, 1], [1]), ([], [1]),
                                         ((4, 5), [4, 5])])
def test_shape_refine_drops_the_ones(shape, want):
    assert shape_util.shape_refine(shape) == want


def test_shape_refine_refuses_the_reduce_form():
    with pytest.raises(UnsupportedApiError, match=r"shape_refine\(shape, reduce_axis\)"):
        shape_util.shape_refine([2, 3], reduce_axis=[1])


@pytest.mark.parametrize("shape1, shape2, want1, want2", [
    # equal shapes fuse into one axis
    ([2, 3, 4], [2, 3, 4], [24], [24]),
    # a row broadcast: the equal leading axes fuse, the broadcast axis stays apart
    ([6, 5], [1, 5], [6, 5], [1, 5]),
    ([4, 6, 5], [4, 1, 5], [4, 6, 5], [4, 1, 5]),
    # consecutive axes broadcast from the same side fuse
    ([6, 7, 5], [1, 1, 5], [42, 5], [1, 5]),
    # the shorter shape gets leading 1s; axes of 1 in both are dropped
    ([3, 1, 4], [4], [3, 4], [1, 4]),
    ([1, 1], [1], [1], [1]),
    # the results follow the arguments' order when the first is shorter
    ([5], [6, 5], [1, 5], [6, 5]),
    # broadcast from alternating sides stays apart
    ([1, 6], [5, 1], [1, 6], [5, 1]),
])
def test_refine_shapes_for_broadcast(shape1, shape2, want1, want2):
    got1, got2 = shape_util.refine_shapes_for_broadcast(shape1, shape2)
    assert (got1, got2) == (want1, want2)
    # the fused shapes still broadcast element for element like the originals
    assert len(got1) == len(got2)
    for a, b in zip(got1, got2):
        assert a == b or 1 in (a, b)


def test_compare_tensor_dict_key():
    a = {"shape": (2, 3), "dtype": "Float16"}
    shape_util.compare_tensor_dict_key(a, {"shape": [2, 3], "dtype": "float16"}, "shape")
    shape_util.compare_tensor_dict_key(a, {"shape": [2, 3], "dtype": "float16"}, "dtype")
    with pytest.raises(RuntimeError, match="not equal in shape"):
        shape_util.compare_tensor_dict_key(a, {"shape": [3, 2]}, "shape")
    with pytest.raises(RuntimeError, match="no value for dtype in dict2"):
        shape_util.compare_tensor_dict_key(a, {"shape": [2, 3]}, "dtype")
    with pytest.raises(RuntimeError, match="types are inconsistent"):
        shape_util.compare_tensor_dict_key(a, {"shape": "2,3"}, "shape")
    with pytest.raises(RuntimeError, match="dict1 is not dict"):
        shape_util.compare_tensor_dict_key([1], a, "shape")


@pytest.mark.parametrize("shape, axes, want_shape, want_axes", [
    ((2, 3, 4, 5, 6), (1, -3), [2, 12, 30], [1]),
    ((2, 3, 4), 0, [2, 12], [0]),
    ((2, 1, 3, 4), [2, 3], [2, 12], [1]),  # the dim of 1 is dropped first
    ((4, 5), [0, 1], [20], [0]),
    ((1, 1), [0], [1], []),
    ((7,), [0], (7,), [0]),  # rank 1 comes back as it is
])
def test_refine_shape_axes(shape, axes, want_shape, want_axes):
    assert shape_util.refine_shape_axes(shape, axes) == (want_shape, want_axes)


def test_refine_shape_axes_refuses_an_axis_out_of_range():
    with pytest.raises(RuntimeError, match=r"between \[-2, 2\)"):
        shape_util.refine_shape_axes((2, 3), [2])


@pytest.mark.parametrize("shape, want", [([1], True), ((1,), True), ([2], False), ([1, 1], False),
                                         ([], False), (1, False)])
def test_para_check_is_scalar(shape, want):
    from bce_grad.host_backend import para_check

    assert para_check.is_scalar(shape) is want
