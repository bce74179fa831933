"""Import TVM without importing PyTorch.

``tvm_ffi`` (TVM's FFI) and ``tvm.relax`` run ``import torch`` eagerly whenever torch
is installed, which costs 2-4 s and is of no use to the host backend: kernels receive
numpy arrays and DLPack tensors. :func:`install` adds a finder that, on the first
import of ``tvm`` or ``tvm_ffi`` and only while torch has not been imported yet, makes
``import torch`` fail inside their initialisation, then removes the block. torch
imported before or after works as usual; only TVM's optional torch conveniences (which
the host backend does not use) stay off.
"""
from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys

_GUARDED = ("tvm", "tvm_ffi")
_BLOCKED = "torch"


class _TorchlessLoader(importlib.abc.Loader):
    """Wraps the loader of ``tvm`` or ``tvm_ffi``: executes it with ``import torch`` blocked."""

    def __init__(self, loader: importlib.abc.Loader) -> None:
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module) -> None:
        block = _BLOCKED not in sys.modules
        if block:
            sys.modules[_BLOCKED] = None  # type: ignore[assignment]  # makes `import torch` fail
        try:
            self._loader.exec_module(module)
        finally:
            if block and sys.modules.get(_BLOCKED, 0) is None:
                del sys.modules[_BLOCKED]


class _TorchlessFinder(importlib.abc.MetaPathFinder):
    """Finds ``tvm`` and ``tvm_ffi`` as usual and hands back a spec with :class:`_TorchlessLoader`."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in _GUARDED or _BLOCKED in sys.modules:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None:
            return None
        spec.loader = _TorchlessLoader(spec.loader)
        return spec


def install() -> None:
    """Put the finder first on ``sys.meta_path`` (once); no effect once TVM is loaded."""
    if all(name in sys.modules for name in _GUARDED) or any(isinstance(f, _TorchlessFinder) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, _TorchlessFinder())
