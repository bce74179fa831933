"""A call that no kernel serves asks the package's miss handler (issue 25: one kernel, never a
package, inside a call).

The framework adapters' package, where none is ready, is an in-memory package over the kernel
cache whose handler compiles the one kernel a call needs (``CachePackage.compile_on_miss``).
"""
from __future__ import annotations

import numpy as np
import pytest

from bce_grad.golden import binary_cross_entropy_grad_golden
from bce_grad.host_backend.errors import OpError
from bce_grad.runtime import native
from bce_grad.runtime.adapter import PackageChoice

SOC = "Ascend910B1"


def _inputs(shapes, dtype, seed=0):
    rng = np.random.default_rng(seed)
    x, y, g, *w = (rng.uniform(0.05, 0.95, s).astype(dtype) for s in shapes)
    return g, x, y, (w[0] if w else None)


@pytest.fixture
def empty_cache(monkeypatch, tmp_path, runtime_library):
    """A private kernel cache and no ready package (the runtime library stays the session's)."""
    from bce_grad.runtime import build

    monkeypatch.setattr(build, "library_path", lambda *a, **k: runtime_library)
    monkeypatch.setenv("BCE_GRAD_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("BCE_GRAD_PACKAGE", raising=False)
    monkeypatch.delenv("BCE_GRAD_SOC", raising=False)
    return tmp_path / "cache"


def test_a_handler_is_asked_once_per_new_kernel_and_the_call_then_runs(empty_cache):
    from bce_grad.runtime.cache_package import CachePackage

    package = CachePackage(SOC, {})
    asked = []
    build = package._build_missing
    package.runtime.set_miss_handler(lambda need: (asked.append(need), build(need)))
    rt = package.runtime
    cases = [(((6, 5), (1, 5), (6, 1), (5,)), "float32", "sum"),
             (((4, 3, 2),) * 3, "float16", "mean"),
             (((7, 9), (7, 9), ()), "float32", "none")]
    for shapes, dtype, reduction in cases:
        for _ in range(2):  # the second call finds the kernel: no second ask
            g, x, y, w = _inputs(shapes, dtype)
            got = rt.backward(g, x, y, w, reduction)
            want = binary_cross_entropy_grad_golden(x=x, y=y, grad_output=g, weight=w,
                                                    reduction=reduction, compute_dtype="float32",
                                                    out_dtype=dtype)
            assert got.tobytes() == want.tobytes(), (shapes, dtype, reduction)
    assert [(n["dtypes"], n["reduction"]) for n in asked] == [
        (["float32"] * 4, "sum"), (["float16"] * 3, "mean"), (["float32"] * 3, "none")]
    assert asked[0]["inputs"] == ["x", "y", "grad_output", "weight"]
    assert asked[0]["shapes"] == [[6, 5], [1, 5], [6, 1], [1, 5]]  # canonical: weight (5,) a row
    assert len(list((empty_cache / "kernels").glob("bce_grad_*.so"))) == 3
    assert not (empty_cache / "packages").exists()


def test_a_failing_handler_fails_the_call_with_its_text_and_the_next_call_asks_again(empty_cache):
    from bce_grad.runtime.cache_package import CachePackage

    package = CachePackage(SOC, {})
    asked = []

    def refuse(need):
        asked.append(need)
        raise OpError("E61001", "no compiler here (test)")

    package.runtime.set_miss_handler(refuse)
    g, x, y, _ = _inputs(((3, 4),) * 3, "float32")
    for _ in range(2):
        with pytest.raises(native.KernelNotInPackage, match=r"E61001.*no compiler here \(test\)"):
            package.runtime.backward(g, x, y)
    assert len(asked) == 2
    package.runtime.set_miss_handler(lambda need: 1 / 0)  # not an OpError: named, E61001
    with pytest.raises(native.KernelNotInPackage,
                       match=r"E61001.*building the kernel the call needs failed: ZeroDivision"):
        package.runtime.backward(g, x, y)
    package.runtime.set_miss_handler(None)  # removed: the runtime's own refusal
    with pytest.raises(native.KernelNotInPackage, match=r"has no kernel for the broadcast pattern"):
        package.runtime.backward(g, x, y)


def test_an_adapter_without_a_ready_package_compiles_kernels_not_a_package(empty_cache,
                                                                            monkeypatch):
    from bce_grad.runtime import packages

    def no_package_build(*args, **kwargs):
        raise AssertionError("a kernel package was built inside a call")

    monkeypatch.setattr(packages, "_default_package", no_package_build)
    choice = PackageChoice()
    assert choice.package_dir() is None
    rt = choice.runtime()
    assert choice.runtime() is rt  # resolved once
    g, x, y, w = _inputs(((5, 8), (5, 8), (5, 1), (8,)), np.float32)
    want = binary_cross_entropy_grad_golden(x=x, y=y, grad_output=g, weight=w,
                                            compute_dtype="float32")
    assert rt.backward(g, x, y, w).tobytes() == want.tobytes()
    assert len(list((empty_cache / "kernels").glob("bce_grad_*.so"))) == 1
    assert not (empty_cache / "packages").exists()
