"""``bce_grad.mindspore``: BinaryCrossEntropyGrad as a MindSpore op (CPU), on the native runtime.

>>> import mindspore as ms, bce_grad.mindspore as bms                   # doctest: +SKIP
>>> ms.set_context(mode=ms.GRAPH_MODE)                                   # doctest: +SKIP
>>> dx = bms.BinaryCrossEntropyGrad("mean")(x, y, grad_output)           # doctest: +SKIP
>>> dx = ms.grad(bms.BinaryCrossEntropy())(x, y)   # the loss's gradient runs the same op

- :class:`BinaryCrossEntropyGrad` ``(reduction="mean")``, called as MindSpore's own grad primitive
  ``(x, y, grad_output, weight=None)``: an ``ops.Custom`` of ``func_type="aot"`` whose C++
  function (``csrc/bce_grad_ms.cc``, built with the system compiler on first use and cached) views
  MindSpore's buffers as DLTensors and calls the native runtime's ``bce_grad_backward``. Runs in
  GRAPH_MODE and PyNative mode, with static or dynamic shapes (``set_inputs`` with ``None`` dims).
- :class:`BinaryCrossEntropy` ``(reduction="mean")``: ``ops.binary_cross_entropy``'s forward whose
  ``bprop`` uses the op, so ``mindspore.grad`` of a network using it runs the op.
- :func:`set_package`: which kernel package the kernels run (default: a ready one,
  ``$BCE_GRAD_PACKAGE`` when set, else each kernel compiled on the first call that needs it).
- :func:`last_error`: the latest kernel failure's message (MindSpore does not show it).

Differences from MindSpore's own CPU ``BinaryCrossEntropyGrad``: y, grad_output and weight
broadcast to x (MindSpore's requires equal shapes); mixed float dtypes promote; bfloat16 is
served; float16 and bfloat16 are computed in float32 and rounded once, so x == y in {0, 1} gives
0 where MindSpore's float16 kernel gives NaN, and other float16 results may differ by a rounding.
"""
from __future__ import annotations

try:
    import mindspore as _mindspore  # noqa: F401
except ImportError as err:  # pragma: no cover - depends on the environment
    raise ImportError("bce_grad.mindspore needs MindSpore: pip install 'bce-grad[mindspore]'") \
        from err

from bce_grad.mindspore import _native  # noqa: E402
from bce_grad.mindspore._native import set_package  # noqa: E402
from bce_grad.mindspore._ops import BinaryCrossEntropy, BinaryCrossEntropyGrad  # noqa: E402

__all__ = ["BinaryCrossEntropy", "BinaryCrossEntropyGrad", "last_error", "set_package"]


def last_error() -> str:
    """The latest failure of this op's kernels in the process ("" if none), CANN code first.

    MindSpore reports a failing aot kernel as "Return value from CPU AOT kernel ... is N" without
    its text; this is the text.
    """
    return _native.last_error()[1]

