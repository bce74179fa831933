"""``bce_grad.tensorflow``: BinaryCrossEntropyGrad as a TensorFlow op (CPU), on the native runtime.

>>> import tensorflow as tf, bce_grad.tensorflow as bce                 # doctest: +SKIP
>>> x = tf.Variable(tf.random.uniform((4, 5), 0.05, 0.95))               # doctest: +SKIP
>>> with tf.GradientTape() as tape:                                      # doctest: +SKIP
...     loss = bce.binary_cross_entropy(x, tf.random.uniform((4, 5)))
>>> grad = tape.gradient(loss, x)                  # runs the op BinaryCrossEntropyGrad

Importing this module builds (first use, cached) and loads the op library, which registers

- ``BinaryCrossEntropyGrad(x: T, y: T, grad_output: T, weight: T) -> output: T``,
  ``T in {half, float, bfloat16}``, ``reduction in {'none', 'mean', 'sum'} = 'mean'``, output of
  x's shape: the definition of the Ascend TF plugin that ``bce-grad package`` generates, so a
  graph moves between this host and an NPU unchanged. Its C++ CPU kernel (``csrc/``) calls the
  native runtime's C ABI on the tensors' own buffers: no copy, no Python in a call, in eager
  mode and in ``tf.function`` graphs alike. TF ops have no optional inputs: an unweighted call
  passes a 0-d weight of one, which the kernel drops (bit for bit the same result).

and offers :func:`binary_cross_entropy_grad` (builds the op), :func:`binary_cross_entropy` (the
forward loss whose gradient is the op), :func:`load_library` / :func:`library_path` (to reload a
SavedModel that holds the op in another process) and :func:`set_package` (which kernel package).

Difference from TF's own BCE gradient (``tf.keras.losses.binary_crossentropy`` through
``GradientTape``): keras clips x to [1e-7, 1 - 1e-7] and differentiates ``log`` term by term
(``-y / x + (1 - y) / (1 - x)``), in the storage dtype, one rounding per op; this op computes
``(x - y) / max(x (1 - x), 1e-12)`` in float32 and rounds once, so it is exact where keras cancels
(x close to y), gives 0 at x == y in {0, 1}, and its forward clamps the logs at -100 as torch does
instead of clipping x.

Errors are TF's: ``InvalidArgumentError`` for a call that breaks a rule of the op (a dtype outside
T, a bad reduction, shapes that do not broadcast to x), ``FailedPreconditionError`` when the
kernel package cannot be opened; the message starts with the CANN code (``[E80029] In
op[binary_cross_entropy_grad], ...``). No input crashes the process.
"""
from __future__ import annotations

try:
    import tensorflow as _tf  # noqa: F401
except ImportError as err:  # pragma: no cover - depends on the environment
    raise ImportError("bce_grad.tensorflow needs TensorFlow: pip install "
                      "'bce-grad[tensorflow]'") from err

from bce_grad.tensorflow import _native

_native.load()  # registers the op BinaryCrossEntropyGrad and its CPU kernels

from bce_grad.tensorflow._native import set_package  # noqa: E402
from bce_grad.tensorflow._ops import (  # noqa: E402
    binary_cross_entropy, binary_cross_entropy_grad,
)

OP_TYPE = "BinaryCrossEntropyGrad"

__all__ = ["OP_TYPE", "binary_cross_entropy", "binary_cross_entropy_grad", "library_path",
           "load_library", "set_package"]


def load_library():
    """Load the op library into TensorFlow (built on first use) and return its op module.

    Call it (importing this package does) before ``tf.saved_model.load`` of a model that holds a
    ``BinaryCrossEntropyGrad`` node, or before importing such a ``GraphDef``.

    Returns
    -------
    module
        ``tf.load_op_library``'s module; ``.binary_cross_entropy_grad(...)`` is the raw op.
    """
    return _native.load()


def library_path() -> str:
    """The path of the op library (``libbce_grad_tf-<key>.so``) this process loaded.

    ``tf.load_op_library(path)`` registers the op in a process; its kernels find the kernel
    package through ``bce_grad.tensorflow``, so import that package there too.
    """
    return _native.library_file()
