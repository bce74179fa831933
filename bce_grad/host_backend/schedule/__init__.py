"""``auto_schedule``: from a compute graph to a real TVM schedule.

The operator describes *what* to compute; this package decides *how*. A
:class:`HostSchedule` records the outputs, the runtime scalars and the target.
:meth:`HostSchedule.apply` turns them into a TIR PrimFunc with the argument order
``build`` asks for, then applies the first schedule rule that fits the target (a rule
returns the scheduled module, or None when it does not fit):
see :mod:`bce_grad.host_backend.schedule.cpu` and :mod:`bce_grad.host_backend.schedule.cuda`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import tvm
from tvm import s_tir, te, tirx

from bce_grad.host_backend import platform
from bce_grad.host_backend.schedule import cpu, cuda
from bce_grad.host_backend.schedule.alignment import element_aligned


@dataclass
class HostSchedule:
    """What ``auto_schedule`` returns: the outputs, their runtime scalars and target.

    Attributes
    ----------
    outputs : list of te.Tensor
        The tensors the kernel writes.
    scalars : list of tirx.Var
        Runtime scalars (vars declared with ``tbe.dsl.var`` that are not dims).
    target : str
        ``"llvm"`` or ``"cuda"``.
    rule : str
        The schedule rule that fitted, set by :meth:`apply`.
    """

    outputs: list[te.Tensor]
    scalars: list[tirx.Var]
    target: str
    rule: str = field(default="")

    def apply(self, tensor_list: Sequence[te.Tensor], name: str) -> tvm.IRModule:
        """Create the PrimFunc with ``tensor_list`` then scalars as arguments, and schedule it."""
        func = te.create_prim_func([*tensor_list, *self.scalars])
        if self.target == "llvm":
            func = element_aligned(func)
        func = func.with_attr("global_symbol", name)
        sch = s_tir.Schedule(tvm.IRModule({name: func}))
        rules = cuda.RULES if self.target == "cuda" else cpu.RULES
        for rule in rules:
            mod = rule.apply(sch, name, self.outputs)
            if mod is not None:
                self.rule = type(rule).__name__
                return mod
        raise RuntimeError(f"no schedule rule fits kernel {name} on {self.target}")


def _shape_vars(tensors: Sequence[te.Tensor]) -> set[str]:
    names: set[str] = set()
    for tensor in _all_tensors(tensors):
        for dim in tensor.shape:
            names.update(v.name for v in tirx.analysis.undefined_vars(dim))
    return names


def _all_tensors(outputs: Sequence[te.Tensor]) -> list[te.Tensor]:
    seen: dict[int, te.Tensor] = {}
    stack = list(outputs)
    while stack:
        tensor = stack.pop()
        key = tensor.op.__chandle__()  # the C++ object's address: stable, unlike id() of a wrapper
        if key in seen:
            continue
        seen[key] = tensor
        stack.extend(tensor.op.input_tensors)
    return list(seen.values())


def auto_schedule(outs: te.Tensor | Sequence[te.Tensor], option: dict | None = None) -> HostSchedule:
    """Schedule the compute that produces ``outs``, as ``tbe.dsl.auto_schedule`` does.

    Parameters
    ----------
    outs : te.Tensor or sequence of te.Tensor
        The outputs of one case.
    option : dict, optional
        Accepted for CANN compatibility.
    """
    del option
    outputs = [outs] if isinstance(outs, te.Tensor) else list(outs)
    return HostSchedule(outputs=outputs, scalars=_runtime_scalars(outputs),
                        target=platform.backend_target())


def _runtime_scalars(outputs: Sequence[te.Tensor]) -> list[tirx.Var]:
    """Vars declared with ``tbe.dsl.var`` that compute bodies use and shapes do not, in graph order."""
    from bce_grad.host_backend.dsl import context  # the DSL package imports this one: import late

    dims = _shape_vars(outputs)
    found: dict[str, tirx.Var] = {}
    for tensor in reversed(_all_tensors(outputs)):
        op = tensor.op
        if not isinstance(op, te.ComputeOp):
            continue
        axes = {iv.var.name for iv in [*op.axis, *op.reduce_axis]}
        for body in op.body:
            for var in tirx.analysis.undefined_vars(body):
                if var.name not in axes and var.name not in dims and context.is_declared(var):
                    found.setdefault(var.name, var)
    return list(found.values())
