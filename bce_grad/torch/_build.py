"""Build the PyTorch operator library from ``csrc/bce_grad_torch.cc``, once per machine and key.

The first :func:`library_path` compiles the source with the system C++ compiler (``$CXX``, else
``g++``; about 20 s) against the installed torch's headers and libraries, and caches
``libbce_grad_torch-<key>.so`` under ``<cache>/../torch`` (beside the runtime library, see
:func:`bce_grad.runtime.build.cache_root`). The key hashes the source, the runtime's C header,
torch's version and C++ ABI, the compiler's identity and the flags, so any change builds afresh.
The library is linked in a private temporary directory and renamed into place; builders of one
key (threads, processes) take a file lock and look again before compiling.
"""
from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

from bce_grad.host_backend.errors import OpError
from bce_grad.runtime import build as runtime_build

SOURCE = Path(__file__).resolve().parent / "csrc" / "bce_grad_torch.cc"
CXXFLAGS = ("-std=c++20", "-O2", "-fPIC", "-shared", "-fvisibility=hidden", "-Wall",
            "-Wno-unused-function")


def cache_root() -> Path:
    """``<kernel cache>/../torch``: beside ``$BCE_GRAD_CACHE``, else ``~/.cache/bce-grad/torch``."""
    return runtime_build.cache_root().parent / "torch"


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


def build_key() -> str:
    """The cache key: the source, the runtime header, torch, the compiler, the flags."""
    header = runtime_build.INCLUDE_DIR / "bce_grad_runtime.h"
    blob = json.dumps({
        "source": hashlib.sha256(SOURCE.read_bytes()).hexdigest(),
        "header": hashlib.sha256(header.read_bytes()).hexdigest(),
        "torch": _torch_flags()[2], "compiler": runtime_build.compiler()[1], "flags": CXXFLAGS,
    }, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def _compile(out: Path) -> None:
    cxx = runtime_build.compiler()[0]
    compile_flags, link_flags, _ = _torch_flags()
    ffi = runtime_build._package_dir("tvm_ffi")  # dlpack/dlpack.h, as the runtime is built
    cmd = [cxx, *CXXFLAGS, *compile_flags, f"-I{runtime_build.INCLUDE_DIR}",
           f"-I{ffi / 'include'}", str(SOURCE), "-o", str(out), *link_flags]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout)[-3000:]
        raise OpError("E61001", f"building the PyTorch operator failed ({cxx} exited with "
                      f"{done.returncode}):\n{tail}", param_name=runtime_build.CXX_ENV)


def library_path(root: Path | None = None) -> Path:
    """The operator library for this machine and torch: built now if the cache lacks it.

    Raises
    ------
    OpError
        E61001 when there is no C++ compiler (naming what to install) or the build fails.
    """
    root = Path(root) if root is not None else cache_root()
    return runtime_build.build_once(root / f"libbce_grad_torch-{build_key()}.so", _compile)
