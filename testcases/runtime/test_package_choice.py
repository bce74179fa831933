"""``PackageChoice.runtime``: resolved once, resolved again when what it depends on changes."""
from __future__ import annotations

import shutil

import pytest

from bce_grad.host_backend.errors import OpValueError
from bce_grad.runtime.adapter import PackageChoice


@pytest.fixture
def counted(monkeypatch, package_dir, runtime_library):
    """A fresh choice whose path resolutions are counted; $BCE_GRAD_PACKAGE names the package."""
    monkeypatch.setenv("BCE_GRAD_PACKAGE", package_dir)
    choice = PackageChoice()
    resolutions = []
    resolve = choice.package_dir

    def package_dir_counted():
        resolutions.append(1)
        return resolve()

    monkeypatch.setattr(choice, "package_dir", package_dir_counted)
    return choice, resolutions


def test_a_second_call_does_not_resolve_the_path(counted):
    choice, resolutions = counted
    first = choice.runtime()
    assert [choice.runtime() is first for _ in range(3)] == [True] * 3
    assert len(resolutions) == 1


def test_environment_context_and_choose_resolve_again(counted, monkeypatch, tmp_path, package_dir):
    from bce_grad.host_backend import platform

    choice, resolutions = counted
    first = choice.runtime()
    other = tmp_path / "other"
    shutil.copytree(package_dir, other)
    monkeypatch.setenv("BCE_GRAD_PACKAGE", str(other))
    second = choice.runtime()
    assert second is not first and len(resolutions) == 2
    assert second.package_dir == other.resolve()

    (other / "manifest.json").unlink()  # a removed package is not served from memory
    with pytest.raises(OpValueError, match=r"E80000.*BCE_GRAD_PACKAGE.*no manifest.json"):
        choice.runtime()
    monkeypatch.setenv("BCE_GRAD_PACKAGE", package_dir)
    assert choice.runtime() is first

    count = len(resolutions)
    with platform.use_soc("Ascend910B1"):  # another context's SoC may pick another package
        choice.runtime()
    assert len(resolutions) == count + 1
    choice.choose(package_dir, None)
    assert choice.runtime() is first and len(resolutions) == count + 2
