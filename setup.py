"""Build hooks (the metadata is in setup.cfg): a wheel is a binary wheel.

``pip wheel .`` / ``pip install .`` compile, into the wheel, the native runtime and the default
kernel package for each x86-64 level (:mod:`bce_grad.runtime.prebuilt`), so that nothing is
compiled on a user's machine for the default SoC. Editable installs (``pip install -e .``)
compile nothing here: the checkout builds what it needs on first use.
``BCE_GRAD_WHEEL_PREBUILT=0`` builds a wheel without them (a platform wheel all the same).
"""
from __future__ import annotations

import os
import platform
import shutil
import sys
from pathlib import Path

from setuptools import Distribution, setup
from setuptools.command.bdist_wheel import bdist_wheel
from setuptools.command.build_py import build_py


class BinaryDistribution(Distribution):
    """A distribution with compiled code: its wheel gets a platform tag, not ``py3-none-any``."""

    def has_ext_modules(self) -> bool:
        return True


class BuildPy(build_py):
    """``build_py``, then the prebuilt runtime and kernel packages into the build tree."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):  # the checkout's impl/ and a build on first use
            return
        # the operator's sources, which bce_grad._impl loads by location (CANN's impl/ layout)
        sources = Path(self.build_lib) / "bce_grad" / "_impl" / "sources"
        shutil.rmtree(sources, ignore_errors=True)
        shutil.copytree(Path(__file__).resolve().parent / "impl", sources,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        if os.environ.get("BCE_GRAD_WHEEL_PREBUILT") == "0":
            return
        build_lib = str(Path(self.build_lib).resolve())
        sys.path.insert(0, build_lib)  # the package as the wheel lays it out
        os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [build_lib, os.environ.get("PYTHONPATH")]))
        from bce_grad.runtime import prebuilt_build

        prebuilt_build.build(Path(build_lib) / "bce_grad" / "_prebuilt",
                       jobs=max(1, len(os.sched_getaffinity(0))))


class BinaryWheel(bdist_wheel):
    """Tags ``py3-none-manylinux_2_<glibc>_<arch>``: no Python ABI is used (ctypes and dlopen
    only), and the libraries need no newer glibc than the one they were built against."""

    def get_tag(self) -> tuple[str, str, str]:
        _, _, plat = super().get_tag()
        libc, version = platform.libc_ver()
        if plat.startswith("linux_") and libc == "glibc" and version:
            major, minor = version.split(".")[:2]
            plat = f"manylinux_{major}_{minor}_{plat[len('linux_'):]}"
        return "py3", "none", plat


setup(distclass=BinaryDistribution, cmdclass={"build_py": BuildPy, "bdist_wheel": BinaryWheel})
