"""The Python half of the PyTorch operator: fake (meta) function and the forward loss.

The operator's own derivative (double backward) is its C++ Autograd kernel (``csrc``): a Python
autograd kernel would run on every call.

- ``register_fake``: the output is x's shape with the promoted dtype (what the C++ kernel returns),
  after the kernel's refusals (reduction, dtypes, broadcast to x) with the same CANN codes.
- :func:`binary_cross_entropy`: ``torch.nn.functional.binary_cross_entropy``'s forward (aten's
  kernel) whose backward with respect to ``input`` is this operator.
"""
from __future__ import annotations

import functools

import torch

from bce_grad.op_support import REDUCTION_ENUM
from bce_grad.runtime.native import take_interrupt
from bce_grad.torch import _native

OP = "bce_grad::binary_cross_entropy_backward"
#: torch.nn's reduction enum, which is aclnn's: 0 none, 1 mean, 2 sum.
REDUCTIONS = {name: value for value, name in REDUCTION_ENUM.items()}
SUPPORTED = (torch.float16, torch.bfloat16, torch.float32)


def result_dtype(*tensors: torch.Tensor | None) -> torch.dtype:
    """The dtype the operator returns: its inputs' dtypes promoted (aclnn's rule, torch's too)."""
    return functools.reduce(torch.promote_types, [t.dtype for t in tensors if t is not None])


#: How the C++ op raises a CANN code (``Raise`` in csrc/bce_grad_torch.cc): torch's exception
#: type for the same mistake, RuntimeError for any other code.
_EXCEPTIONS = {"E80008": NotImplementedError, "E80009": ValueError, "E80002": ValueError,
               "E80001": TypeError}


def _desc(t: torch.Tensor) -> dict:
    """A tensor as the operator's check reads it; a symbolic dim is unknown (-1)."""
    shape = [d if isinstance(d, int) else -1 for d in t.shape]
    return {"shape": shape, "dtype": str(t.dtype).removeprefix("torch."), "format": "ND"}


def check_call(grad_output, self, target, weight, reduction) -> None:
    """The real kernel's refusals, from the operator's own rules, as the C++ op raises them.

    The reduction by the one rule (``bce_grad.op_support.normalize_reduction``); dtypes, ranks and
    the broadcast of y, grad_output and weight to x's shape by the operator's check
    (``impl``'s ``check_binary_cross_entropy_grad``). A symbolic dim passes, as a compile
    description's -1 does.
    """
    from bce_grad._impl.binary_cross_entropy_grad import check_binary_cross_entropy_grad
    from bce_grad.op_support import normalize_reduction
    from bce_grad.host_backend.errors import OpError

    try:
        name = normalize_reduction(reduction)
        check_binary_cross_entropy_grad(
            _desc(self), _desc(target), _desc(grad_output),
            None if weight is None else _desc(weight),
            {"shape": _desc(self)["shape"], "dtype": str(result_dtype(grad_output, self, target,
                                                                       weight)).removeprefix("torch."),
             "format": "ND"}, name, "binary_cross_entropy_grad")
    except OpError as err:
        raise _EXCEPTIONS.get(err.code, RuntimeError)(str(err)) from None


@torch.library.register_fake(OP)
def _fake(grad_output, self, target, weight=None, reduction=1):
    check_call(grad_output, self, target, weight, reduction)
    return self.new_empty(self.shape, dtype=result_dtype(grad_output, self, target, weight))


class _BinaryCrossEntropy(torch.autograd.Function):
    """aten's forward; the backward for ``input`` is ``bce_grad::binary_cross_entropy_backward``."""

    @staticmethod
    def forward(ctx, input, target, weight, expanded_weight, reduction):
        ctx.save_for_backward(input, target, weight)
        ctx.reduction = reduction
        return torch.ops.aten.binary_cross_entropy(input, target, expanded_weight, reduction)

    @staticmethod
    def backward(ctx, grad):
        input, target, weight = ctx.saved_tensors
        needs = ctx.needs_input_grad
        if needs[2] or needs[3]:
            raise RuntimeError("the derivative for 'weight' is not implemented (as in "
                               "torch.nn.functional.binary_cross_entropy)")
        grad_input = grad_target = None
        if needs[0]:
            if not torch.compiler.is_compiling():  # (a traced graph runs the op itself)
                _native.runtime()  # opens the package in Python, not inside the C++ op's resolver
            try:
                grad_input = torch.ops.bce_grad.binary_cross_entropy_backward(
                    grad, input, target, weight, ctx.reduction).to(input.dtype)
            except RuntimeError:
                if take_interrupt():  # Ctrl-C while the call compiled its kernel: stays Ctrl-C
                    raise KeyboardInterrupt from None
                raise
        if needs[1]:  # torch's target derivative: -logit(x) * grad * weight [/ numel]
            grad_target = -torch.logit(input) * grad
            if weight is not None:
                grad_target = grad_target * weight
            if ctx.reduction == 1:
                grad_target = grad_target / input.numel()
            grad_target = grad_target.to(target.dtype)
        return grad_input, grad_target, None, None, None


def binary_cross_entropy(input: torch.Tensor, target: torch.Tensor,
                         weight: torch.Tensor | None = None,
                         reduction: str = "mean") -> torch.Tensor:
    """``torch.nn.functional.binary_cross_entropy``, whose gradient runs this project's kernel.

    The loss is aten's; ``loss.backward()`` computes the gradient with respect to ``input`` with
    ``torch.ops.bce_grad.binary_cross_entropy_backward`` (float16/bfloat16 computed in float32 and
    rounded once). Arguments and errors as torch's function (a target of another size, a bad
    reduction: ``ValueError``).
    """
    if reduction not in REDUCTIONS:
        raise ValueError(f"{reduction} is not a valid value for reduction")
    if target.size() != input.size():
        raise ValueError(f"Using a target size ({target.size()}) that is different to the input "
                         f"size ({input.size()}) is deprecated. Please ensure they have the same "
                         f"size.")
    expanded = None
    if weight is not None:
        expanded = weight.expand(torch.broadcast_shapes(target.size(), weight.size()))
    return _BinaryCrossEntropy.apply(input, target, weight, expanded, REDUCTIONS[reduction])
