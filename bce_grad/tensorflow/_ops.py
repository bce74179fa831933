"""The Python surface of the TensorFlow op: the op wrapper and the forward loss with its gradient.

- :func:`binary_cross_entropy_grad` builds a ``BinaryCrossEntropyGrad`` node (eager: runs it):
  arguments checked and promoted here, the call itself in C++.
- :func:`binary_cross_entropy`: the forward as ``torch.nn.functional.binary_cross_entropy``
  computes it, a ``tf.custom_gradient`` whose gradient with respect to ``x`` is the op (and with
  respect to ``y`` and ``weight``, a few TF ops on the forward's logs).
"""
from __future__ import annotations

import re
import threading
from typing import Any

import tensorflow as tf

from bce_grad.op_support import OP_NAME, REDUCTIONS
from bce_grad.tensorflow import _native
#: The op's T (its REGISTER_OP) by TF dtype, with the project's dtype names.
SUPPORTED = {tf.float16: "float16", tf.float32: "float32", tf.bfloat16: "bfloat16"}
_BY_NAME = {name: dtype for dtype, name in SUPPORTED.items()}
#: torch's clamp of the logs in the forward loss.
LOG_FLOOR = -100.0

#: What TF puts before an eager op's error message (eager ops run as one-node functions).
_EAGER_PREFIX = re.compile(r"^\{\{function_node [^}]*\}\}\s*")

_unit = threading.local()  # eager 0-d ones per dtype: the unweighted call's weight


def _invalid(message: str) -> tf.errors.InvalidArgumentError:
    return tf.errors.InvalidArgumentError(None, None, message)


def normalize_reduction(reduction: Any) -> str:
    """``"none"``, ``"mean"``, ``"sum"`` (or aclnn's enum 0, 1, 2) as the op's attr value.

    Raises
    ------
    tf.errors.InvalidArgumentError
        E80009 naming the parameter, the allowed values and the value given.
    """
    from bce_grad.host_backend.errors import OpError
    from bce_grad.op_support import normalize_reduction as check  # the one rule

    try:
        return check(reduction)
    except OpError as err:
        raise _invalid(str(err)) from None


def _convert(values: dict[str, Any]) -> dict[str, tf.Tensor | None]:
    """Tensors of one dtype: the promoted dtype of the inputs (aclnn's rule: float32 wins,
    float16 with bfloat16 gives float32); Python numbers take it too.

    Raises
    ------
    tf.errors.InvalidArgumentError
        E80008 naming the first input whose dtype is not in the op's T.
    """
    tensors: dict[str, tf.Tensor | None] = {}
    for name, value in values.items():
        if value is None or isinstance(value, (bool, int, float)):
            tensors[name] = value
            continue
        tensor = value if isinstance(value, tf.Tensor) else tf.convert_to_tensor(value)
        if tensor.dtype not in SUPPORTED:
            raise _invalid(f"[E80008] In op[{OP_NAME}], the parameter[{name}] dtype should be one "
                           f"of {list(SUPPORTED.values())} (the TensorFlow op's T), but actually "
                           f"is [{tensor.dtype.name}]")
        tensors[name] = tensor
    dtypes = {t.dtype for t in tensors.values() if isinstance(t, tf.Tensor)}
    if not dtypes:
        raise _invalid(f"[E80008] In op[{OP_NAME}], the parameter[x] should be a tensor, but "
                       f"actually is [{values['x']!r}]")
    if len(dtypes) == 1:
        dtype = dtypes.pop()
    else:
        from bce_grad._impl.binary_cross_entropy_grad import promote_dtypes  # aclnn's rule, once

        dtype = _BY_NAME[promote_dtypes([SUPPORTED[d] for d in dtypes])]
    for name, t in tensors.items():
        if t is None or (isinstance(t, tf.Tensor) and t.dtype == dtype):
            continue
        tensors[name] = tf.cast(t, dtype) if isinstance(t, tf.Tensor) else tf.constant(t, dtype)
    return tensors


def _check_static_shapes(tensors: dict[str, tf.Tensor | None], reduction: str) -> None:
    """At graph construction, the runtime's shape rules on what is known of the shapes.

    The op's C++ shape function keeps x's shape; the operator's own check
    (``impl``'s ``check_binary_cross_entropy_grad``: ranks, the broadcast of y, grad_output and
    weight to x's shape) refuses here, with the code and words the runtime uses at run time,
    what would fail at every run. Unknown dims (-1) and ranks ([-2]) pass.

    Raises
    ------
    tf.errors.InvalidArgumentError
        E80029 naming the input that does not broadcast to x; E80012 for a rank over 8.
    """
    from bce_grad._impl.binary_cross_entropy_grad import check_binary_cross_entropy_grad
    from bce_grad.host_backend.errors import OpError

    def desc(t: tf.Tensor | None) -> dict | None:
        if not isinstance(t, tf.Tensor):
            return None if t is None else {"shape": [], "dtype": "float32", "format": "ND"}
        dims = t.shape.as_list() if t.shape.rank is not None else [-2]
        return {"shape": [-1 if d is None else d for d in dims], "dtype": SUPPORTED[t.dtype],
                "format": "ND"}

    x = desc(tensors["x"])
    try:
        check_binary_cross_entropy_grad(x, desc(tensors["y"]), desc(tensors["grad_output"]),
                                        desc(tensors["weight"]), x, reduction, OP_NAME)
    except OpError as err:
        raise _invalid(str(err)) from None


def _ones(dtype: tf.DType) -> tf.Tensor:
    """The 0-d one the unweighted call passes as weight (the kernel then runs without weight)."""
    if not tf.executing_eagerly():
        return tf.ones([], dtype)
    cache = getattr(_unit, "ones", None)
    if cache is None:
        cache = _unit.ones = {}
    one = cache.get(dtype)
    if one is None:
        one = cache[dtype] = tf.ones([], dtype)
    return one


def _bound() -> None:
    message = _native.bind()
    if message is not None:
        raise tf.errors.FailedPreconditionError(None, None, message)


def binary_cross_entropy_grad(x, y, grad_output, weight=None, reduction: str = "mean",
                              name: str | None = None) -> tf.Tensor:
    """The gradient of binary cross entropy with respect to ``x``: the ``BinaryCrossEntropyGrad`` op.

    ``output = grad_output * weight * (x - y) / max(x * (1 - x), 1e-12)``, times ``1/numel(x)``
    for ``"mean"``; float16 and bfloat16 are computed in float32 and rounded once.

    Parameters
    ----------
    x : tf.Tensor
        The prediction, float16, bfloat16 or float32.
    y, grad_output : tf.Tensor or float
        The target and the incoming gradient; they broadcast to ``x``.
    weight : tf.Tensor or float, optional
        Broadcasts to ``x``; None is a weight of one (passed as a 0-d one: TF ops have no
        optional inputs).
    reduction : {"none", "mean", "sum"}
        The forward loss's reduction (aclnn's enum 0, 1, 2 is accepted too).
    name : str, optional
        The node's name.

    Returns
    -------
    tf.Tensor
        ``x``'s shape, the inputs' promoted dtype (float32 wins; float16 with bfloat16 gives
        float32).

    Raises
    ------
    tf.errors.InvalidArgumentError
        A dtype outside the op's T (E80008), a bad reduction (E80009); shapes that do not
        broadcast to ``x`` (E80029): in a graph (``tf.function``) when built, as far as the
        static shapes tell, else at run time, with every other rule the runtime checks.
    tf.errors.FailedPreconditionError
        E61001 when the kernel package cannot be opened.
    """
    reduction = normalize_reduction(reduction)
    t = _convert({"x": x, "y": y, "grad_output": grad_output, "weight": weight})
    w = t["weight"] if t["weight"] is not None else _ones(t["x"].dtype)
    _bound()
    build = _native.load().binary_cross_entropy_grad
    if not tf.executing_eagerly():
        _check_static_shapes(t, reduction)
        return build(x=t["x"], y=t["y"], grad_output=t["grad_output"], weight=w,
                     reduction=reduction, name=name)
    try:
        return build(x=t["x"], y=t["y"], grad_output=t["grad_output"], weight=w,
                     reduction=reduction, name=name)
    except tf.errors.OpError as err:  # the runtime's message first, as a graph reports it
        raise type(err)(err.node_def, err.op, _EAGER_PREFIX.sub("", err.message, 1)) from None


def _sum_to(value: tf.Tensor, like: tf.Tensor) -> tf.Tensor:
    """``value`` (x's shape) summed over the axes ``like`` was broadcast on, in ``like``'s dtype."""
    _, axes = tf.raw_ops.BroadcastGradientArgs(s0=tf.shape(value), s1=tf.shape(like))
    return tf.cast(tf.reshape(tf.reduce_sum(value, axis=axes), tf.shape(like)), like.dtype)


def _losses(x: tf.Tensor, y: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """(unweighted elementwise loss, clamped log(x), clamped log(1 - x)), in float32 or wider."""
    compute = tf.float32 if x.dtype in (tf.float16, tf.bfloat16) else x.dtype
    xc, yc = tf.cast(x, compute), tf.cast(y, compute)
    log_x = tf.maximum(tf.math.log(xc), LOG_FLOOR)
    log_1mx = tf.maximum(tf.math.log1p(-xc), LOG_FLOOR)
    return (yc - 1) * log_1mx - yc * log_x, log_x, log_1mx


def _reduce(loss: tf.Tensor, reduction: str) -> tf.Tensor:
    if reduction == "mean":
        return tf.reduce_mean(loss)
    if reduction == "sum":
        return tf.reduce_sum(loss)
    return loss


def _make_loss(reduction: str, weighted: bool):
    """The custom-gradient loss of one reduction, with or without a weight input."""

    @tf.custom_gradient
    def loss(x, y, *weight):
        unweighted, log_x, log_1mx = _losses(x, y)
        w = tf.cast(weight[0], unweighted.dtype) if weighted else None
        value = _reduce(unweighted if w is None else unweighted * w, reduction)

        def grad(upstream):
            grad_x = binary_cross_entropy_grad(x, y, upstream, weight[0] if weighted else None,
                                               reduction)
            scale = tf.cast(upstream, unweighted.dtype)
            if reduction == "mean":
                size = tf.cast(tf.size(unweighted), unweighted.dtype)
                scale = scale * tf.math.divide_no_nan(tf.ones([], unweighted.dtype), size)
            grad_y = (log_1mx - log_x) * scale  # d/dy of (y - 1) log(1 - x) - y log(x)
            grads = [tf.cast(grad_x, x.dtype),
                     _sum_to(grad_y if w is None else grad_y * w, y)]
            if weighted:
                grads.append(_sum_to(unweighted * scale, weight[0]))
            return grads

        return tf.cast(value, x.dtype), grad

    return loss


_LOSSES = {(reduction, weighted): _make_loss(reduction, weighted)
           for reduction in REDUCTIONS for weighted in (False, True)}


def binary_cross_entropy(x, y, weight=None, reduction: str = "mean") -> tf.Tensor:
    """Binary cross entropy as ``torch.nn.functional.binary_cross_entropy`` computes it; its
    gradient with respect to ``x`` is the ``BinaryCrossEntropyGrad`` op.

    ``loss = -weight * (y * max(log(x), -100) + (1 - y) * max(log(1 - x), -100))``, reduced by
    ``reduction``. float16/bfloat16 are computed in float32 and the loss rounded once. Under
    ``tf.GradientTape`` (eager or in ``tf.function``) the gradient runs the op; the gradients with
    respect to ``y`` (``(log(1 - x) - log(x)) * weight``) and ``weight`` (the unweighted loss)
    are TF ops, pruned in a graph when not asked for.

    Parameters
    ----------
    x : tf.Tensor
        Probabilities in [0, 1]: float16, bfloat16 or float32.
    y : tf.Tensor or float
        Targets; broadcast to ``x``.
    weight : tf.Tensor or float, optional
        Broadcasts to ``x``; None is a weight of one.
    reduction : {"none", "mean", "sum"}
        ``"mean"`` (default) and ``"sum"`` give a 0-d loss, ``"none"`` the elementwise loss.

    Returns
    -------
    tf.Tensor
        The loss, in the inputs' promoted dtype.

    Raises
    ------
    tf.errors.InvalidArgumentError
        A dtype outside {float16, bfloat16, float32} (E80008), a bad reduction (E80009).
    """
    reduction = normalize_reduction(reduction)
    t = _convert({"x": x, "y": y, "weight": weight})
    args = (t["x"], t["y"]) + (() if t["weight"] is None else (t["weight"],))
    return _LOSSES[(reduction, t["weight"] is not None)](*args)
