"""Where the shipped sources and data are, found through the import system.

The repository keeps CANN's layout (``impl/``, ``op_info_cfg/``, ``op_proto/``); an
install ships the data as ``bce_grad.op_info_cfg`` and ``bce_grad.op_proto`` (``setup.cfg``) and
the operator's sources under ``bce_grad._impl``, which loads them by location. Nothing here assumes a repository checkout,
so an editable install, ``pip install .`` and a wheel behave the same.
"""
from __future__ import annotations

import functools
import importlib.resources
from pathlib import Path


@functools.lru_cache(maxsize=None)
def package_dir(package: str) -> Path:
    """The directory of the installed package ``package`` (for example ``"bce_grad._impl"``).

    Raises
    ------
    FileNotFoundError
        When the package is not on the file system (a zip import is not supported).
    """
    try:
        root = importlib.resources.files(package)
    except ModuleNotFoundError:  # a plain checkout (PYTHONPATH=.): CANN's top-level layout
        checkout = Path(__file__).resolve().parent.parent / package.rpartition(".")[2]
        if not package.startswith("bce_grad.") or not checkout.is_dir():
            raise FileNotFoundError(f"package {package!r} is not installed") from None
        return checkout
    path = Path(str(root))
    if not path.is_dir():
        raise FileNotFoundError(f"package {package!r} is not installed as a directory ({root})")
    return path


def impl_dir() -> Path:
    """The operator's sources, CANN's ``impl/`` (import name ``bce_grad._impl``, never ``impl``,
    loaded by location: see ``bce_grad/_impl/__init__.py``)."""
    from bce_grad import _impl

    return _impl.SOURCES


def op_info_dir() -> Path:
    """The op info per SoC, ``op_info_cfg/ai_core`` (import name ``bce_grad.op_info_cfg``)."""
    return package_dir("bce_grad.op_info_cfg") / "ai_core"


def op_proto_dir() -> Path:
    """The op proto sources (import name ``bce_grad.op_proto``)."""
    return package_dir("bce_grad.op_proto")


def host_backend_dir() -> Path:
    """The host backend's sources (import name ``bce_grad.host_backend``)."""
    return package_dir("bce_grad.host_backend")
