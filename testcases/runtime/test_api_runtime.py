"""The numpy API launches through the native runtime; the Python path stays for what it lacks."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from bce_grad.golden import binary_cross_entropy_grad_golden as golden


def _call(seed=0, shape=(4, 4), dtype=np.float32):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.02, 0.98, shape).astype(dtype)
    return np.ones(shape, dtype), x, rng.uniform(0, 1, shape).astype(dtype)


def test_warm_calls_go_straight_to_the_runtime(monkeypatch):
    from bce_grad import api
    from bce_grad.runtime import cache_package

    g, x, y = _call(1)
    first = api.binary_cross_entropy_backward(g, x, y, None, "mean")  # compiles, registers
    package = cache_package.lookup(None)
    assert package is not None

    def no_python_path(*args):
        raise AssertionError("the warm call took the Python path")

    monkeypatch.setattr(api, "_backward", no_python_path)
    again = api.binary_cross_entropy_backward(g, x, y, None, "mean")
    np.testing.assert_array_equal(again, first)
    np.testing.assert_array_equal(again, golden(x=x, y=y, grad_output=g, weight=None, reduction="mean", compute_dtype="float32", out_dtype="float32"))
    out = np.empty_like(x)
    assert api.binary_cross_entropy_backward(g, x, y, None, 1, out=out) is out


def test_calls_the_runtime_refuses_take_the_python_path_and_its_errors(monkeypatch):
    from bce_grad import api
    from bce_grad.host_backend.errors import OpValueError

    g, x, y = _call(2)
    api.binary_cross_entropy_backward(g, x, y, None, "sum")
    with pytest.raises(OpValueError, match=r"parameter\[out\] is unusable: shape \[2, 8\] should "
                       r"be x's shape \[4, 4\]"):
        api.binary_cross_entropy_backward(g, x, y, None, "sum", out=np.empty((2, 8), np.float32))
    with pytest.raises(ValueError, match=r"\[E80029\] .*shape \[3\] of y should broadcast to the shape "
                       r"\[4, 4\] of x"):  # the Python API's own message
        api.binary_cross_entropy_backward(g, x, np.zeros((3,), np.float32), None, "sum")


def test_a_changed_environment_is_not_served_by_the_old_package(monkeypatch):
    from bce_grad import api

    g, x, y = _call(3)
    api.binary_cross_entropy_backward(g, x, y, None, "mean")
    monkeypatch.setenv("BCE_GRAD_SOC", "NoSuchSoc")
    with pytest.raises(ValueError, match=r"BCE_GRAD_SOC"):
        api.binary_cross_entropy_backward(g, x, y, None, "mean")
    monkeypatch.setenv("BCE_GRAD_CACHE", "")
    monkeypatch.delenv("BCE_GRAD_SOC")
    with pytest.raises(ValueError, match=r"BCE_GRAD_CACHE"):
        api.binary_cross_entropy_backward(g, x, y, None, "mean")


def test_mixed_dtypes_and_out_dtype_through_the_runtime():
    from bce_grad import api

    g, x, y = _call(4, (3, 5))
    x16 = x.astype(np.float16)
    for _ in range(2):  # compile + register, then the runtime alone
        got = api.binary_cross_entropy_backward(g, x16, y, None, "mean", out_dtype="float16")
        want = golden(x=x16.astype(np.float32), y=y, grad_output=g, weight=None, reduction="mean", compute_dtype="float32", out_dtype="float16")
        np.testing.assert_array_equal(got.view(np.uint16), want.view(np.uint16))


@pytest.mark.parametrize("call", [
    lambda g, x, y: (0.5, x, y, 2.0, "mean", {}),  # Python scalars: the checked path
    lambda g, x, y: (g, x.astype(np.float16), y, None, "none", {"out_dtype": "float16"}),
], ids=["python_scalars", "mixed_dtypes_out_dtype"])
def test_checked_calls_the_runtime_serves_skip_the_kernel_cache(call, monkeypatch):
    """A call that takes the Python checks (scalars, mixed dtypes, out_dtype) but whose kernel
    the runtime already holds launches there without a kernel-cache lookup (was ~0.3 ms)."""
    from bce_grad import api
    from bce_grad import kernel_cache

    g, x, y = _call(5, (6, 7))
    grad, x_in, y_in, weight, reduction, options = call(g, x, y)
    first = api.binary_cross_entropy_backward(grad, x_in, y_in, weight, reduction, **options)

    def no_lookup(*args, **kwargs):
        raise AssertionError("the kernel cache was consulted for a kernel the runtime holds")

    monkeypatch.setattr(kernel_cache, "get_kernel", no_lookup)
    again = api.binary_cross_entropy_backward(grad, x_in, y_in, weight, reduction, **options)
    np.testing.assert_array_equal(again.view(np.uint8), first.view(np.uint8))


def test_without_a_compiler_the_api_warns_once_and_launches_in_python(tmp_path):
    code = """
import warnings
import numpy as np
from bce_grad.host_backend.errors import OpError
from bce_grad.runtime import build


def no_compiler(root=None):  # what build.library_path raises where no C++ compiler exists
    raise OpError("E61001", "the native runtime ... needs a C++17 compiler", param_name="CXX")


build.library_path = no_compiler
from bce_grad.api import binary_cross_entropy_backward as f
from bce_grad.golden import binary_cross_entropy_grad_golden as golden
x = np.full((4, 4), 0.3, np.float32)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    for _ in range(3):
        assert (f(1.0, x, x * 0, None, "sum") == golden(x=x, y=x * 0, grad_output=np.float32(1),
                                                         reduction="sum", compute_dtype="float32")).all()
print("warnings:", [str(w.message)[:60] for w in caught])
"""
    env = dict(os.environ, BCE_GRAD_CACHE=str(tmp_path / "cache"))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          cwd=os.getcwd(), timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("the native runtime is unavailable") == 1, done.stdout
