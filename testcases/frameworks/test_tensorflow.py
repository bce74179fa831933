"""bce_grad.tensorflow: the TF op against the numpy API (bit for bit) and TF's own BCE gradient.

Grid: dtype x reduction x weight on one broadcast pattern (conftest.GRID_SHAPES: y a row,
grad_output a column, weight a row). Every test is marked ``tensorflow`` and skips, with the
reason, where TensorFlow is not installed.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from testcases.frameworks.conftest import DTYPES, run_in_threads
from testcases.frameworks.tf_support import (
    LOSS_SHAPE, PYTHON_NODES, REDUCTIONS, assert_bit_exact, cold_start, grid_arrays,
    keras_backward, keras_tolerance, numpy_api,
)

tf = pytest.importorskip("tensorflow", reason="TensorFlow is not installed (pip install "
                         "'bce-grad[tensorflow]')")
keras = pytest.importorskip("keras", reason="keras (installed with TensorFlow) is missing")

pytestmark = pytest.mark.tensorflow
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tf_bce(tmp_path_factory):
    """``bce_grad.tensorflow`` on a small package, reached cold from 4 threads."""
    return cold_start(tf, tmp_path_factory)


def op(x, y, g, w, reduction):
    import bce_grad.tensorflow as bce

    args = [None if a is None else tf.constant(a) for a in (x, y, g, w)]
    return bce.binary_cross_entropy_grad(*args, reduction=reduction).numpy()


def graph_ops(concrete) -> set[str]:
    """Every node type of a concrete function's graph, its function library included."""
    graph = concrete.graph.as_graph_def()
    kinds = {node.op for node in graph.node}
    for function in graph.library.function:
        kinds |= {node.op for node in function.node_def}
    return kinds


def test_op_definition_is_the_generated_plugins(tf_bce):
    """The registered OpDef matches bce_grad/tools/deploy's TF plugin (inputs, output, T, reduction)."""
    from bce_grad.tools.deploy.frameworks import tf_op_registration

    text = tf_op_registration()
    block = text[text.index('REGISTER_OP("BinaryCrossEntropyGrad")'):text.index(".SetShapeFn")]
    inputs = re.findall(r'\.Input\("(\w+): T"\)', block)
    output = re.findall(r'\.Output\("(\w+): T"\)', block)
    types = re.search(r'\.Attr\("T: \{([^}]*)\}"\)', block).group(1).split(", ")
    reductions = re.search(r"\.Attr\(\"reduction: \{([^}]*)\} = '(\w+)'\"\)", block)
    from tensorflow.python.framework import op_def_registry

    tf_bce["module"].load_library()
    opdef = op_def_registry.get("BinaryCrossEntropyGrad")
    assert [a.name for a in opdef.input_arg] == inputs == ["x", "y", "grad_output", "weight"]
    assert [a.name for a in opdef.output_arg] == output
    attrs = {a.name: a for a in opdef.attr}
    assert [tf.as_dtype(t).name for t in attrs["T"].allowed_values.list.type] == \
        [tf.as_dtype(n).name for n in types]
    assert list(attrs["reduction"].allowed_values.list.s) == \
        [v.strip("'").encode() for v in reductions.group(1).split(", ")]
    assert attrs["reduction"].default_value.s == reductions.group(2).encode()


@pytest.mark.parametrize("with_weight", [False, True], ids=["no_weight", "weight"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_bit_exact_to_numpy_api(tf_bce, dtype, reduction, with_weight):
    g, x, y, w = grid_arrays(dtype, with_weight, seed=1)
    assert_bit_exact(op(x, y, g, w, reduction), numpy_api(g, x, y, w, reduction))


@pytest.mark.parametrize("with_weight", [False, True], ids=["no_weight", "weight"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_close_to_keras_backward(tf_bce, dtype, reduction, with_weight):
    """Against keras's BCE gradient (GradientTape through clip and log), elementwise.

    keras computes ``-y / x + (1 - y) / (1 - x)`` times the upstream ``g * w * c`` in the storage
    dtype, each of its ~8 operations (1 - y, 1 - x, two reciprocals, two products, the sum, the
    upstream's 2-3 products) rounding by at most u (the unit roundoff: 2**-24, 2**-11, 2**-8),
    and its two terms cancel where x is near y, so its error is bounded by about
    8 u |g w c| (y / x + (1 - y) / (1 - x)), not by u |result|; this op rounds once from float32
    (u |result|). The test allows 10 u |g w c| (y / x + (1 - y) / (1 - x)) + u |result|.
    x stays in [0.02, 0.98]: keras clips it to [1e-7, 1 - 1e-7] (1 - 1e-7 is 1.0 in float16),
    and at x in {0, 1} its gradient is 0 where this op's is not.
    """
    g, x, y, w = grid_arrays(dtype, with_weight, seed=2, boundary=False)
    ours = op(x, y, g, w, reduction)
    theirs = keras_backward(tf, keras, g, x, y, w, reduction)
    assert ours.dtype == theirs.dtype and ours.shape == theirs.shape == x.shape
    diff = np.abs(ours.astype(np.float64) - theirs.astype(np.float64))
    bound = keras_tolerance(dtype, g, x, y, w, reduction, ours)
    assert np.all(diff <= bound), (diff - bound).max()


def _loss_inputs(dtype, seed, with_weight):
    rng = np.random.default_rng(seed)
    cast = {"float16": np.float16, "float32": np.float32}.get(dtype)
    if cast is None:
        import ml_dtypes

        cast = ml_dtypes.bfloat16
    x = (rng.random(LOSS_SHAPE, dtype=np.float32) * 0.9 + 0.05).astype(cast)
    y = rng.random(LOSS_SHAPE, dtype=np.float32).astype(cast)
    w = (rng.random(LOSS_SHAPE, dtype=np.float32) + 0.5).astype(cast) if with_weight else None
    return x, y, w


@pytest.mark.parametrize("dtype, with_weight", [("float32", False), ("float32", True),
                                                ("float16", False), ("bfloat16", False)])
def test_forward_and_gradient_eager_and_in_tf_function(tf_bce, dtype, with_weight):
    """The loss is torch's formula; its tape gradient is the op, eager and in tf.function."""
    bce = tf_bce["module"]
    x, y, w = _loss_inputs(dtype, 3, with_weight)
    xt, yt = tf.constant(x), tf.constant(y)
    wt = None if w is None else tf.constant(w)

    def step(x_, y_, w_):
        with tf.GradientTape() as tape:
            tape.watch([x_, y_] + ([] if w_ is None else [w_]))
            loss = bce.binary_cross_entropy(x_, y_, w_)
        return loss, tape.gradient(loss, [x_, y_] + ([] if w_ is None else [w_]))

    eager_loss, eager_grads = step(xt, yt, wt)
    graph_loss, graph_grads = tf.function(step)(xt, yt, wt)
    # the x gradient is the op itself, given the mean's 0-d upstream gradient of one
    want = op(x, y, np.ones((), x.dtype), w, "mean")
    assert_bit_exact(eager_grads[0].numpy(), want)
    assert_bit_exact(graph_grads[0].numpy(), want)
    assert_bit_exact(graph_loss.numpy(), eager_loss.numpy())
    # float64 references: the loss, and the y / weight gradients
    x64, y64 = x.astype(np.float64), y.astype(np.float64)
    w64 = np.ones_like(x64) if w is None else w.astype(np.float64)
    terms = -(y64 * np.log(x64) + (1 - y64) * np.log1p(-x64))
    rtol = {"float32": 1e-5, "float16": 2e-3, "bfloat16": 1.6e-2}[dtype]
    np.testing.assert_allclose(eager_loss.numpy().astype(np.float64), (w64 * terms).mean(),
                               rtol=rtol)
    np.testing.assert_allclose(eager_grads[1].numpy().astype(np.float64),
                               w64 * (np.log1p(-x64) - np.log(x64)) / x.size, rtol=rtol, atol=0)
    if w is not None:
        np.testing.assert_allclose(eager_grads[2].numpy().astype(np.float64), terms / x.size,
                                   rtol=rtol, atol=0)


def test_graph_holds_the_op_and_no_python_node(tf_bce):
    bce = tf_bce["module"]
    spec = tf.TensorSpec([None, 5], tf.float32)

    @tf.function(input_signature=[spec, spec])
    def train_step(x, y):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = bce.binary_cross_entropy(x, y)
        return tape.gradient(loss, x)

    @tf.function(input_signature=[spec, spec, spec])
    def backward(x, y, g):
        return bce.binary_cross_entropy_grad(x, y, g, reduction="none")

    for concrete in (train_step.get_concrete_function(), backward.get_concrete_function()):
        kinds = graph_ops(concrete)
        assert "BinaryCrossEntropyGrad" in kinds, sorted(kinds)
        assert not kinds & PYTHON_NODES, sorted(kinds & PYTHON_NODES)
    x, y, _ = _loss_inputs("float32", 4, False)
    assert_bit_exact(train_step(x, y).numpy(), op(x, y, np.float32(1), None, "mean"))


_RELOAD = r"""
import json, sys
import numpy as np
import tensorflow as tf
path, x, y = sys.argv[1], np.load(sys.argv[2]), np.load(sys.argv[3])
try:
    tf.saved_model.load(path)
    before = "loaded"
except Exception as err:  # the op is not registered in this process yet
    before = type(err).__name__ + ": " + str(err)[:300]
import bce_grad.tensorflow
bce_grad.tensorflow.load_library()
model = tf.saved_model.load(path)
loss, grad = model.train_step(tf.constant(x), tf.constant(y))
np.save(sys.argv[4], grad.numpy())
print(json.dumps({"before": before, "loss": float(loss)}))
"""


def test_saved_model_reloads_in_a_fresh_process(tf_bce, tmp_path):
    bce = tf_bce["module"]
    spec = tf.TensorSpec([None, 5], tf.float32)

    class Trainer(tf.Module):
        @tf.function(input_signature=[spec, spec])
        def train_step(self, x, y):
            with tf.GradientTape() as tape:
                tape.watch(x)
                loss = bce.binary_cross_entropy(x, y)
            return loss, tape.gradient(loss, x)

    trainer = Trainer()
    x, y, _ = _loss_inputs("float32", 5, False)
    loss, grad = trainer.train_step(tf.constant(x), tf.constant(y))
    path = tmp_path / "model"
    tf.saved_model.save(trainer, str(path))
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    env = dict(os.environ, BCE_GRAD_PACKAGE=str(tf_bce["package"]),
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    done = subprocess.run([sys.executable, "-c", _RELOAD, str(path), str(tmp_path / "x.npy"),
                           str(tmp_path / "y.npy"), str(tmp_path / "grad.npy")],
                          capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert "BinaryCrossEntropyGrad" in report["before"], report["before"]
    assert report["loss"] == float(loss.numpy())
    assert_bit_exact(np.load(tmp_path / "grad.npy"), grad.numpy())
    assert_bit_exact(grad.numpy(), op(x, y, np.float32(1), None, "mean"))


def test_four_threads_on_cold_caches(tf_bce):
    """The module's cold start (tf_support.cold_start): 4 builders, one library; 4 first calls
    on a fresh package, bit-exact."""
    libraries = tf_bce["libraries"]
    assert len(set(libraries)) == 1
    root = tf_bce["cache_root"]
    assert [p.name for p in root.glob("libbce_grad_tf-*.so")] == [libraries[0].name]
    assert not list(root.glob(".build.*"))
    for (dtype, _, (g, x, y, w)), result in tf_bce["first_calls"]:
        assert_bit_exact(result, numpy_api(g, x, y, w, "mean"))


def test_four_threads_call_concurrently(tf_bce):
    cases = [grid_arrays(DTYPES[i % 3], bool(i % 2), seed=10 + i) for i in range(4)]
    want = [numpy_api(*c, "sum") for c in cases]
    bce = tf_bce["module"]
    graph = tf.function(lambda x, y, g, w: bce.binary_cross_entropy_grad(x, y, g, w, "sum"))
    errors = []

    def work(i):
        try:
            g, x, y, w = cases[i]
            args = [tf.constant(a) for a in (x, y, g)] + [None if w is None else tf.constant(w)]
            for _ in range(25):
                assert_bit_exact(bce.binary_cross_entropy_grad(*args, reduction="sum").numpy(),
                                 want[i])
                assert_bit_exact(graph(*args).numpy(), want[i])
        except Exception as err:  # noqa: BLE001 - reported by the main thread
            errors.append(err)

    run_in_threads(work, 4)
    assert not errors, errors[0]


@pytest.mark.parametrize("mutate, pattern", [
    (lambda a: a.update(y=np.random.rand(6, 3).astype(np.float32)),
     r"\[E800\d\d\] In op\[binary_cross_entropy_grad\], .*\[6, 3\] of y should "
     r"broadcast to the shape \[6, 5\] of x"),
    (lambda a: a.update(reduction="average"),
     r"\[E80009\] In op\[binary_cross_entropy_grad\], the parameter\[reduction\] should be one "
     r"of \['none', 'mean', 'sum'\].* but actually is \['average'\]"),
    (lambda a: a.update(x=a["x"].astype(np.float64)),
     r"\[E80008\] In op\[binary_cross_entropy_grad\], the parameter\[x\] dtype should be one "
     r"of \['float16', 'float32', 'bfloat16'\].* but actually is \[float64\]"),
], ids=["shape", "reduction", "float64"])
@pytest.mark.parametrize("mode", ["eager", "tf_function"])
def test_bad_input_raises_invalid_argument(tf_bce, mutate, pattern, mode):
    bce = tf_bce["module"]
    g, x, y, w = grid_arrays("float32", True, seed=8)
    args = {"x": x, "y": y, "g": g, "w": w, "reduction": "mean"}
    mutate(args)

    def call(x_, y_, g_, w_):
        return bce.binary_cross_entropy_grad(x_, y_, g_, w_, args["reduction"])

    fn = call if mode == "eager" else tf.function(call)
    with pytest.raises(tf.errors.InvalidArgumentError) as caught:
        fn(*(tf.constant(args[k]) for k in ("x", "y", "g", "w")))
    message = caught.value.message
    assert re.search(pattern, message), message
    if mode == "eager":  # the runtime's text comes first, as raised
        assert re.match(r"\[E\d{5}\] ", message), message
    assert_bit_exact(op(x, y, g, w, "mean"), numpy_api(g, x, y, w, "mean"))  # carries on


def test_missing_package_is_a_failed_precondition(tf_bce, tmp_path):
    bce = tf_bce["module"]
    g, x, y, _ = grid_arrays("float32", False, seed=9)
    bce.set_package(tmp_path / "no_such_package")
    try:
        with pytest.raises(tf.errors.FailedPreconditionError, match=r"^\[E\d+\] .*no_such_package"):
            op(x, y, g, None, "mean")
    finally:
        bce.set_package(tf_bce["package"])
    assert_bit_exact(op(x, y, g, None, "mean"), numpy_api(g, x, y, None, "mean"))


def test_missing_kernel_is_unimplemented(tf_bce):
    """A pattern the package lacks (no generic kernels in the tests' package): TF's
    UnimplementedError with the runtime's E61001, then the process carries on."""
    bce = tf_bce["module"]
    x = tf.constant(np.full((2, 3, 4), 0.5, np.float32))
    y = tf.constant(np.full((2, 1, 4), 0.25, np.float32))
    with pytest.raises(tf.errors.UnimplementedError, match=r"^\[E61001\] "):
        bce.binary_cross_entropy_grad(x, y, tf.ones([2, 3, 1]), reduction="none")
