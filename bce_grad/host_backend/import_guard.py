"""Import TVM without importing PyTorch, and without changing what other threads see.

``tvm_ffi`` (TVM's FFI) runs ``import torch`` eagerly while it initialises, whenever torch is
installed: 2-4 s of no use to the host backend, whose kernels receive numpy arrays and DLPack
tensors. tvm_ffi has no switch for it (``TVM_FFI_DISABLE_TORCH_C_DLPACK`` skips only its
DLPack extension, not the import).

:func:`install` puts a finder first on ``sys.meta_path`` that answers only for ``torch``, only
while torch is not imported yet, and only for a lookup issued on a thread that is running
the first import of ``tvm`` or ``tvm_ffi`` (their ``__init__``): that lookup fails with
``ModuleNotFoundError``, which TVM catches. It never writes ``sys.modules``, so ``import
torch`` anywhere else, another thread's during TVM's import included, works as usual; torch
imported before TVM is used by TVM as usual. Only TVM's optional torch conveniences, which the
host backend does not use, stay off when TVM loads first.
"""
from __future__ import annotations

import importlib.abc
import sys

_GUARDED = ("tvm", "tvm_ffi")
_BLOCKED = "torch"


def _in_tvm_import(frame) -> bool:
    """Whether ``frame``'s stack runs the ``__init__`` of ``tvm`` or ``tvm_ffi``: their first
    import, with every submodule it imports. A later import of a submodule (say
    ``tvm.relax.frontend.torch``, which needs torch) is not theirs and is left alone."""
    while frame is not None:
        if frame.f_code.co_name == "<module>" and frame.f_globals.get("__name__") in _GUARDED:
            return True
        frame = frame.f_back
    return False


class _TorchlessFinder(importlib.abc.MetaPathFinder):
    """Fails the lookup of ``torch`` issued during TVM's own import, on that thread only."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname == _BLOCKED and _in_tvm_import(sys._getframe(1)):
            raise ModuleNotFoundError(f"No module named {_BLOCKED!r} (left out of TVM's import "
                                      f"by bce_grad.host_backend.import_guard)", name=_BLOCKED)
        return None


def install() -> None:
    """Put the finder first on ``sys.meta_path`` (once); no effect once TVM is loaded. The
    finder stays: it costs one comparison per import that reaches the meta path."""
    if all(name in sys.modules for name in _GUARDED) or any(isinstance(f, _TorchlessFinder) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, _TorchlessFinder())
