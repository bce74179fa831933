"""The Python half of the PyTorch operator: fake (meta) function, autograd, the forward loss.

- ``register_fake``: the output is x's shape with the promoted dtype (what the C++ kernel returns).
- ``register_autograd``: the operator's own derivative (double backward), written with torch ops so
  that it traces under ``torch.compile``; it runs only when a gradient of the gradient is asked for.
- :func:`binary_cross_entropy`: ``torch.nn.functional.binary_cross_entropy``'s forward (aten's
  kernel) whose backward with respect to ``input`` is this operator.
"""
from __future__ import annotations

import functools

import torch

from bce_grad.op_support import REDUCTION_ENUM

OP = "bce_grad::binary_cross_entropy_backward"
EPSILON = 1e-12
#: torch.nn's reduction enum, which is aclnn's: 0 none, 1 mean, 2 sum.
REDUCTIONS = {name: value for value, name in REDUCTION_ENUM.items()}
SUPPORTED = (torch.float16, torch.bfloat16, torch.float32)


def result_dtype(*tensors: torch.Tensor | None) -> torch.dtype:
    """The dtype the operator returns: its inputs' dtypes promoted (aclnn's rule, torch's too)."""
    return functools.reduce(torch.promote_types, [t.dtype for t in tensors if t is not None])


@torch.library.register_fake(OP)
def _fake(grad_output, self, target, weight=None, reduction=1):
    dtypes = [t.dtype for t in (grad_output, self, target, weight) if t is not None]
    if any(d not in SUPPORTED for d in dtypes):
        raise NotImplementedError(
            f"[E80008] In op[binary_cross_entropy_grad], the dtypes should be in "
            f"{[str(d) for d in SUPPORTED]}, but actually are {[str(d) for d in dtypes]}")
    return self.new_empty(self.shape, dtype=result_dtype(grad_output, self, target, weight))


def _setup_context(ctx, inputs, output) -> None:
    grad_output, x, y, weight, reduction = inputs
    ctx.save_for_backward(grad_output, x, y, weight)
    ctx.reduction = reduction


def _double_backward(ctx, gg):
    """Derivatives of ``c * g * w * (x - y) / d``, ``d = max(x (1 - x), eps)``, in float32.

    d/dg = c w q, d/dy = -c g w / d, d/dw = c g q, d/dx = c g w (1 - q d') / d with
    q = (x - y) / d and d' = 1 - 2x where x (1 - x) > eps, else 0 (the clamp is flat).
    """
    g, x, y, w = ctx.saved_tensors
    needs = ctx.needs_input_grad
    f32 = torch.float32
    xf, yf, gf, ggf = x.to(f32), y.to(f32), g.to(f32), gg.to(f32)
    wf = w.to(f32) if w is not None else None
    if ctx.reduction == 1:
        ggf = ggf / x.numel()
    prod = xf * (1 - xf)
    d = prod.clamp_min(EPSILON)
    q = (xf - yf) / d
    scale = ggf if wf is None else ggf * wf

    def to(value, like):
        return value.sum_to_size(like.shape).to(like.dtype)

    grad_g = to(scale * q, g) if needs[0] else None
    grad_x = None
    if needs[1]:
        slope = torch.where(prod > EPSILON, 1 - 2 * xf, torch.zeros_like(xf))
        grad_x = to(scale * gf * (1 - q * slope) / d, x)
    grad_y = to(-scale * gf / d, y) if needs[2] else None
    grad_w = to(ggf * gf * q, w) if w is not None and needs[3] else None
    return grad_g, grad_x, grad_y, grad_w, None


torch.library.register_autograd(OP, _double_backward, setup_context=_setup_context)


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
            grad_input = torch.ops.bce_grad.binary_cross_entropy_backward(
                grad, input, target, weight, ctx.reduction).to(input.dtype)
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
