"""Run CANN's real op_test_frame on the host: three seams, patched in this process only.

1. The runtime: ``AscendRTSApi`` (ctypes over ``libruntime.so`` or a simulator) becomes
   :class:`~bce_grad.cann_compat.rts.HostRTSApi` where the frame looks it up
   (``op_test_frame.runtime`` and ``op_test_frame.common.ascend_tbe_op``).
2. The frame calls an operator function with the host build writing to the frame's
   ``KERNEL_DIR`` (``./kernel_meta``); whichever ``build`` the operator called (the
   layer's, or the host backend's through the project's ``platform_adapter``), it wrote
   ``<kernel>.o`` and CANN's kernel-description keys, which
   :func:`bce_grad.cann_compat.kernel_desc.describe` checks.
3. The 2022 ``OpUTTestRunner._execute_one_soc`` leaves ``run_cfg`` unbound when no
   simulator mode is given (compile-only runs crash, on CANN too): it gets ``None`` then.

``coverage`` (imported at the top of ``op_ut_runner``) is replaced by a module whose use
raises, when it is not installed. Call :func:`patch_frame` after
:func:`bce_grad.cann_compat.install`.
"""
from __future__ import annotations

import importlib.util
import os
import sys
import types

from bce_grad.cann_compat.errors import UnsupportedApiError

_PATCHED = "__bce_grad_host_patched__"


def _coverage_stub() -> None:
    if "coverage" in sys.modules or importlib.util.find_spec("coverage") is not None:
        return
    stub = types.ModuleType("coverage", "Stand-in: the coverage package is not installed.")

    class Coverage:  # pylint: disable=too-few-public-methods
        def __init__(self, *_args: object, **_kwargs: object) -> None:
            raise UnsupportedApiError("op_ut_run --cov_report", "the coverage package is not "
                                      "installed here (pip install coverage)")

    stub.Coverage = Coverage
    sys.modules["coverage"] = stub


def _describe_after(call_op_func):
    """Wrap ``OpUT._call_op_func``: describe the built kernel, then run the frame's own check."""
    def call(self, run_soc_version, op_func, case_info, check_exist=False):
        from bce_grad.cann_compat.kernel_desc import describe
        from bce_grad.host_backend.build import kernel_meta_at

        with kernel_meta_at(self.KERNEL_DIR):  # where the frame looks, whatever $BCE_GRAD_KERNEL_META says
            ok, err = call_op_func(self, run_soc_version, op_func, case_info, check_exist=False)
        kernel_name = self._get_kernel_name(run_soc_version, case_info)  # pylint: disable=protected-access
        json_path = os.path.join(self.KERNEL_DIR, kernel_name + ".json")
        if ok and os.path.exists(json_path) and os.path.exists(json_path[:-5] + ".so"):
            try:
                describe(json_path)  # build wrote the .o and CANN's keys; a stale kernel fails here
            except FileNotFoundError as err:
                return False, str(err)
        expects_kernel = getattr(case_info, "expect", "success") == "success"
        if ok and check_exist and expects_kernel and not self._check_kernel_so_exist(self.KERNEL_DIR, kernel_name):  # pylint: disable=protected-access
            return False, f'Call op func success, but "{kernel_name}.o" or "{kernel_name}.json" not found.'
        return ok, err

    call.__wrapped__ = call_op_func
    return call


def _execute_one_soc(self, op_ut_case, run_soc_version, case_name_list, case_usage_list=None):
    run_cfg = None
    if self.simulator_mode:
        run_cfg = {"simulator_mode": self.simulator_mode,
                   "simulator_lib_path": self.simulator_lib_path,
                   "simulator_dump_path": self.simulator_dump_path,
                   "data_dump_path": self.data_dumnp_dir}
    return op_ut_case.run_case(run_soc_version, case_name_list=case_name_list,
                               case_usage_list=case_usage_list, run_cfg=run_cfg)


def patch_frame() -> None:
    """Patch the importable ``op_test_frame`` (CANN's) for the host; idempotent.

    Raises
    ------
    ModuleNotFoundError
        When no ``op_test_frame`` is importable (pass ``--op-test-frame DIR``).
    """
    _coverage_stub()
    from op_test_frame import runtime
    from op_test_frame.common import ascend_tbe_op
    from op_test_frame.ut import op_ut, op_ut_runner

    from bce_grad.cann_compat.rts import HostRTSApi

    if getattr(op_ut, _PATCHED, False):
        return
    runtime.AscendRTSApi = HostRTSApi
    ascend_tbe_op.AscendRTSApi = HostRTSApi
    op_ut.OpUT._call_op_func = _describe_after(op_ut.OpUT._call_op_func)  # pylint: disable=protected-access
    op_ut_runner.OpUTTestRunner._execute_one_soc = _execute_one_soc  # pylint: disable=protected-access
    setattr(op_ut, _PATCHED, True)
