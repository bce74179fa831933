"""``default_package``: $BCE_GRAD_PACKAGE validated, else built once on first use, atomically."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from bce_grad.host_backend.errors import OpValueError
from testcases.runtime.conftest import SOC


@pytest.fixture
def fresh_packages(tmp_path, monkeypatch):
    from bce_grad.runtime import packages

    monkeypatch.delenv(packages.PACKAGE_ENV, raising=False)
    monkeypatch.setenv("BCE_GRAD_CACHE", str(tmp_path))
    packages._default_package.cache_clear()
    yield tmp_path / "packages"
    packages._default_package.cache_clear()


def test_minimal_package_is_built_once_and_serves_every_float32_pattern(
        fresh_packages, monkeypatch, capfd, runtime_library, tmp_path):
    from bce_grad.golden import binary_cross_entropy_grad_golden as golden
    from bce_grad.runtime import Runtime, default_package, package_kernel_set

    monkeypatch.setenv("BCE_GRAD_PACKAGE_SET", "minimal")
    specs = package_kernel_set(SOC)
    assert len(specs) == 10 and sum(s.strided for s in specs) == 8
    # built by a user's script with no `if __name__ == "__main__"` guard: the build's spawn
    # workers must not run it again (they did, and waited forever on the build's lock)
    script = tmp_path / "train.py"
    script.write_text("from bce_grad.runtime import default_package\n"
                      f"print('package:', default_package({SOC!r}))\n")
    run = subprocess.run([sys.executable, str(script)], env=dict(os.environ), capture_output=True,
                         text=True, timeout=600, check=False)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "building the minimal kernel package for Ascend910B1 (10 kernels" in run.stderr
    assert run.stdout.count("package:") == 1, run.stdout  # the script ran once, in its process
    path = default_package(SOC)  # the same key in this process: found, nothing built
    assert "building" not in capfd.readouterr().err
    assert run.stdout.split("package:")[1].strip() == str(path)
    assert path.parent == fresh_packages and path.name.startswith("ascend910b-")
    assert [p.name for p in fresh_packages.iterdir() if p.name.startswith(".")] == []
    x = np.linspace(0.1, 0.9, 2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)
    y, g = np.full((3, 1, 5), 0.25, np.float32), np.full((2, 1, 4, 1), 2.0, np.float32)
    with Runtime(path, library=runtime_library) as rt:
        got = rt.backward(g, x, y, None, "mean")
    np.testing.assert_array_equal(got, golden(x=x, y=y, grad_output=g, weight=None, reduction="mean", compute_dtype="float32", out_dtype="float32"))


def test_failed_build_names_its_process(fresh_packages, monkeypatch):
    from bce_grad.host_backend.errors import OpError
    from bce_grad.runtime import default_package, packages

    monkeypatch.setenv("BCE_GRAD_PACKAGE_SET", "minimal")
    monkeypatch.setattr(packages, "_CHILD_CODE", "raise SystemExit(3)")
    with pytest.raises(OpError, match=r"\[E61001\] .*building the minimal kernel package for "
                       r"Ascend910B1 failed in its build process \(.*, exit status 3\)"):
        default_package(SOC)
    assert [p.name for p in fresh_packages.iterdir() if not p.name.endswith(".lock")] == []


def test_package_variable_is_validated(tmp_path, monkeypatch, package_dir):
    from bce_grad.runtime import default_package

    monkeypatch.setenv("BCE_GRAD_PACKAGE", str(tmp_path))
    with pytest.raises(OpValueError, match=r"\[E80000\] the environment variable\[BCE_GRAD_PACKAGE\] "
                       r"should name a kernel package directory .* has no manifest.json"):
        default_package()
    pkg = tmp_path / "pkg"
    shutil.copytree(package_dir, pkg)
    monkeypatch.setenv("BCE_GRAD_PACKAGE", str(pkg))
    assert default_package() == pkg and default_package("Ascend910B2") == pkg
    with pytest.raises(OpValueError, match=r"BCE_GRAD_PACKAGE\] names the package .* built for "
                       r"\[Ascend910B\], but the call asks for \[Ascend310P3\]"):
        default_package("Ascend310P3")
    assert json.loads((pkg / "manifest.json").read_text())["soc_version"] == SOC


def test_bad_set_names_the_variable(fresh_packages, monkeypatch):
    from bce_grad.runtime import default_package

    monkeypatch.setenv("BCE_GRAD_PACKAGE_SET", "huge")
    with pytest.raises(OpValueError, match=r"BCE_GRAD_PACKAGE_SET\] should be one of "
                       r"\['minimal', 'default', 'full'\], but actually is \[huge\]"):
        default_package(SOC)
