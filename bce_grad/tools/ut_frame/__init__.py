"""A host op_test_frame: CANN's public UT API, for machines without CANN.

Case files import ``op_test_frame.ut`` and ``op_test_frame.common.precision_info``
exactly as they do on CANN. :func:`ensure_op_test_frame` makes those imports work:
it leaves CANN's own ``op_test_frame`` alone when it can be imported, and only
otherwise installs this package under that name through ``sys.modules``. Nothing
here is a top-level ``op_test_frame`` package, so CANN's is never shadowed.
"""
from __future__ import annotations

import importlib
import importlib.util
import sys

FRAME_NAME = "op_test_frame"
#: Module names of the public API, and the host modules that implement them.
ALIASES = {
    "op_test_frame": "bce_grad.tools.ut_frame",
    "op_test_frame.common": "bce_grad.tools.ut_frame.common",
    "op_test_frame.common.precision_info": "bce_grad.tools.ut_frame.common.precision_info",
    "op_test_frame.common.data_generator": "bce_grad.tools.ut_frame.common.data_generator",
    "op_test_frame.ut": "bce_grad.tools.ut_frame.ut",
    "op_test_frame.ut.ut_report": "bce_grad.tools.ut_frame.ut.ut_report",
}


def is_host_frame(module_name: str = FRAME_NAME) -> bool:
    """True when ``op_test_frame`` resolves to this host implementation."""
    module = sys.modules.get(module_name)
    return module is not None and module.__name__.startswith("bce_grad.tools.ut_frame")


def ensure_op_test_frame() -> bool:
    """Make ``import op_test_frame...`` work; return True if the host frame is used.

    CANN's ``op_test_frame`` wins whenever it is importable. Only when it is not
    are the host modules registered under the public names.
    """
    if FRAME_NAME in sys.modules:
        return is_host_frame()
    if importlib.util.find_spec(FRAME_NAME) is not None:
        importlib.import_module(FRAME_NAME)
        return False
    for public, host in ALIASES.items():
        sys.modules[public] = importlib.import_module(host)
    return True
