"""``tbe.dsl`` on Apache TVM: compute ops, dynamic-shape helpers, schedule and build.

Only :func:`classify` loads with the package; the rest (and Apache TVM with it) loads
on first use, so that importing an operator for its checks and host tiling stays cheap.
"""
from __future__ import annotations

import importlib
from typing import Any

from bce_grad.host_backend.dsl.classify import OpPatternMode, classify

#: The compute ops, each with the module that defines it (loaded with Apache TVM on first use).
OP_MODULES = {
    "ops": ("broadcast", "reduce_sum", "vabs", "vadd", "vadds", "vdiv", "vexp", "vlog", "vmax",
            "vmaxs", "vmin", "vmins", "vmul", "vmuls", "vrec", "vrsqrt", "vsqrt", "vsub"),
    "cast": ("cast_to", "ceil", "floor", "round", "round_d", "round_half_up", "trunc"),
    "compare": ("vand", "vcmp", "vcmpsel", "vlogic", "vnot", "vor", "vsel"),
    "nn": ("calculate_one_or_zero", "clip", "vaxpy", "vlrelu", "vmod", "vrelu"),
}
#: Every compute op's name.
OPS = tuple(sorted(op for names in OP_MODULES.values() for op in names))
#: Each lazily loaded name and the module that defines it.
_LAZY = {
    "build": "bce_grad.host_backend.build",
    "cce_build_code": "bce_grad.host_backend.build",  # CANN's older name of build
    "compute": "bce_grad.host_backend.dsl.context",
    "var": "bce_grad.host_backend.dsl.context",
    "var_attr": "bce_grad.host_backend.dsl.context",
    "auto_schedule": "bce_grad.host_backend.schedule",
    **{name: f"bce_grad.host_backend.dsl.{module}" for module, names in OP_MODULES.items()
       for name in names},
}

#: Names that CANN spells two ways: the lazily loaded name -> the attribute that defines it.
_ALIASES = {"cce_build_code": "build"}

__all__ = ["OPS", "OpPatternMode", "classify", *sorted(_LAZY)]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), _ALIASES.get(name, name))
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
