"""bce_grad.torch: the PyTorch operator against the numpy API (bit for bit) and torch's own kernel.

Grid: dtype x reduction x weight on one broadcast pattern (conftest.GRID_SHAPES: y a row,
grad_output a column, weight a row), with the boundary points x, y in {0, 1} in every sample.
"""
from __future__ import annotations


import ml_dtypes
import numpy as np
import pytest

from testcases.frameworks.conftest import DTYPES, GRID_SHAPES, grid_inputs, run_in_threads

torch = pytest.importorskip("torch", reason="PyTorch is not installed (pip install "
                            "'bce-grad[torch]')")

REDUCTIONS = {"none": 0, "mean": 1, "sum": 2}
#: Relative tolerances against torch's eager CPU kernel, per dtype, and why:
#: - float32: both compute in float32 with the same 1e-12 clamp; the operation order differs
#:   (the mean as a multiply by 1/N against torch's division), a few roundings: 4 ulp (2**-23 each).
#: - float16 / bfloat16: torch rounds to the storage dtype after each of its 5-7 operations, this
#:   operator once; the largest differences measured over 2**20 samples are 2.4e-3 (float16) and
#:   2.2e-2 (bfloat16) (shared/reference/peer-semantics.md, 1.6).
RTOL = {"float32": 4 * 2.0 ** -23, "float16": 2.4e-3, "bfloat16": 2.2e-2}


def op(*args):
    return torch.ops.bce_grad.binary_cross_entropy_backward(*args)


def to_numpy(t):
    if t is None:
        return None
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().view(ml_dtypes.bfloat16)
    return t.numpy()


def bits(t):
    return t.view(torch.int16 if t.element_size() == 2 else torch.int32)


def numpy_api(g, x, y, w, reduction):
    import bce_grad

    got = bce_grad.binary_cross_entropy_backward(to_numpy(g), to_numpy(x), to_numpy(y),
                                                 to_numpy(w), reduction)
    if got.dtype == ml_dtypes.bfloat16:
        return torch.from_numpy(got.view(np.int16)).view(torch.bfloat16)
    return torch.from_numpy(got)


def assert_bit_exact(got, want):
    assert got.dtype == want.dtype and got.shape == want.shape
    assert torch.equal(bits(got), bits(want))


@pytest.mark.parametrize("with_weight", [False, True], ids=["no_weight", "weight"])
@pytest.mark.parametrize("reduction", list(REDUCTIONS))
@pytest.mark.parametrize("dtype", DTYPES)
def test_bit_exact_to_numpy_api(torch_bce, dtype, reduction, with_weight):
    g, x, y, w = grid_inputs(torch, dtype, with_weight, seed=1)
    assert_bit_exact(op(g, x, y, w, REDUCTIONS[reduction]), numpy_api(g, x, y, w, reduction))


@pytest.mark.parametrize("with_weight", [False, True], ids=["no_weight", "weight"])
@pytest.mark.parametrize("reduction", list(REDUCTIONS))
@pytest.mark.parametrize("dtype", DTYPES)
def test_close_to_torch_kernel(torch_bce, dtype, reduction, with_weight):
    g, x, y, w = grid_inputs(torch, dtype, with_weight, seed=2)
    ours = op(g, x, y, w, REDUCTIONS[reduction])
    # torch's CPU kernel squeezes its inputs before broadcasting them (a (6, 1) grad_output would
    # line up with x's last axis): it gets grad_output and y expanded to x's shape
    theirs = torch.ops.aten.binary_cross_entropy_backward(g.expand_as(x), x, y.expand_as(x), w,
                                                          REDUCTIONS[reduction])
    # excluded: float16 x == y in {0, 1}, where torch's clamp (1e-12 rounded to float16: 0) gives
    # 0/0 = NaN and this operator 0
    boundary_equal = ((x == y) & ((x == 0) | (x == 1))).expand_as(x)
    excluded = boundary_equal if dtype == "float16" else torch.zeros_like(boundary_equal)
    assert torch.equal(theirs.isnan(), excluded)
    assert torch.equal(ours[boundary_equal], torch.zeros_like(ours[boundary_equal]))
    torch.testing.assert_close(ours[~excluded], theirs[~excluded], rtol=RTOL[dtype], atol=0)


def test_four_threads_on_cold_caches(torch_bce):
    """The session's cold start (conftest): 4 builders, one library; 4 first calls, bit-exact."""
    libraries = torch_bce["libraries"]
    assert len(set(libraries)) == 1
    root = torch_bce["cache_root"]
    assert [p.name for p in root.glob("libbce_grad_torch-*.so")] == [libraries[0].name]
    assert not list(root.glob(".build.*"))  # the builder's private directory is gone
    for (dtype, _, (g, x, y, w)), result in torch_bce["first_calls"]:
        assert_bit_exact(result, numpy_api(g, x, y, w, "mean"))


def test_four_threads_call_concurrently(torch_bce):
    cases = [grid_inputs(torch, DTYPES[i % 3], bool(i % 2), seed=10 + i) for i in range(4)]
    want = [op(*c, 2) for c in cases]
    errors = []

    def work(i):
        try:
            for _ in range(50):
                assert_bit_exact(op(*cases[i], 2), want[i])
        except Exception as err:  # noqa: BLE001 - reported by the main thread
            errors.append(err)

    run_in_threads(work, 4)
    assert not errors, errors[0]


def test_strided_inputs_mixed_dtypes_and_empty(torch_bce):
    g, x, y, w = grid_inputs(torch, "float32", True, seed=3)
    want = op(g, x, y, w, 1)
    xt = x.t().contiguous().t()                            # (6, 5), strides (1, 6)
    gs = torch.cat([g, g], dim=1)[:, :1]                    # (6, 1), strides (2, 1)
    ws = torch.stack([w, w], dim=1).reshape(-1)[::2]        # (5,), stride 2
    assert not (xt.is_contiguous() or gs.is_contiguous() or ws.is_contiguous())
    assert_bit_exact(op(gs, xt, y, ws, 1), want)
    # float16 x and y with a float32 grad_output promote to float32, as aclnn and torch do
    xh, yh = x.half(), y.half()
    mixed = op(g, xh, yh, None, 0)
    assert_bit_exact(mixed, op(g, xh.float(), yh.float(), None, 0))
    empty = torch.zeros(0, 5)
    assert op(torch.zeros(0, 1), empty, torch.zeros(1, 5), None, 1).shape == (0, 5)


def test_opcheck(torch_bce):
    """Schema, fake tensor, autograd registration and AOT dispatch (static and dynamic)."""
    def rand(*shape):
        return torch.rand(*shape) * 0.9 + 0.05

    samples = [
        (torch.randn(4, 3).requires_grad_(), rand(4, 3).requires_grad_(),
         rand(4, 3).requires_grad_(), None, 0),
        (torch.randn(()), rand(7), rand(7), None, 1),
        tuple(t.half() if t is not None else None for t in grid_inputs(torch, "float16", True, 4)) +
        (2,),
        grid_inputs(torch, "bfloat16", False, seed=5) + (1,),
    ]
    for args in samples:
        torch.library.opcheck(torch.ops.bce_grad.binary_cross_entropy_backward.default, args)


def test_double_backward(torch_bce):
    """The operator's derivative against autograd through the formula, in float64."""
    g, x, y, w = (t.clone().requires_grad_() for t in grid_inputs(torch, "float32", True, 6))
    x.data.clamp_(0.05, 0.95)
    out = op(g, x, y, w, 1)
    v = torch.randn_like(out)
    got = torch.autograd.grad(out, (g, x, y, w), v)
    g64, x64, y64, w64 = (t.detach().double().requires_grad_() for t in (g, x, y, w))
    ref = g64 * w64 * (x64 - y64) / (x64 * (1 - x64)).clamp_min(1e-12) / x.numel()
    want = torch.autograd.grad(ref, (g64, x64, y64, w64), v.double())
    for a, b in zip(got, want):
        torch.testing.assert_close(a.double(), b, rtol=1e-5, atol=1e-6)


def test_a_call_runs_no_python_of_the_operator(torch_bce):
    """With or without a gradient to record, a call runs C++ only below torch's own OpOverload
    wrapper: no autograd kernel in Python (torch.library.register_autograd ran on every call and
    cost 15 us of a 20 us (4, 4) call), nothing of bce_grad's."""
    import sys

    args = grid_inputs(torch, "float32", True, seed=7)
    tracked = tuple(t.clone().requires_grad_() for t in args)
    seen = []

    def profile(frame, event, arg):
        if event == "call":
            seen.append(f"{frame.f_code.co_filename}:{frame.f_code.co_name}")

    for inputs in (args, tracked):
        op(*inputs, 1)  # warm: the binding is resolved once, in Python
        sys.setprofile(profile)
        try:
            out = torch.ops.bce_grad.binary_cross_entropy_backward.default(*inputs, 1)
        finally:
            sys.setprofile(None)
        assert [f for f in seen if "_library" in f or "bce_grad" in f or "autograd" in f] == []
        assert out.requires_grad is (inputs is tracked)


def test_forward_and_torch_compile_fullgraph_dynamic(torch_bce):
    """binary_cross_entropy: torch's loss; under torch.compile(fullgraph=True, dynamic=True) one
    graph serves two shapes and its backward graph calls the operator."""
    from functorch.compile import make_boxed_func
    from torch._dynamo.backends.common import aot_autograd

    bce = torch_bce["module"]
    graphs = []

    def record(kind):
        def compiler(gm, example_inputs):
            graphs.append((kind, gm))
            return make_boxed_func(gm.forward)
        return compiler

    backend = aot_autograd(fw_compiler=record("forward"), bw_compiler=record("backward"))
    compiled = torch.compile(bce.binary_cross_entropy, fullgraph=True, dynamic=True,
                             backend=backend)
    for n in (8, 13):
        x = (torch.rand(n, 3) * 0.9 + 0.05).requires_grad_()
        target = torch.rand(n, 3)
        loss = compiled(x, target)
        loss.backward()
        x_eager = x.detach().clone().requires_grad_()
        eager = bce.binary_cross_entropy(x_eager, target)
        eager.backward()
        assert torch.equal(loss, torch.nn.functional.binary_cross_entropy(x.detach(), target))
        assert torch.equal(loss, eager) and torch.equal(x.grad, x_eager.grad)
    kinds = [kind for kind, _ in graphs]
    assert kinds == ["forward", "backward"], kinds  # dynamic: no recompile for the second shape
    backward_code = graphs[1][1].code
    assert "bce_grad.binary_cross_entropy_backward" in backward_code


def test_enable_routes_a_model_and_disable_restores(torch_bce):
    bce = torch_bce["module"]
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 1), torch.nn.Sigmoid())
    data, target = torch.randn(8, 4), torch.rand(8, 1)

    def grads():
        model.zero_grad()
        torch.nn.BCELoss()(model(data), target).backward()
        return [p.grad.clone() for p in model.parameters()]

    # same shapes: torch's CPU kernel squeezes its inputs before broadcasting them
    g, x, y, _ = (t.expand(GRID_SHAPES[0]).contiguous() if t is not None else None
                  for t in grid_inputs(torch, "float16", False, seed=7))
    g64, x64, y64 = g.double(), x.double(), y.double()
    aten = torch.ops.aten.binary_cross_entropy_backward
    assert aten(g, x, y, None, 0)[0, 0].isnan()          # torch's float16 at x == y == 0
    reference, reference64 = grads(), aten(g64, x64, y64, None, 1)
    bce.enable()
    try:
        assert bce.enabled()
        routed = grads()
        assert aten(g, x, y, None, 0)[0, 0] == 0           # this kernel, under aten's name
        assert_bit_exact(aten(g, x, y, None, 0), op(g, x, y, None, 0))
        # float64 is not in the package: aten's own kernel serves it
        assert torch.equal(aten(g64, x64, y64, None, 1), reference64)
    finally:
        bce.disable()
    assert not bce.enabled()
    assert aten(g, x, y, None, 0)[0, 0].isnan()
    for a, b in zip(routed, reference):
        torch.testing.assert_close(a, b, rtol=RTOL["float32"] * 8, atol=1e-7)


@pytest.mark.parametrize("mutate, kind, pattern", [
    (lambda a: a.update(x=a["x"].long(), y=a["y"].long(), g=a["g"].long()), NotImplementedError,
     r"^\[E80008\] In op\[binary_cross_entropy_grad\], the parameter\[x\] dtype should be one of "
     r"\['float16', 'float32', 'bfloat16'\] on Ascend910B1 .*but actually is \[int64\]"),
    (lambda a: a.update(y=torch.rand(6, 3)), RuntimeError,
     r"^\[E80029\] .*shape \[6, 3\] of y should broadcast to the shape \[6, 5\] of x"),
    (lambda a: a.update(reduction=5), ValueError,
     r"^\[E80009\] .*parameter\[reduction\] should be one of \['none', 'mean', 'sum'\].* but "
     r"actually is \[5\]"),
])
def test_bad_input_raises_torch_errors(torch_bce, mutate, kind, pattern):
    g, x, y, w = grid_inputs(torch, "float32", True, seed=8)
    args = {"g": g, "x": x, "y": y, "w": w, "reduction": 1}
    mutate(args)
    with pytest.raises(kind, match=pattern):
        op(args["g"], args["x"], args["y"], args["w"], args["reduction"])
    assert op(g, x, y, w, 1).shape == x.shape  # the process and the operator carry on


def test_missing_package_is_a_runtime_error(torch_bce, tmp_path):
    bce = torch_bce["module"]
    g, x, y, w = grid_inputs(torch, "float32", False, seed=9)
    bce.set_package(tmp_path / "no_such_package")
    try:
        with pytest.raises(RuntimeError, match=r"^\[E61001\] .*no_such_package"):
            op(g, x, y, w, 1)
    finally:
        bce.set_package(torch_bce["package"])
    assert op(g, x, y, w, 1).shape == x.shape


def test_schema_is_atens():
    import bce_grad.torch  # noqa: F401

    ours = torch.ops.bce_grad.binary_cross_entropy_backward.default._schema
    theirs = torch.ops.aten.binary_cross_entropy_backward.default._schema
    assert [(a.name, str(a.type), a.default_value) for a in ours.arguments] == \
        [(a.name, str(a.type), a.default_value) for a in theirs.arguments]
    assert [str(r.type) for r in ours.returns] == [str(r.type) for r in theirs.returns]
