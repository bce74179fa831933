"""Schedule rules for NVIDIA GPUs (CUDA), built on TVM's ``dlight`` rules.

:class:`DlightDefault` applies dlight's reduction rules, then its fallback rule,
which inlines elementwise producers and binds blocks and threads.
"""
from __future__ import annotations

import tvm
from tvm import s_tir
from tvm.s_tir import dlight

from bce_grad.host_backend.targets import make_target


class DlightDefault:
    """dlight's GPU rules: Reduction, GeneralReduction, then Fallback."""

    def apply(self, sch: s_tir.Schedule, func_name: str, outputs: list) -> tvm.IRModule | None:
        del func_name, outputs
        with make_target("cuda"):
            return dlight.ApplyDefaultSchedule(
                dlight.gpu.Reduction(), dlight.gpu.GeneralReduction(), dlight.gpu.Fallback(),
            )(sch.mod)


RULES = (DlightDefault(),)
