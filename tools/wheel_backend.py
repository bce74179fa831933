"""The build backend: setuptools', plus what a binary wheel's build needs (``setup.py``).

Building a wheel compiles the native runtime and the prebuilt kernel packages, which imports
the package and so needs its dependencies (setup.cfg's ``install_requires``: TVM's compiler,
numpy, ml-dtypes) in the build environment; an editable install compiles nothing and needs only
setuptools.
"""
from __future__ import annotations

import configparser
from pathlib import Path

from setuptools import build_meta as _setuptools
from setuptools.build_meta import *  # noqa: F401,F403  (the rest of the PEP 517 hooks)


def install_requires() -> list[str]:
    """setup.cfg's ``[options] install_requires``, the one home of the pins."""
    config = configparser.ConfigParser()
    config.read(Path(__file__).resolve().parent.parent / "setup.cfg", encoding="utf-8")
    return [line.strip() for line in config["options"]["install_requires"].splitlines()
            if line.strip()]


def get_requires_for_build_wheel(config_settings=None):
    """setuptools' requirements plus the package's own (the wheel's build imports it)."""
    return _setuptools.get_requires_for_build_wheel(config_settings) + install_requires()
