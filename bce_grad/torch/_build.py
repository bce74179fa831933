"""Build the PyTorch operator library from ``csrc/bce_grad_torch.cc``, once per machine and key.

The first :func:`library_path` compiles the source with the system C++ compiler (``$CXX``, else
``g++``; about 20 s) against the installed torch's headers and libraries, and caches
``libbce_grad_torch-<key>.so`` under ``<cache root>/torch`` through
:func:`bce_grad.runtime.adapter.framework_library` (the key hashes the source, the runtime's and
the adapters' C headers, torch's version and C++ ABI, the compiler's identity and the flags).
"""
from __future__ import annotations

from pathlib import Path

from bce_grad.runtime.adapter import framework_cache_root, framework_library

SOURCE = Path(__file__).resolve().parent / "csrc" / "bce_grad_torch.cc"
CXXFLAGS = ("-std=c++20", "-O2", "-fPIC", "-shared", "-fvisibility=hidden", "-Wall",
            "-Wno-unused-function")


def cache_root() -> Path:
    """``<cache root>/torch``: ``$BCE_GRAD_CACHE/torch``, else ``~/.cache/bce-grad/torch``."""
    return framework_cache_root("torch")


def _torch_flags() -> tuple[list[str], list[str], str]:
    """(compile flags, link flags, identity) of the installed torch."""
    import torch
    from torch.utils import cpp_extension

    abi = int(torch._C._GLIBCXX_USE_CXX11_ABI)
    compile_flags = [f"-D_GLIBCXX_USE_CXX11_ABI={abi}",
                     *[f"-I{p}" for p in cpp_extension.include_paths()]]
    libs = cpp_extension.library_paths()
    link_flags = [*[f"-L{d}" for d in libs], *[f"-Wl,-rpath,{d}" for d in libs],
                  "-lc10", "-ltorch_cpu", "-ltorch"]
    return compile_flags, link_flags, f"torch {torch.__version__} abi {abi}"


def library_path(root: Path | None = None) -> Path:
    """The operator library for this machine and torch: built now if the cache lacks it.

    Raises
    ------
    OpError
        E61001 when there is no C++ compiler (naming what to install) or the build fails.
    """
    return framework_library("libbce_grad_torch", SOURCE, CXXFLAGS, _torch_flags, "torch",
                             root)


def identity() -> str:
    """The installed framework's version and ABI, as the library's cache key (and a wheel's
    shipped adapter, :func:`bce_grad.runtime.prebuilt.adapter_library`) records it."""
    return _torch_flags()[2]
