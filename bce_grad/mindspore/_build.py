"""Build the MindSpore kernel library from ``csrc/bce_grad_ms.cc``, once per machine and key.

The library holds the ``ops.Custom(func_type="aot")`` functions MindSpore loads (``dlopen``) by
path. It needs neither MindSpore's headers nor its libraries: MindSpore's aot ABI is plain C
(``int Func(int, void**, int*, int64_t**, const char**, void*, void*)``) plus
``std::vector<int64_t> FuncInferShape(int*, int64_t**, void*)``, and the native runtime is reached
through pointers that :mod:`bce_grad.mindspore._native` binds. So it builds in about 2 s with the
system compiler (``$CXX``, else ``g++``).

The first :func:`library_path` caches ``libbce_grad_ms-<key>.so`` under ``<cache root>/mindspore``
through :func:`bce_grad.runtime.adapter.framework_library` (the key hashes the source, the
runtime's and the adapters' C headers, MindSpore's version, the compiler's identity and the flags).
"""
from __future__ import annotations

import importlib.metadata
from pathlib import Path

from bce_grad.runtime.adapter import framework_cache_root, framework_library

SOURCE = Path(__file__).resolve().parent / "csrc" / "bce_grad_ms.cc"
CXXFLAGS = ("-std=c++17", "-O2", "-fPIC", "-shared", "-fvisibility=hidden", "-Wall")


def cache_root() -> Path:
    """``<cache root>/mindspore``: ``$BCE_GRAD_CACHE/mindspore``, else ``~/.cache/bce-grad/mindspore``."""
    return framework_cache_root("mindspore")


def _mindspore_flags() -> tuple[tuple, tuple, str]:
    """No MindSpore headers or libraries; the identity is MindSpore's version."""
    try:
        version = importlib.metadata.version("mindspore")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    return (), (), f"mindspore {version}"


def library_path(root: Path | None = None) -> Path:
    """The aot kernel library for this machine: built now if the cache lacks it.

    Parameters
    ----------
    root : Path, optional
        Cache directory; default :func:`cache_root`.

    Returns
    -------
    pathlib.Path
        ``libbce_grad_ms-<key>.so``.

    Raises
    ------
    OpError
        E61001 when there is no C++ compiler (naming what to install) or the build fails.
    """
    return framework_library("libbce_grad_ms", SOURCE, CXXFLAGS, _mindspore_flags, "MindSpore",
                             root)


def identity() -> str:
    """The installed framework's version and ABI, as the library's cache key (and a wheel's
    shipped adapter, :func:`bce_grad.runtime.prebuilt.adapter_library`) records it."""
    return _mindspore_flags()[2]
