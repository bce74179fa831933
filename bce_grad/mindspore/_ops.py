"""The MindSpore cells: the gradient op (an ``ops.Custom`` of ``func_type="aot"``) and the loss.

- :class:`BinaryCrossEntropyGrad`: called as MindSpore's own grad primitive,
  ``(x, y, grad_output, weight=None)``; one aot function per (reduction, weight or not) of
  ``libbce_grad_ms`` (:mod:`~bce_grad.mindspore._build`), the shape inferred and checked by the
  library's ``<Func>InferShape`` (so ``set_inputs`` with ``None`` dims works), the dtype by
  :func:`infer_dtype` in Python (at graph compile time, or per call in PyNative: cached).
- :class:`BinaryCrossEntropy`: ``ops.binary_cross_entropy``'s forward whose ``bprop`` runs
  :class:`BinaryCrossEntropyGrad`.
"""
from __future__ import annotations

import functools
import re

import mindspore as ms
from mindspore import nn, ops

from bce_grad.host_backend.errors import OpError, OpTypeError, OpValueError
from bce_grad.mindspore import _native
from bce_grad.op_support import OP_NAME, normalize_reduction
#: MindSpore dtypes by the names the operator's op info uses.
DTYPES = {"float16": ms.float16, "bfloat16": ms.bfloat16, "float32": ms.float32}
_NAMES = {value: name for name, value in DTYPES.items()}
_INPUTS = ("x", "y", "grad_output", "weight")
#: A kernel's MindSpore error ("Return value from CPU AOT kernel(...)'s function(...) is N").
_KERNEL_FAILED = "AOT kernel"
#: The runtime's message inside MindSpore's error for a refused shape ("... Error message is [E...").
_CANN_MESSAGE = re.compile(r"\[(?P<code>E\d{5})\] In op\[(?P<op>[^\]]*)\], (?P<detail>[^\n]*)")


def _dtype_name(dtype: object) -> str:
    element = dtype.element_type() if hasattr(dtype, "element_type") else dtype
    return _NAMES.get(element, str(element).lower())


def infer_dtype(*dtypes: object) -> object:
    """The output dtype: the inputs' dtypes promoted as aclnn does, each checked against the op info.

    MindSpore calls it with the inputs' types (x, y, grad_output[, weight]): once per graph
    compile in GRAPH_MODE, but on every call in PyNative mode, so the answer is cached per SoC
    and dtypes (:func:`_promoted`); the package's runtime comes from the choice's cache.

    Raises
    ------
    OpTypeError
        E80008 (also a ``TypeError``) naming the parameter, the SoC's dtypes and the dtype.
    """
    names = tuple(_dtype_name(d) for d in dtypes)
    return DTYPES[_promoted(_native.runtime().soc_version, names)]


@functools.lru_cache(maxsize=64)
def _promoted(soc: str, names: tuple[str, ...]) -> str:
    """The promoted dtype's name of inputs of dtypes ``names`` on ``soc``, once checked.

    Cached, as PyNative mode asks on every call (the op info check and the promotion take about
    12 us); a refusal raises on every call, as ``lru_cache`` keeps no exceptions.
    """
    from bce_grad.api import check_dtypes
    from bce_grad._impl.binary_cross_entropy_grad import promote_dtypes

    try:
        check_dtypes(soc, dict(zip(_INPUTS, names)))
    except OpError as err:
        raise OpTypeError.from_error(err) from None
    return promote_dtypes(names)


def _custom(path: str, reduction: str, weighted: bool) -> ops.Custom:
    """One aot op of the library: ``BceGradMs<Reduction>[Weighted]`` and its C++ shape inference."""
    func = f"BceGradMs{reduction.capitalize()}{'Weighted' if weighted else ''}"
    op = ops.Custom(f"{path}:{func}", out_shape=None, out_dtype=infer_dtype, func_type="aot")
    op.add_prim_attr("reg_op_name", func)  # MindSpore then calls <func>InferShape
    return op


class BinaryCrossEntropyGrad(nn.Cell):
    """The gradient of binary cross entropy with respect to ``x``, on the project's native runtime.

    ``out = grad_output * weight * (x - y) / max(x * (1 - x), 1e-12)``, times ``1 / x.size`` for
    ``mean``. y, grad_output and weight broadcast to x; the output has x's shape and the inputs'
    dtypes promoted (float16, bfloat16, float32; half types computed in float32, rounded once).

    Parameters
    ----------
    reduction : {"none", "mean", "sum"}
        The forward loss's reduction.

    Notes
    -----
    Called as MindSpore's ``ops.operations._grad_ops.BinaryCrossEntropyGrad``:
    ``(x, y, grad_output, weight=None)``, in GRAPH_MODE (also with ``set_inputs`` and ``None``
    dims) and in PyNative mode, on CPU. Constructing it builds the kernel library and opens the
    kernel package (first use), so a missing compiler or package is reported here.

    Raises
    ------
    OpValueError
        E80009 (a ``ValueError``) for a bad ``reduction``, here.
    OpTypeError
        E80008 (a ``TypeError``) when a call's dtype is not in the SoC's op info; in GRAPH_MODE,
        E80001 for fewer than three inputs and E80000 for more than four.
    RuntimeError
        Shapes that do not broadcast to x or a rank over 8: MindSpore's RuntimeError whose message
        carries the runtime's ("... Error message is [E80029] In op[binary_cross_entropy_grad],
        ..."). A failing kernel (a damaged package): MindSpore's "Return value from CPU AOT
        kernel" RuntimeError; called directly, this cell re-raises it with the runtime's message
        first; inside a larger graph the message is on stderr and in
        :func:`bce_grad.mindspore.last_error`.
    """

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        self.reduction = normalize_reduction(reduction)
        path = _native.bind()
        self._plain = _custom(path, self.reduction, weighted=False)
        self._weighted = _custom(path, self.reduction, weighted=True)

    def construct(self, x, y, grad_output, weight=None):
        if weight is None:
            return self._plain(x, y, grad_output)
        return self._weighted(x, y, grad_output, weight)

    def _check_construct_args(self, *args):
        """Check the input count, as ``Cell.__call__`` (GRAPH_MODE) and ``set_inputs`` ask.

        This overrides MindSpore's check, which reads ``inspect.signature(self.construct)`` on every
        call: 30-45 us, a tenth of a (4, 4) call. This ``construct``'s signature is fixed, so
        counting is enough. Should MindSpore stop calling this hook, its own check runs again: only
        the speed changes.

        Raises
        ------
        OpTypeError
            A ``TypeError``, as MindSpore's check raises: E80001 naming the first missing input,
            E80000 for more than four.
        """
        count = len(args)
        if count < 3:
            missing = _INPUTS[count]
            raise OpTypeError("E80001", f"the parameter[{missing}] is mandatory (inputs x, y, "
                              f"grad_output and an optional weight), but actually is missing: "
                              f"[{count}] inputs given", OP_NAME, missing)
        if count > len(_INPUTS):
            raise OpTypeError("E80000", f"the inputs should be x, y, grad_output and an optional "
                              f"weight, at most {len(_INPUTS)}, but actually are [{count}]",
                              OP_NAME, "inputs")

    def __call__(self, *args, **kwargs):
        # Python here runs on every call, before and after MindSpore's own Cell.__call__: at (4, 4)
        # a call costs about 0.4 ms in all, so this stays at a few microseconds (the failure count
        # by one C call, the mode by MindSpore's internal getter; last_error() and
        # get_context("mode") cost 2-4 us and 20-35 us).
        failures = _native.failures()
        try:
            result = super().__call__(*args, **kwargs)
            if _mode() == ms.PYNATIVE_MODE:
                _sync()  # PyNative launches asynchronously: fail here, not at a later op
            return result
        except OpError:
            raise
        except RuntimeError as err:
            raise _explained(err, failures) from err


def _mode() -> int:
    """The execution mode (``ms.GRAPH_MODE`` or ``ms.PYNATIVE_MODE``), read on every call.

    ``mindspore.context._get_mode`` is what ``Cell.__call__`` itself reads: about 1 us, where the
    public ``get_context("mode")`` validates the device's settings first (20-35 us, up to
    a tenth of a (4, 4) call). The public getter serves a MindSpore without the internal one.
    """
    getter = getattr(ms.context, "_get_mode", None)
    return getter() if getter is not None else ms.get_context("mode")


def _sync() -> None:
    """Wait for PyNative's queued launches (``mindspore.runtime.synchronize`` refuses CPU)."""
    from mindspore.graph.api import _pynative_executor

    _pynative_executor.sync()


def _explained(err: RuntimeError, failures: int) -> RuntimeError:
    """MindSpore's RuntimeError for this op as an :class:`OpError` carrying the runtime's message.

    A shape the C++ shape inference refused (MindSpore quotes the message) becomes an
    ``OpValueError`` (a ``RuntimeError`` and a ``ValueError``, as MindSpore's own op raises
    ``ValueError``); a failing kernel (MindSpore drops the message) an ``OpError`` with the
    message :func:`bce_grad.mindspore.last_error` kept. Anything else is returned unchanged.
    """
    text = str(err)
    quoted = _CANN_MESSAGE.search(text)
    if quoted and quoted.group("code").startswith("E800"):
        return OpValueError(quoted.group("code"), quoted.group("detail"), quoted.group("op"))
    count, message = _native.last_error()
    if count != failures and _KERNEL_FAILED in text:
        found = _CANN_MESSAGE.match(message)
        if found:
            return OpError(found.group("code"), found.group("detail"), found.group("op"))
        return OpError("E61001", message, OP_NAME)
    return err


class _Loss(nn.Cell):
    """MindSpore's BinaryCrossEntropy forward with this op as its bprop: without weight."""

    def __init__(self, reduction: str) -> None:
        super().__init__()
        self._forward = ops.operations.BinaryCrossEntropy(reduction)
        self._grad = BinaryCrossEntropyGrad(reduction)
        self._zeros_like = ops.ZerosLike()

    def construct(self, logits, labels):
        return self._forward(logits, labels, None)

    def bprop(self, logits, labels, out, dout):
        return self._grad(logits, labels, dout), self._zeros_like(labels)


class _WeightedLoss(_Loss):
    """MindSpore's BinaryCrossEntropy forward with this op as its bprop: with weight."""

    def construct(self, logits, labels, weight):
        return self._forward(logits, labels, weight)

    def bprop(self, logits, labels, weight, out, dout):
        return (self._grad(logits, labels, dout, weight), self._zeros_like(labels),
                self._zeros_like(weight))


class BinaryCrossEntropy(nn.Cell):
    """``ops.binary_cross_entropy`` whose gradient runs :class:`BinaryCrossEntropyGrad`.

    The forward is MindSpore's own ``BinaryCrossEntropy`` kernel (float16 and float32 on CPU:
    MindSpore has no bfloat16 forward there); ``bprop`` gives the gradient with respect to
    ``logits`` from this project's operator and zeros for ``labels`` and ``weight``, as
    MindSpore's own bprop does.

    Parameters
    ----------
    reduction : {"none", "mean", "sum"}
        As ``ops.binary_cross_entropy``.

    Examples
    --------
    >>> loss = BinaryCrossEntropy()                                     # doctest: +SKIP
    >>> dx = mindspore.grad(loss)(logits, labels)                       # doctest: +SKIP
    """

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        self.reduction = normalize_reduction(reduction)
        self._plain = _Loss(self.reduction)
        self._weighted = _WeightedLoss(self.reduction)

    def construct(self, logits, labels, weight=None):
        if weight is None:
            return self._plain(logits, labels)
        return self._weighted(logits, labels, weight)
