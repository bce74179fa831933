"""Session fixtures of the native-runtime tests: the library (built once) and a small package.

The package holds the kernels the tests call, compiled through ``bce_grad.runtime.kernel_set``
(the path ``bce-grad aot`` takes): every dtype of Ascend910B1 with and without weight, for
same-shape and row/column broadcast patterns (mean kernels; none and sum run them with cof 1),
plus one dedicated none/sum ("plain") kernel and the one-element pattern.
"""
from __future__ import annotations

import concurrent.futures

import pytest

from bce_grad.op_support import DTYPES  # noqa: F401 - used by the tests

SOC = "Ascend910B1"
#: (pattern key with weight, without weight) per broadcast case the tests use.
PATTERNS = {"same": ("d_d_d_d", "d_d_d"), "rowcol": ("dd_dd_d1_1d", "dd_dd_d1")}


def package_specs():
    from bce_grad.runtime.kernel_set import KernelSpec

    specs = []
    for dtype in DTYPES:
        for with_w, without_w in PATTERNS.values():
            specs.append(KernelSpec((dtype,) * 4, dtype, "mean", with_w))
            specs.append(KernelSpec((dtype,) * 3, dtype, "mean", without_w))
    specs.append(KernelSpec(("float32",) * 4, "float32", "plain", "dd_dd_d1_1d"))
    specs.append(KernelSpec(("float32",) * 3, "float32", "mean", "1_1_1"))
    return specs


@pytest.fixture(scope="session")
def runtime_library() -> str:
    """Path of the runtime library built from source (once per session, under the test cache)."""
    from bce_grad.runtime.build import library_path

    return str(library_path())


@pytest.fixture(scope="session")
def package_dir(tmp_path_factory) -> str:
    """A small kernel package, compiled while the runtime library builds."""
    from bce_grad.runtime.build import library_path
    from bce_grad.runtime.kernel_set import build_package

    out = tmp_path_factory.mktemp("bce_grad_pkg")
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        lib = pool.submit(library_path)  # g++ runs in subprocesses while kernels compile here
        build_package(out, SOC, package_specs(), jobs=1, log=lambda line: None)
        lib.result()
    return str(out)


@pytest.fixture(scope="session")
def runtime(package_dir, runtime_library):
    from bce_grad.runtime import Runtime

    with Runtime(package_dir, library=runtime_library) as rt:
        yield rt
