"""Every path refuses what the real kernel refuses: torch's fake (meta) kernel and TF's graph
construction apply the runtime's broadcast, reduction and dtype rules with the same CANN codes.

Before, the fake kernel returned x's shape for y (4, 3) against x (2, 3) and for reduction=7, and a
tf.function with static shapes built such a graph (it failed only when run).
MindSpore's C++ shape inference and its reduction check are covered in test_mindspore.py.
"""
from __future__ import annotations

import re

import pytest

CODE = re.compile(r"\[(E\d{5})\] In op")

#: (grad_output, x, y, weight) shapes, reduction, dtype of x, the code the real kernel gives.
REFUSED = {
    "y_does_not_broadcast": (((2, 3), (2, 3), (4, 3), None), 1, "float32", "E80029"),
    "weight_rank_above_x": (((2, 3), (2, 3), (2, 3), (2, 2, 3)), 1, "float32", "E80029"),
    "x_smaller_than_y": (((2, 3), (3,), (2, 3), None), 0, "float32", "E80029"),
    "reduction_7": (((2, 3), (2, 3), (2, 3), None), 7, "float32", "E80009"),
    "reduction_minus_1": (((2, 3), (2, 3), (2, 3), None), -1, "float32", "E80009"),
    "x_float64": (((2, 3), (2, 3), (2, 3), None), 1, "float64", "E80008"),
}


def _refusal(call) -> tuple[type, str, str]:
    with pytest.raises(Exception) as info:
        call()
    message = str(info.value)
    match = CODE.search(message)  # tf.function's tracing puts its traceback first
    assert match, message
    return type(info.value), match.group(1), message


@pytest.mark.torch
@pytest.mark.parametrize("case", REFUSED)
def test_torch_fake_and_meta_refuse_as_the_kernel(torch_bce, case):
    import torch
    from torch._subclasses.fake_tensor import FakeTensorMode

    shapes, reduction, x_dtype, code = REFUSED[case]
    dtypes = [torch.float32, getattr(torch, x_dtype), torch.float32, torch.float32]
    real = [None if s is None else torch.rand(s, dtype=d) for s, d in zip(shapes, dtypes)]
    op = torch.ops.bce_grad.binary_cross_entropy_backward

    kind, got, message = _refusal(lambda: op(*real, reduction))
    assert got == code, message

    def fake_call():
        with FakeTensorMode() as mode:
            op(*[None if t is None else mode.from_tensor(t) for t in real], reduction)

    meta = [None if t is None else t.to("meta") for t in real]
    for call in (fake_call, lambda: op(*meta, reduction)):
        fake_kind, fake_code, fake_message = _refusal(call)
        assert (fake_kind, fake_code) == (kind, code), fake_message
        if code == "E80029":  # the same words as the runtime's
            assert fake_message == message


@pytest.mark.torch
def test_torch_fake_still_infers_good_calls(torch_bce):
    import torch
    from torch._subclasses.fake_tensor import FakeTensorMode

    op = torch.ops.bce_grad.binary_cross_entropy_backward
    with FakeTensorMode() as mode:
        args = [mode.from_tensor(torch.rand(s, dtype=d)) for s, d in
                [((6, 1), torch.float16), ((6, 5), torch.float16), ((5,), torch.bfloat16),
                 ((1, 5), torch.float16)]]
        out = op(*args, 2)
    assert out.shape == (6, 5) and out.dtype == torch.float32


@pytest.mark.torch
def test_torch_compile_dynamic_shapes_pass_the_check(torch_bce):
    import torch

    op = torch.ops.bce_grad.binary_cross_entropy_backward
    compiled = torch.compile(lambda g, x, y: op(g, x, y, None, 1), dynamic=True, backend="eager")
    x = torch.rand(6, 5)
    assert compiled(torch.ones(6, 1), x, torch.rand(1, 5)).shape == (6, 5)  # the grid's
    with pytest.raises(Exception, match=r"\[E80029\]"):
        compiled(torch.ones(6, 5), x, torch.rand(4, 5))


@pytest.mark.tensorflow
@pytest.mark.parametrize("case", [c for c, v in REFUSED.items() if v[2] == "float32"])
def test_tf_function_with_static_shapes_refuses_when_built(tf_bce_graph, case):
    tf, bce, eager_refusal = tf_bce_graph
    shapes, reduction, _, code = REFUSED[case]
    reduction = {0: "none", 1: "mean", 2: "sum"}.get(reduction, reduction)
    specs = [tf.TensorSpec(s, tf.float32) for s in shapes if s is not None]
    weighted = shapes[3] is not None

    @tf.function(input_signature=specs)
    def graph(g, x, y, *w):
        return bce.binary_cross_entropy_grad(x, y, g, w[0] if weighted else None, reduction)

    kind, got, message = _refusal(graph.get_concrete_function)  # tracing: no run
    assert (kind, got) == (tf.errors.InvalidArgumentError, code), message
    want_kind, want_code, want_message = eager_refusal(shapes, reduction)
    assert (want_kind, want_code) == (kind, code)
    if code == "E80029":
        assert want_message.split(" [Op:")[0] in message  # eager adds the op's name


@pytest.mark.tensorflow
def test_tf_function_with_unknown_dims_builds_and_checks_at_run_time(tf_bce_graph):
    tf, bce, _ = tf_bce_graph

    @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32)] * 2
                 + [tf.TensorSpec(None, tf.float32)])
    def graph(g, x, y):
        return bce.binary_cross_entropy_grad(x, y, g, None, "mean")

    concrete = graph.get_concrete_function()
    assert concrete.output_shapes.as_list() == [None, 3]
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"\[E80029\]"):
        graph(tf.ones([2, 3]), tf.ones([2, 3]), tf.ones([4, 3]))


@pytest.fixture(scope="module")
def tf_bce_graph(tmp_path_factory):
    tf = pytest.importorskip("tensorflow", reason="TensorFlow is not installed (pip install "
                             "'bce-grad[tensorflow]')")
    from testcases.frameworks.tf_support import cold_start

    cold_start(tf, tmp_path_factory)
    import bce_grad.tensorflow as bce

    def eager_refusal(shapes, reduction):
        g, x, y, w = [None if s is None else tf.ones(s) for s in shapes]
        return _refusal(lambda: bce.binary_cross_entropy_grad(x, y, g, w, reduction))

    return tf, bce, eager_refusal
