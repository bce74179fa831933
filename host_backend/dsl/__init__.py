"""``tbe.dsl`` on Apache TVM: compute ops, dynamic-shape helpers, schedule and build."""
from bce_grad.host_backend.build import build
from bce_grad.host_backend.dsl.classify import OpPatternMode, classify
from bce_grad.host_backend.dsl.context import compute, var
from bce_grad.host_backend.dsl.ops import (
    broadcast, cast_to, reduce_sum, vabs, vadd, vadds, vdiv, vexp, vlog, vmax, vmaxs, vmin,
    vmins, vmul, vmuls, vrec, vsub,
)
from bce_grad.host_backend.schedule import auto_schedule

__all__ = [
    "OpPatternMode", "auto_schedule", "broadcast", "build", "cast_to", "classify", "compute",
    "reduce_sum", "var", "vabs", "vadd", "vadds", "vdiv", "vexp", "vlog", "vmax", "vmaxs", "vmin",
    "vmins", "vmul", "vmuls", "vrec", "vsub",
]
