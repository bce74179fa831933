"""``bce_grad.torch``: BinaryCrossEntropyGrad as a PyTorch operator (CPU), on the native runtime.

>>> import torch, bce_grad.torch                                         # doctest: +SKIP
>>> x = torch.rand(4, 5, requires_grad=True)                             # doctest: +SKIP
>>> loss = bce_grad.torch.binary_cross_entropy(x, torch.rand(4, 5))      # doctest: +SKIP
>>> loss.backward()                                # the gradient runs the project's kernel

Importing this module registers

- ``torch.ops.bce_grad.binary_cross_entropy_backward(Tensor grad_output, Tensor self,
  Tensor target, Tensor? weight=None, int reduction=1) -> Tensor``: aten's schema, the project's
  semantics (target, weight and grad_output broadcast to self; mixed float dtypes promote;
  float16/bfloat16 computed in float32 and rounded once). A C++ kernel (``csrc/``, built with the
  system compiler on first use and cached) calls the native runtime's C ABI on the tensors'
  memory; a fake function serves ``torch.compile`` and meta tensors; a derivative serves double
  backward.

and offers :func:`binary_cross_entropy` (the forward, differentiable through the operator),
:func:`enable` / :func:`disable` (route aten's own CPU ``binary_cross_entropy_backward`` here,
so unchanged models train on it) and :func:`set_package` (which kernel package to run).

Difference from torch's CPU kernel: torch computes float16/bfloat16 in the storage dtype, one
rounding per operation, with its 1e-12 clamp rounded to float16 zero, so x == y in {0, 1} gives
NaN in float16; this operator gives 0 there, and elsewhere differs from torch by up to about
2.4e-3 (float16) and 2.2e-2 (bfloat16) relative, and a few ulp in float32.

Errors are torch's exception types with the CANN code first in the message: a dtype the SoC does
not list (``NotImplementedError``, as aten's "not implemented for 'Long'"), a bad reduction
(``ValueError``), shapes that do not broadcast to self (``RuntimeError``).
"""
from __future__ import annotations

try:
    import torch as _torch  # noqa: F401
except ImportError as err:  # pragma: no cover - depends on the environment
    raise ImportError("bce_grad.torch needs PyTorch: pip install 'bce-grad[torch]'") from err

from bce_grad.torch import _native

_native.load()  # defines torch.ops.bce_grad.binary_cross_entropy_backward (C++)

from bce_grad.torch._native import aten_routed, set_package  # noqa: E402
from bce_grad.torch._ops import binary_cross_entropy  # noqa: E402  (registers fake + autograd)

__all__ = ["binary_cross_entropy", "disable", "enable", "enabled", "set_package"]


def enable() -> None:
    """Route aten's CPU ``binary_cross_entropy_backward`` to this operator's kernel.

    ``torch.nn.functional.binary_cross_entropy`` / ``nn.BCELoss`` then train on it unchanged.
    Calls the package does not serve (float64, mixed dtypes, a broadcast pattern it lacks) still
    run aten's kernel. ``torch.compile`` decomposes aten's backward itself and is not affected.
    The kernel package is opened now, so a missing one is reported here, not in ``backward()``.
    torch prints a one-time warning that aten's CPU kernel is overridden.
    """
    _native.runtime()
    _native.route_aten(True)


def disable() -> None:
    """Give aten's CPU ``binary_cross_entropy_backward`` back to aten's own kernel."""
    _native.route_aten(False)


def enabled() -> bool:
    """Whether :func:`enable` is in effect."""
    return aten_routed()
