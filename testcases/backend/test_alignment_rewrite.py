"""The alignment rewrite reads dtypes and ranks from the function, never from printed text."""
from __future__ import annotations

import pytest

from bce_grad.host_backend.schedule.alignment import _align_buffers

HEAD = ('@T.prim_func(s_tir=True)\n'
        'def main(a: T.Buffer((n, 16), "float16", scope="global"), '
        'b: T.Buffer((16,), T.bfloat16), c: T.Buffer((n, 16), "float32")')
PARAMS = [("a", "float16", 2), ("b", "bfloat16", 1), ("c", "float32", 2)]


def test_alignment_and_strides_come_from_the_parameters():
    """Keywords after the dtype and another dtype spelling used to give a wrong or no dtype."""
    out, new_vars = _align_buffers(HEAD, PARAMS, {"a", "b"})
    assert 'T.Buffer((n, 16), "float16", scope="global", strides=(a_stride_0, a_stride_1,), ' \
           'align=2)' in out
    assert "T.Buffer((16,), T.bfloat16, strides=(b_stride_0,), align=2)" in out
    assert 'T.Buffer((n, 16), "float32", align=4)' in out
    assert new_vars == ["a_stride_0", "a_stride_1", "b_stride_0"]


def test_a_signature_that_does_not_match_the_parameters_fails_loudly():
    renamed = HEAD.replace("b: T.Buffer", "z: T.Buffer")
    with pytest.raises(RuntimeError, match=r"argument \[b\] should come next, but found \[z\]"):
        _align_buffers(renamed, PARAMS, set())
    with pytest.raises(RuntimeError, match="more T.Buffer arguments"):
        _align_buffers(HEAD, PARAMS[:2], set())
