"""``bce_grad``: the BinaryCrossEntropyGrad operator for Python users.

>>> import numpy as np, bce_grad
>>> x = np.full((2, 3), 0.25, np.float32)
>>> bce_grad.binary_cross_entropy_backward(1.0, x, np.ones_like(x), reduction="sum")[0, 0]
np.float32(-4.0)

The call checks its arguments as CANN's FE and aclnn do, compiles the operator's
dynamic entry on first use for the broadcast pattern (cached on disk) and runs it on
the host backend, CANN's ``tbe`` API on Apache TVM. ``bce-grad`` (or
``python -m bce_grad``) is the command line. Importing this package is cheap: the
API and its dependencies load on first use.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bce_grad._version import __version__

if TYPE_CHECKING:
    from bce_grad.api import binary_cross_entropy_backward
    from bce_grad.golden import binary_cross_entropy_grad_golden
    from bce_grad.host_backend.errors import OpError

__all__ = ["__version__", "binary_cross_entropy_backward", "binary_cross_entropy_grad_golden",
           "OpError"]

#: Public names and the modules that define them, imported on first access.
_LAZY = {
    "binary_cross_entropy_backward": "bce_grad.api",
    "binary_cross_entropy_grad_golden": "bce_grad.golden",
    "OpError": "bce_grad.host_backend.errors",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'bce_grad' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
