"""Helpers of the TensorFlow tests: the kernel package, grid inputs, references, the fixture body.

Grid: dtype x reduction x weight on conftest's broadcast pattern (GRID_SHAPES: y a row,
grad_output a column, weight a row). Inputs are made in numpy (float32, then rounded to the
dtype) so the numpy API, TF and the float64 references see the same values.
"""
from __future__ import annotations

import concurrent.futures
import threading

import numpy as np

from bce_grad.op_support import DTYPES, numpy_dtype
from testcases.frameworks.conftest import GRID_SHAPES, build_cold, package_specs

NUMPY = {name: numpy_dtype(name).type for name in DTYPES}
#: unit roundoff per dtype (half an ulp of 1)
UNIT = {"float16": 2.0 ** -11, "bfloat16": 2.0 ** -8, "float32": 2.0 ** -24}
REDUCTIONS = ("none", "mean", "sum")
#: Python nodes that must never appear in a graph that uses the op.
PYTHON_NODES = {"PyFunc", "PyFuncStateless", "EagerPyFunc", "NumpyFunction"}
#: (x, y, grad_output, weight) shapes of the forward tests: same shapes, the mean loss's 0-d
#: grad_output (canonical patterns d_d_1 and d_d_1_d).
LOSS_SHAPE = (6, 5)


def tf_package_specs():
    """conftest's kernels plus those the forward loss's gradient calls (0-d grad_output)."""
    from bce_grad.runtime.kernel_set import KernelSpec

    specs = list(package_specs())
    for dtype in NUMPY:
        specs.append(KernelSpec((dtype,) * 3, dtype, "mean", "d_d_1"))
    specs.append(KernelSpec(("float32",) * 4, "float32", "mean", "d_d_1_d"))
    return specs


def grid_arrays(dtype: str, with_weight: bool, seed: int, boundary: bool = True):
    """(grad_output, x, y, weight) numpy arrays of the grid's shapes in ``dtype``.

    ``boundary``: x == y == 0, x == y == 1, x = 1 > y = 0 and x = 0 < y = 1 in the first rows;
    without it x stays in [0.02, 0.98], away from keras's clip (1e-7) and the 1e-12 clamp.
    """
    rng = np.random.default_rng(seed)
    sx, sy, sg, sw = GRID_SHAPES
    x = rng.random(sx, dtype=np.float32) * 0.96 + 0.02
    y = rng.random(sy, dtype=np.float32)
    if boundary:
        y[0, 0], y[0, 1] = 0.0, 1.0
        x[0, 0], x[1, 1], x[2, 0], x[3, 1] = 0.0, 1.0, 1.0, 0.0
    g = rng.standard_normal(sg, dtype=np.float32)
    w = rng.random(sw, dtype=np.float32) * 1.9 + 0.1 if with_weight else None
    cast = NUMPY[dtype]
    return g.astype(cast), x.astype(cast), y.astype(cast), None if w is None else w.astype(cast)


def numpy_api(g, x, y, w, reduction):
    import bce_grad

    return bce_grad.binary_cross_entropy_backward(g, x, y, w, reduction)


def bits(array: np.ndarray) -> np.ndarray:
    return np.asarray(array).view(np.int16 if np.asarray(array).itemsize == 2 else np.int32)


def assert_bit_exact(got, want) -> None:
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype and got.shape == want.shape, (got.dtype, want.dtype,
                                                                   got.shape, want.shape)
    np.testing.assert_array_equal(bits(got), bits(want))


def keras_backward(tf, keras, g, x, y, w, reduction):
    """TF's own BCE gradient: keras's elementwise BCE (clip, log, in the storage dtype) through
    GradientTape, with the upstream gradient ``g * w * c`` (c = 1/numel(x) for mean) in ``x``'s
    dtype."""
    xt, yt = tf.constant(x), tf.broadcast_to(tf.constant(y), x.shape)
    upstream = tf.broadcast_to(tf.constant(g), x.shape)
    if w is not None:
        upstream = upstream * tf.constant(w)
    if reduction == "mean":
        upstream = upstream * tf.constant(1.0 / x.size, xt.dtype)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        loss = keras.ops.binary_crossentropy(yt, xt)
    return tape.gradient(loss, xt, output_gradients=upstream).numpy()


def keras_tolerance(dtype, g, x, y, w, reduction, ours):
    """Elementwise bound on |ours - keras| (see test_close_to_keras_backward)."""
    x64, y64 = x.astype(np.float64), np.broadcast_to(y.astype(np.float64), x.shape)
    scale = np.broadcast_to(g.astype(np.float64), x.shape).copy()
    if w is not None:
        scale = scale * w.astype(np.float64)
    if reduction == "mean":
        scale = scale / x.size
    terms = np.abs(scale) * (y64 / x64 + (1 - y64) / (1 - x64))
    return 10 * UNIT[dtype] * terms + UNIT[dtype] * np.abs(ours.astype(np.float64))


def cold_start(tf, tmp_path_factory):
    """4 threads build the op library at once (one compiles) while the runtime library builds and
    this thread compiles the package; then 4 threads make the first calls on the fresh package
    (its kernels load lazily, under the runtime's lock). Returns the fixture's record."""
    from bce_grad.tensorflow import _build

    package = tmp_path_factory.mktemp("bce_grad_tf_pkg")
    built = build_cold(_build.library_path, package, tf_package_specs())

    import bce_grad.tensorflow

    bce_grad.tensorflow.set_package(package)
    calls = [(dtype, with_w, grid_arrays(dtype, with_w, seed=40 + i))
             for i, (dtype, with_w) in enumerate(
                 [("float16", True), ("bfloat16", False), ("float32", True), ("float32", False)])]
    barrier = threading.Barrier(len(calls))

    def first_call(arrays):
        g, x, y, w = arrays
        tensors = [None if a is None else tf.constant(a) for a in (x, y, g, w)]
        barrier.wait()
        return bce_grad.tensorflow.binary_cross_entropy_grad(*tensors, reduction="mean").numpy()

    with concurrent.futures.ThreadPoolExecutor(len(calls)) as pool:
        results = list(pool.map(first_call, [arrays for _, _, arrays in calls]))
    return {"module": bce_grad.tensorflow, "package": package, "libraries": built,
            "cache_root": _build.cache_root(), "first_calls": list(zip(calls, results))}
