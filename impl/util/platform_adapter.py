"""One switch between CANN's ``tbe`` and the host backend.

Operators import CANN's API from here only. When CANN's ``tbe`` package is
importable (an Ascend machine with the toolkit), the real API is used; otherwise
the host backend, CANN's ``tbe`` API on Apache TVM. Nothing in an operator knows
which one it runs on.

When the host backend's CANN compat layer (``bce_grad.cann_compat``) is installed, a
``tbe`` module is importable but is the host backend: its modules carry the marker
``__bce_grad_host_backend__``, checked first, so the host branch (and its host tiling) is
taken. Loaded as ``bce_grad._impl`` (the host's private name for this package, never
``impl``), the host branch is taken without looking for ``tbe``: a CANN environment on the
Python path changes nothing on the host.
"""
# pylint: disable=unused-import
import sys

try:
    if __name__.startswith("bce_grad."):
        raise ImportError("loaded by the host backend under its private name")
    if getattr(sys.modules.get("tbe"), "__bce_grad_host_backend__", False):
        raise ImportError("tbe is the host backend's CANN compat layer")
    from tbe import dsl as tbe  # noqa: F401
    from tbe import tvm  # noqa: F401
    from tbe.common import platform as tbe_platform  # noqa: F401
    from tbe.common.register import register_op_compute as register_operator_compute  # noqa: F401
    from tbe.common.register import register_operator  # noqa: F401
    from tbe.common.utils import para_check, shape_util  # noqa: F401
    from tbe.common.utils.errormgr import error_manager_vector  # noqa: F401
    from tbe.dsl import classify  # noqa: F401
    from tbe.common.context import op_context as tbe_context  # noqa: F401

    class OpPatternMode:  # pylint: disable=too-few-public-methods
        """classify modes, by CANN's names."""

        ELEWISE = "elewise"
        ELEWISE_WITH_BROADCAST = "broadcast"

    def register_host_tiling(op_type):
        """On CANN, tiling runs in the op_tiling library; the Python one is unused."""
        del op_type
        return lambda func: func

    IS_HOST_BACKEND = False
except ImportError:
    from bce_grad.host_backend import dsl as tbe  # noqa: F401
    from bce_grad.host_backend import error_manager_vector, para_check, shape_util  # noqa: F401
    from bce_grad.host_backend import platform as tbe_platform  # noqa: F401
    from bce_grad.host_backend import tvm_shim as tvm  # noqa: F401
    from bce_grad.host_backend.dsl import OpPatternMode, classify  # noqa: F401
    from bce_grad.host_backend.op_context import tbe_context  # noqa: F401
    from bce_grad.host_backend.register import (  # noqa: F401
        register_host_tiling, register_operator, register_operator_compute,
    )

    IS_HOST_BACKEND = True
