"""bce_grad.mindspore: the aot op against the numpy API (bit for bit) and MindSpore's own kernel.

Grid: dtype x reduction x weight on one broadcast pattern (conftest.GRID_SHAPES: y a row,
grad_output a column, weight a row), with the boundary points x, y in {0, 1} in every sample.
MindSpore runs in GRAPH_MODE on CPU unless a test says otherwise. MindSpore, TVM's compiler (the
numpy API compiles its kernels on first use) and torch share this process without trouble.

MindSpore 2.10 itself does not run graphs from several Python threads: two threads compiling
graphs, or two PyNative threads, fail inside MindSpore ("The pointer[...] is null"), and two
threads running compiled graphs at once now and then hang in its executor (``_exec_pip``). So
the fixture's 4 threads build the library and construct the cells at once on a cold cache (one
compiles, the others wait on its lock; the package opens once), then make the first calls at
once through the library's aot functions, called with MindSpore's C ABI as its actor threads call
them (the package's kernels load lazily, under the runtime's lock). GRAPH_MODE runs one thread.
"""
from __future__ import annotations

import concurrent.futures
import threading

import ml_dtypes
import numpy as np
import pytest

from testcases.frameworks.conftest import DTYPES, GRID_SHAPES, build_cold, run_in_threads

ms = pytest.importorskip("mindspore", reason="MindSpore is not installed (pip install "
                         "'bce-grad[mindspore]')")
#: ``pytest -m mindspore`` selects these tests (setup.cfg declares the marker).
pytestmark = pytest.mark.mindspore

REDUCTIONS = ("none", "mean", "sum")
#: Relative tolerances against MindSpore's own CPU BinaryCrossEntropyGrad, per dtype, and why:
#: - float32: both compute in float32 with the same 1e-12 clamp; the operation order differs
#:   (MindSpore divides by numel, this op multiplies by CANN's float32 1/numel): a few roundings,
#:   4 ulp (2**-23 each).
#: - float16: MindSpore rounds to float16 after each of its 5-6 operations (x - y, x * (1 - x),
#:   the clamp, the division, the products, the mean), this operator once from float32: up to
#:   about 6 half-ulps of 2**-11, 3e-3. MindSpore has no bfloat16 CPU kernel (see the test).
RTOL = {"float32": 4 * 2.0 ** -23, "float16": 3e-3}
#: numpy dtypes of the operator's dtype names.
NP = {"float16": np.dtype(np.float16), "bfloat16": np.dtype(ml_dtypes.bfloat16),
      "float32": np.dtype(np.float32)}


def package_specs():
    """Generic strided kernels of canonical ranks 1 and 2 per dtype: every call of rank <= 2
    (any broadcast pattern, with or without weight) is served; rank 3 is missing on purpose."""
    from bce_grad.runtime.kernel_set import KernelSpec

    return [KernelSpec((d,) * 4, d, "mean", f"strided{r}") for d in DTYPES for r in (1, 2)]


def grid_arrays(dtype: str, with_weight: bool, seed: int, shapes=GRID_SHAPES):
    """(x, y, grad_output, weight) numpy arrays in ``dtype``, boundary points in the first rows:
    x == y == 0, x == y == 1, x = 1 > y = 0 and x = 0 < y = 1."""
    rng = np.random.default_rng(seed)
    sx, sy, sg, sw = shapes
    x = rng.random(sx, dtype=np.float32) * 0.96 + 0.02
    y = rng.random(sy, dtype=np.float32)
    y[0, 0], y[0, 1] = 0.0, 1.0
    x[0, 0], x[1, 1], x[2, 0], x[3, 1] = 0.0, 1.0, 1.0, 0.0
    g = rng.standard_normal(sg, dtype=np.float32)
    w = rng.random(sw, dtype=np.float32) * 1.9 + 0.1 if with_weight else None
    cast = NP[dtype]
    return x.astype(cast), y.astype(cast), g.astype(cast), None if w is None else w.astype(cast)


def tensor(array):
    """A MindSpore tensor of the same dtype and values (bfloat16 through float32: exact)."""
    if array is None:
        return None
    if array.dtype == NP["bfloat16"]:
        return ms.Tensor(array.astype(np.float32), ms.bfloat16)
    return ms.Tensor(array)


def to_numpy(t):
    if t.dtype == ms.bfloat16:
        return t.float().asnumpy().astype(ml_dtypes.bfloat16)
    return t.asnumpy()


def aot_call(reduction, arrays):
    """Call the library's aot function as MindSpore's CPU kernel does (its C ABI), on numpy
    buffers: x, y, grad_output[, weight] and a new output of x's shape and dtype."""
    import ctypes

    from bce_grad.mindspore import _native

    present = [a for a in arrays if a is not None]
    out = np.empty(present[0].shape, present[0].dtype)
    buffers = [np.ascontiguousarray(a) for a in present] + [out]
    n = len(buffers)
    func = getattr(_native.library()[1], f"BceGradMs{reduction.capitalize()}"
                   f"{'Weighted' if n == 5 else ''}")
    func.restype = ctypes.c_int
    shapes = [(ctypes.c_int64 * max(b.ndim, 1))(*b.shape) for b in buffers]
    status = func(n, (ctypes.c_void_p * n)(*[b.ctypes.data for b in buffers]),
                  (ctypes.c_int * n)(*[b.ndim for b in buffers]),
                  (ctypes.POINTER(ctypes.c_int64) * n)(*shapes),
                  (ctypes.c_char_p * n)(*[str(b.dtype).encode() for b in buffers]), None, None)
    assert status == 0, _native.last_error()
    return out


def numpy_api(x, y, g, w, reduction):
    import bce_grad

    return bce_grad.binary_cross_entropy_backward(g, x, y, w, reduction)


def assert_bit_exact(got, want):
    assert got.dtype == want.dtype and got.shape == want.shape, (got.dtype, got.shape, want.shape)
    bits = np.uint16 if got.dtype.itemsize == 2 else np.uint32
    np.testing.assert_array_equal(got.view(bits), want.view(bits))


@pytest.fixture(scope="module")
def ms_bce(tmp_path_factory):
    """``bce_grad.mindspore`` on a small package, reached cold from 4 threads; returns a record."""
    from bce_grad.mindspore import _build

    ms.set_context(mode=ms.GRAPH_MODE)
    ms.set_device("CPU")
    package = tmp_path_factory.mktemp("bce_grad_ms_pkg")
    built = build_cold(_build.library_path, package, package_specs())

    import bce_grad.mindspore as bms

    bms.set_package(package)
    calls = [(reduction, dtype, grid_arrays(dtype, bool(i % 2), seed=40 + i))
             for i, (reduction, dtype) in enumerate(
                 [("mean", "float16"), ("none", "bfloat16"), ("sum", "float32"),
                  ("mean", "float32")])]
    with concurrent.futures.ThreadPoolExecutor(4) as pool:  # 4 constructions at once
        cells = list(pool.map(bms.BinaryCrossEntropyGrad, [c[0] for c in calls]))
    assert all(cell.reduction == c[0] for cell, c in zip(cells, calls))
    barrier = threading.Barrier(len(calls))

    def first_call(call):
        reduction, dtype, arrays = call
        barrier.wait()
        return aot_call(reduction, arrays)

    with concurrent.futures.ThreadPoolExecutor(len(calls)) as pool:
        results = list(pool.map(first_call, calls))
    yield {"module": bms, "package": package, "libraries": built,
           "cache_root": _build.cache_root(), "first_calls": list(zip(calls, results))}
    ms.set_context(mode=ms.GRAPH_MODE)


def run(bms, reduction, x, y, g, w):
    op = bms.BinaryCrossEntropyGrad(reduction)
    return to_numpy(op(tensor(x), tensor(y), tensor(g), tensor(w)))


@pytest.mark.parametrize("with_weight", [False, True], ids=["no_weight", "weight"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_bit_exact_to_numpy_api(ms_bce, dtype, reduction, with_weight):
    x, y, g, w = grid_arrays(dtype, with_weight, seed=1)
    got = run(ms_bce["module"], reduction, x, y, g, w)
    assert_bit_exact(got, numpy_api(x, y, g, w, reduction))


@pytest.mark.parametrize("value, name", [(0, "none"), (1, "mean"), (2, "sum")])
def test_aclnn_reduction_enum_runs_the_named_reduction(ms_bce, value, name):
    """The cells take aclnn's enum as every entry point does (one rule, op_support): the enum
    value runs the kernels of its name (an int reached the kernel builder unconverted)."""
    x, y, g, w = grid_arrays("float32", True, seed=3)
    assert ms_bce["module"].BinaryCrossEntropyGrad(value).reduction == name
    assert_bit_exact(run(ms_bce["module"], value, x, y, g, w), numpy_api(x, y, g, w, name))


@pytest.mark.parametrize("with_weight", [False, True], ids=["no_weight", "weight"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", ["float16", "float32"])
def test_close_to_mindspore_kernel(ms_bce, dtype, reduction, with_weight):
    from mindspore.ops.operations import _grad_ops

    x, y, g, w = grid_arrays(dtype, with_weight, seed=2)
    if reduction != "none":  # MindSpore's kernel reads grad_output[0] only: the reduced loss's
        g = g.reshape(-1)[:1].reshape(())  # gradient is one value, given here as a 0-d array
    ours = run(ms_bce["module"], reduction, x, y, g, w)
    # MindSpore's kernel needs equal shapes: its inputs are expanded to x's shape
    full = [None if a is None else np.ascontiguousarray(np.broadcast_to(a, x.shape))
            for a in (y, g, w)]
    theirs = _grad_ops.BinaryCrossEntropyGrad(reduction)(
        tensor(x), tensor(full[0]), tensor(full[1]), tensor(full[2])).asnumpy()
    # excluded: float16 x == y in {0, 1}, where MindSpore's clamp (1e-12 rounded to float16: 0)
    # gives 0/0 = NaN and this operator 0
    boundary_equal = np.broadcast_to((x == y) & ((x == 0) | (x == 1)), x.shape)
    excluded = boundary_equal if dtype == "float16" else np.zeros_like(boundary_equal)
    np.testing.assert_array_equal(np.isnan(theirs), excluded)
    assert not ours[boundary_equal].any()
    np.testing.assert_allclose(ours[~excluded].astype(np.float64),
                               theirs[~excluded].astype(np.float64), rtol=RTOL[dtype], atol=0)


def test_mindspore_kernel_has_no_bfloat16(ms_bce):
    """Why the comparison above leaves bfloat16 out: MindSpore's CPU kernel refuses it."""
    from mindspore.ops.operations import _grad_ops

    x, y, g, _ = grid_arrays("bfloat16", False, seed=3, shapes=((6, 5),) * 4)
    with pytest.raises((TypeError, RuntimeError), match=r"(?i)bfloat16|data type"):
        _grad_ops.BinaryCrossEntropyGrad("none")(tensor(x), tensor(y), tensor(g)).asnumpy()
    ours = run(ms_bce["module"], "none", x, y, g, None)
    assert_bit_exact(ours, numpy_api(x, y, g, None, "none"))


def test_four_threads_on_cold_caches(ms_bce):
    """The fixture's cold start: 4 builders, one library; 4 first calls at once, bit-exact."""
    libraries = ms_bce["libraries"]
    assert len(set(libraries)) == 1
    root = ms_bce["cache_root"]
    assert [p.name for p in root.glob("libbce_grad_ms-*.so")] == [libraries[0].name]
    assert not list(root.glob(".build.*"))  # the builder's private directory is gone
    for (reduction, _, (x, y, g, w)), result in ms_bce["first_calls"]:
        assert_bit_exact(result, numpy_api(x, y, g, w, reduction))


def test_four_threads_call_concurrently(ms_bce):
    """The aot functions from 4 threads at once, as MindSpore's actor threads call them."""
    cases = [("sum", grid_arrays(DTYPES[i % 3], bool(i % 2), seed=10 + i)) for i in range(4)]
    want = [numpy_api(*arrays, reduction) for reduction, arrays in cases]
    errors = []

    def work(i):
        try:
            for _ in range(50):
                assert_bit_exact(aot_call(*cases[i]), want[i])
        except Exception as err:  # noqa: BLE001 - reported by the main thread
            errors.append(err)

    run_in_threads(work, 4)
    assert not errors, errors[0]


def test_inside_a_graph_mode_network(ms_bce):
    """The op as one node of a user's GRAPH_MODE cell, between MindSpore ops."""
    bms = ms_bce["module"]

    class Net(ms.nn.Cell):
        def __init__(self):
            super().__init__()
            self.grad = bms.BinaryCrossEntropyGrad("mean")

        def construct(self, z, y, g, w):
            return self.grad(ms.ops.sigmoid(z), y, g * 2, w) + 1

    x, y, g, w = grid_arrays("float32", True, seed=4)
    z = np.random.default_rng(4).standard_normal(x.shape).astype(np.float32)
    got = Net()(ms.Tensor(z), tensor(y), tensor(g), tensor(w)).asnumpy()
    sigmoid = ms.ops.sigmoid(ms.Tensor(z)).asnumpy()
    want = numpy_api(sigmoid, y, g * 2, w, "mean") + 1
    assert_bit_exact(got, want)
    assert ms.get_context("mode") == ms.GRAPH_MODE


def test_dynamic_shapes(ms_bce):
    """set_inputs with None dims: one graph, three shapes (and two broadcast patterns)."""
    bms = ms_bce["module"]
    cell = bms.BinaryCrossEntropyGrad("mean")
    dyn = ms.Tensor(shape=[None, None], dtype=ms.float32)
    cell.set_inputs(dyn, dyn, dyn, dyn)
    for rows, cols, shapes in ((6, 5, None), (9, 3, None), (4, 7, "same")):
        sx = (rows, cols)
        grid = ((sx, sx, sx, sx) if shapes == "same" else
                (sx, (1, cols), (rows, 1), (1, cols)))
        x, y, g, w = grid_arrays("float32", True, seed=rows, shapes=grid)
        got = to_numpy(cell(tensor(x), tensor(y), tensor(g), tensor(w)))
        assert_bit_exact(got, numpy_api(x, y, g, w, "mean"))


def test_dynamic_shape_refused_at_run_time(ms_bce):
    """A dynamic-shape graph checks shapes when it runs (the C++ shape inference): a RuntimeError
    (and ValueError) carrying the runtime's CANN message; the process carries on."""
    bms = ms_bce["module"]
    cell = bms.BinaryCrossEntropyGrad("none")
    dyn = ms.Tensor(shape=[None, None], dtype=ms.float32)
    cell.set_inputs(dyn, dyn, dyn)
    x, y, g, _ = grid_arrays("float32", False, seed=5)
    with pytest.raises(ValueError, match=r"\[E80029\] In op\[binary_cross_entropy_grad\], .*shape "
                       r"\[6, 3\] of grad_output should broadcast to the shape \[6, 5\] of x"):
        cell(tensor(x), tensor(y), tensor(np.ones((6, 3), np.float32)))
    fresh = bms.BinaryCrossEntropyGrad("none")
    assert_bit_exact(to_numpy(fresh(tensor(x), tensor(y), tensor(g))),
                     numpy_api(x, y, g, None, "none"))


@pytest.mark.parametrize("mode", ["graph", "pynative"])
def test_grad_of_a_network_runs_the_op(ms_bce, mode):
    """mindspore.grad of a network using BinaryCrossEntropy: the op's result, bit for bit."""
    bms = ms_bce["module"]
    ms.set_context(mode=ms.GRAPH_MODE if mode == "graph" else ms.PYNATIVE_MODE)
    try:
        class Net(ms.nn.Cell):
            def __init__(self):
                super().__init__()
                self.loss = bms.BinaryCrossEntropy("mean")

            def construct(self, x, y, w):
                return self.loss(x, y, w) * 3

        x, y, _, w = grid_arrays("float32", True, seed=6, shapes=((6, 5),) * 4)
        got = ms.grad(Net())(tensor(x), tensor(y), tensor(w)).asnumpy()
        three = np.array(3.0, np.float32)  # d(3 * loss)/d loss: the op's grad_output
        assert_bit_exact(got, numpy_api(x, y, three, w, "mean"))
        # without weight, and the loss is MindSpore's own forward
        loss = bms.BinaryCrossEntropy("sum")
        got = ms.grad(loss)(tensor(x), tensor(y)).asnumpy()
        assert_bit_exact(got, numpy_api(x, y, np.array(1.0, np.float32), None, "sum"))
        np.testing.assert_array_equal(
            loss(tensor(x), tensor(y)).asnumpy(),
            ms.ops.binary_cross_entropy(tensor(x), tensor(y), reduction="sum").asnumpy())
    finally:
        ms.set_context(mode=ms.GRAPH_MODE)


BAD_INPUTS = [
    # y does not broadcast to x: checked by the C++ shape inference (compile time in GRAPH_MODE)
    (lambda a: a.update(y=np.ones((6, 3), np.float32)), ValueError,
     r"\[E80029\] In op\[binary_cross_entropy_grad\], the shape of inputs\[x\]\[y\] are invalid, "
     r"\[shape \[6, 3\] of y should broadcast to the shape \[6, 5\] of x\]"),
    # a dtype the SoC's op info does not list: MindSpore's dtype inference (Python)
    (lambda a: a.update(x=a["x"].astype(np.float64)), TypeError,
     r"^\[E80008\] In op\[binary_cross_entropy_grad\], the parameter\[x\] dtype should be one of "
     r"\['float16', 'float32', 'bfloat16'\] on Ascend910B1 .*but actually is \[float64\]"),
    (lambda a: a.update(reduction="avg"), ValueError,
     r"^\[E80009\] In op\[binary_cross_entropy_grad\], the parameter\[reduction\] should be one "
     r"of \['none', 'mean', 'sum'\] or aclnn's enum \[0, 1, 2\], but actually is \['avg'\]"),
    # rank 3 after canonicalisation: the test package has no kernel for it, so the kernel itself
    # fails (MindSpore drops the text; the cell re-raises it with the runtime's message)
    (lambda a: a.update(x=np.full((2, 3, 4), 0.5, np.float32), y=np.full((3, 1), 0.5, np.float32),
                        g=np.ones((2, 1, 1), np.float32)), RuntimeError,
     r"^\[E61001\] In op\[binary_cross_entropy_grad\], .*"),
]


@pytest.mark.parametrize("mode", ["graph", "pynative"])
@pytest.mark.parametrize("mutate, kind, pattern", BAD_INPUTS,
                         ids=["shape", "dtype", "reduction", "no_kernel"])
def test_bad_input_raises_mindspore_errors(ms_bce, monkeypatch, tmp_path, mode, mutate, kind,
                                           pattern):
    monkeypatch.chdir(tmp_path)  # MindSpore writes rank_0/om/analyze_fail.ir on a failed compile
    bms = ms_bce["module"]
    ms.set_context(mode=ms.GRAPH_MODE if mode == "graph" else ms.PYNATIVE_MODE)
    try:
        x, y, g, _ = grid_arrays("float32", False, seed=8)
        args = {"x": x, "y": y, "g": g, "reduction": "mean"}
        mutate(args)
        with pytest.raises(kind, match=pattern):
            op = bms.BinaryCrossEntropyGrad(args["reduction"])
            op(tensor(args["x"]), tensor(args["y"]), tensor(args["g"])).asnumpy()
        # the process and the operator carry on
        assert_bit_exact(run(bms, "mean", x, y, g, None), numpy_api(x, y, g, None, "mean"))
    finally:
        ms.set_context(mode=ms.GRAPH_MODE)


def test_kernel_failure_message_is_kept(ms_bce):
    """Inside a larger graph MindSpore's error lacks the runtime's text: last_error() has it."""
    bms = ms_bce["module"]

    class Net(ms.nn.Cell):
        def __init__(self):
            super().__init__()
            self.grad = bms.BinaryCrossEntropyGrad("sum")

        def construct(self, x, y, g):
            return self.grad(x, y, g) * 2

    x = np.full((2, 3, 4), 0.5, np.float32)
    with pytest.raises(RuntimeError, match=r"AOT kernel.*BceGradMsSum"):
        Net()(ms.Tensor(x), ms.Tensor(x[0, :, :1]), ms.Tensor(x[:, :1, :1])).asnumpy()
    assert bms.last_error().startswith("[E61001] In op[binary_cross_entropy_grad], ")


def test_missing_package_is_a_clear_error(ms_bce, tmp_path):
    bms = ms_bce["module"]
    try:
        with pytest.raises(RuntimeError, match=r"^\[E61001\] .*no_such_package"):
            bms.set_package(tmp_path / "no_such_package")
    finally:
        bms.set_package(ms_bce["package"])
    x, y, g, _ = grid_arrays("float32", False, seed=9)
    assert_bit_exact(run(bms, "sum", x, y, g, None), numpy_api(x, y, g, None, "sum"))


def test_selected_by_the_mindspore_marker(request):
    """``pytest -m mindspore`` runs this file (it selected none of it when the mark was missing)."""
    assert request.node.get_closest_marker("mindspore") is not None


@pytest.mark.parametrize("mode", ["graph", "pynative"])
def test_a_call_does_little_python_work(ms_bce, monkeypatch, mode):
    """A call reads the failure count and the mode cheaply: not ``last_error()`` (a lock and a 4 KiB
    buffer) nor ``get_context("mode")`` (20-35 us, a tenth of a (4, 4) call); in PyNative mode,
    where MindSpore infers the dtype on every call, the op info is looked up once per dtypes."""
    import bce_grad.api
    from bce_grad.mindspore import _native

    bms = ms_bce["module"]
    ms.set_context(mode=ms.GRAPH_MODE if mode == "graph" else ms.PYNATIVE_MODE)
    try:
        cell = bms.BinaryCrossEntropyGrad("sum")
        x, y, g, _ = grid_arrays("float32", False, seed=10)
        want = numpy_api(x, y, g, None, "sum")
        assert_bit_exact(to_numpy(cell(tensor(x), tensor(y), tensor(g))), want)  # compiled

        counts = {"last_error": 0, "get_context": 0, "check_dtypes": 0}

        def counted(name, fn):
            def wrapper(*args, **kwargs):
                counts[name] += 1
                return fn(*args, **kwargs)
            return wrapper

        monkeypatch.setattr(_native, "last_error", counted("last_error", _native.last_error))
        monkeypatch.setattr(ms, "get_context", counted("get_context", ms.get_context))
        monkeypatch.setattr(bce_grad.api, "check_dtypes",
                            counted("check_dtypes", bce_grad.api.check_dtypes))
        for _ in range(3):
            assert_bit_exact(to_numpy(cell(tensor(x), tensor(y), tensor(g))), want)
        assert counts == {"last_error": 0, "get_context": 0, "check_dtypes": 0}
        assert _native.failures() == _native.last_error()[0]
    finally:
        monkeypatch.undo()
        ms.set_context(mode=ms.GRAPH_MODE)


def test_a_refused_dtype_is_refused_on_every_call(ms_bce, monkeypatch, tmp_path):
    """The dtype inference's cache keeps answers, not refusals: a float64 x fails each time."""
    monkeypatch.chdir(tmp_path)  # MindSpore writes rank_0/om/analyze_fail.ir on a failed compile
    bms = ms_bce["module"]
    ms.set_context(mode=ms.PYNATIVE_MODE)
    try:
        cell = bms.BinaryCrossEntropyGrad("mean")
        x, y, g, _ = grid_arrays("float32", False, seed=11)
        for _ in range(2):
            with pytest.raises(TypeError,
                               match=r"^\[E80008\] .*parameter\[x\] dtype .*\[float64\]"):
                cell(tensor(x.astype(np.float64)), tensor(y), tensor(g)).asnumpy()
        assert_bit_exact(to_numpy(cell(tensor(x), tensor(y), tensor(g))),
                         numpy_api(x, y, g, None, "mean"))
    finally:
        ms.set_context(mode=ms.GRAPH_MODE)



@pytest.mark.parametrize("count, pattern", [
    (2, r"^\[E80001\] In op\[binary_cross_entropy_grad\], the parameter\[grad_output\] is "
        r"mandatory .*\[2\] inputs given"),
    (5, r"^\[E80000\] In op\[binary_cross_entropy_grad\], the inputs should be x, y, grad_output "
        r"and an optional weight, at most 4, but actually are \[5\]"),
])
def test_wrong_input_count_is_a_type_error(ms_bce, count, pattern):
    """GRAPH_MODE counts the inputs without MindSpore's per-call ``inspect.signature``: a
    ``TypeError`` naming the rule, before anything compiles; the cell then works."""
    bms = ms_bce["module"]
    cell = bms.BinaryCrossEntropyGrad("mean")
    x, y, g, w = grid_arrays("float32", True, seed=12)
    inputs = [tensor(a) for a in (x, y, g, w, w)][:count]
    with pytest.raises(TypeError, match=pattern):
        cell(*inputs)
    assert_bit_exact(to_numpy(cell(tensor(x), tensor(y), tensor(g), tensor(w))),
                     numpy_api(x, y, g, w, "mean"))
