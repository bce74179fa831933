"""CANN's older ``te.lang.cce`` elementwise API: it casts operands before the ``tbe.dsl`` op.

``te.lang.cce.vmul`` and its siblings (CANN's ``auto_cast_of_elewise``) are ``tbe.dsl``'s ops
behind one rule, in static compiles only (a dynamic compile calls the op as it is):

* two tensors of different dtypes, or a dtype the op's vector instruction does not take, are
  both cast to float32 where the instruction takes float32 and both dtypes convert to it,
  else to float16;
* one tensor (with a scalar, or alone) of a dtype the instruction does not take is cast the
  same way, and a scalar follows the tensor's dtype.

Which dtypes an instruction takes is CANN's per-SoC intrinsic table, which ships with the
toolkit, not in public sources. The host's stand-in (:data:`NATIVE_DTYPES`): float16,
float32 and bfloat16 for every op, int32 for the add/sub/mul/max/min families and ``vrelu``, and nothing
else (int8, uint8 and bool arithmetic go through a float, as canndev's operators expect).
"""
from __future__ import annotations

import functools
from typing import Callable

from bce_grad.host_backend.op_context import in_dynamic

#: The ``te.lang.cce`` ops CANN wraps with its auto cast.
AUTO_CAST_OPS = ("vadd", "vsub", "vmul", "vdiv", "vrec", "vmax", "vmin", "vlog", "vexp", "vabs",
                 "vsqrt", "vrsqrt", "vnot", "vor", "vand", "vadds", "vmuls", "vmaxs", "vmins",
                 "vaxpy", "vrelu")
_INT32_OPS = ("vadd", "vsub", "vmul", "vmax", "vmin", "vadds", "vmuls", "vmaxs", "vmins", "vrelu",
              "vaxpy")
_BITWISE_OPS = ("vnot", "vor", "vand")
#: dtypes that convert to float32 in one step (CANN's ``is_cast_support(dtype, "float32")``).
_TO_FLOAT32 = ("float16", "float32", "int32", "bfloat16")


def native_dtypes(op: str) -> tuple[str, ...]:
    """The dtypes the host takes as ``op``'s vector instruction's own (module doc)."""
    if op in _BITWISE_OPS:
        return ("int16", "uint16")
    floats = ("float16", "float32", "bfloat16")  # bfloat16: where the SoC has it (910B on)
    return (*floats, "int32") if op in _INT32_OPS else floats


NATIVE_DTYPES = {op: native_dtypes(op) for op in AUTO_CAST_OPS}


def _is_tensor(value) -> bool:
    from tvm import te

    return isinstance(value, te.Tensor)


def _target(op: str, dtypes) -> str:
    from bce_grad.host_backend import platform

    fp32 = platform.current_soc().fp32_vector and "float32" in NATIVE_DTYPES[op]
    return "float32" if fp32 and all(d in _TO_FLOAT32 for d in dtypes) else "float16"


def wrap(op: str, func: Callable) -> Callable:
    """``func`` (``tbe.dsl.<op>``) behind CANN's auto cast (module doc)."""
    native = NATIVE_DTYPES[op]

    @functools.wraps(func)
    def auto_cast(*args, **kwargs):
        if in_dynamic():
            return func(*args, **kwargs)
        from bce_grad.host_backend import dsl

        tensors = [i for i, a in enumerate(args[:3]) if _is_tensor(a)]
        dtypes = [str(args[i].dtype) for i in tensors]
        if dtypes and (len(set(dtypes)) > 1 or any(d not in native for d in dtypes)):
            target = _target(op, dtypes)
            args = list(args)
            for i in tensors:
                args[i] = dsl.cast_to(args[i], target)
        return func(*args, **kwargs)

    return auto_cast
