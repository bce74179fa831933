"""``OpUT`` and its subclasses: declare UT cases, as op_test_frame's public API does."""
from __future__ import annotations

import sys
from typing import Any, Callable, Sequence

from bce_grad.tools.ut_frame.common.precision_info import PrecisionStandard
from bce_grad.tools.ut_frame.ut.case_info import (
    SUCCESS, CaseResult, CaseUsage, OpUTCase, check_expect, normalize_support_soc, snake_name,
)


class OpUT:
    """The UT cases of one operator.

    Parameters
    ----------
    op_type : str
        The operator type, such as ``BinaryCrossEntropyGrad``.
    op_module_name : str, optional
        Module of the operator; default ``impl.<snake op_type>``. A name containing
        ``.dynamic.`` makes the cases dynamic.
    op_func_name : str, optional
        Function of the operator; default ``<snake op_type>``.
    """

    def __init__(self, op_type: str, op_module_name: str | None = None,
                 op_func_name: str | None = None) -> None:
        self.op_type = op_type
        self.op_module_name = op_module_name or f"impl.{snake_name(op_type)}"
        self.op_func_name = op_func_name or snake_name(op_type)
        self.imply_type = "dynamic" if ".dynamic." in self.op_module_name else "pre_static"
        self.case_file = sys._getframe(1).f_code.co_filename  # noqa: SLF001 - caller's file
        self._cases: dict[str, OpUTCase] = {}
        self._auto_index = 0

    # -- declaring cases ---------------------------------------------------------------------
    def _stored_name(self, short: str | None) -> tuple[str, str]:
        if not short:
            self._auto_index += 1
            short = f"test_{snake_name(self.op_type)}_auto_case_name_{self._auto_index}"
        stored = f"{self.op_type}_{self.imply_type}_{short}"
        base, index = stored, 0
        while stored in self._cases:
            index += 1
            stored = f"{base}__{index}"
        return stored, short

    def _add(self, usage: str, support_soc: Any, case: dict | None) -> OpUTCase:
        where = f"{self.op_type} UT case"
        if not isinstance(case, dict):
            raise RuntimeError(f"{where}: the case should be a dict, but actually is {case!r}")
        if "params" not in case:
            raise RuntimeError(f"{where} [{case.get('case_name', '?')}]: Not has params info in "
                               f"case (the key [params] is missing)")
        standard = case.get("precision_standard")
        if standard is not None and not isinstance(standard, PrecisionStandard):
            raise RuntimeError(f"{where} [{case.get('case_name', '?')}]: the key "
                               f"[precision_standard] should be a PrecisionStandard, but actually "
                               f"is {type(standard).__name__}")
        stored, short = self._stored_name(case.get("case_name"))
        info = OpUTCase(
            case_name=stored, short_name=short, usage=usage,
            support_soc=normalize_support_soc(support_soc),
            op_imply_type=case.get("op_imply_type", self.imply_type),
            params=list(case["params"]), addition_params=dict(case.get("addition_params") or {}),
            expect=check_expect(case.get("expect", SUCCESS), f"{where} [{short}]"),
            calc_expect_func=case.get("calc_expect_func"), precision_standard=standard,
            src=_caller_location())
        if usage == CaseUsage.PRECISION and not callable(info.calc_expect_func):
            raise RuntimeError(f"{where} [{short}]: a precision case needs the key "
                               f"[calc_expect_func], a callable")
        self._cases[stored] = info
        return info

    def add_case(self, support_soc: Any = None, case: dict | None = None) -> None:
        """Add a compile-only case."""
        self._add(CaseUsage.IMPL, support_soc, case)

    def add_precision_case(self, support_soc: Any = None, case: dict | None = None) -> None:
        """Add a case that compiles, runs and compares with ``calc_expect_func``."""
        self._add(CaseUsage.PRECISION, support_soc, case)

    def add_cust_test_func(self, support_soc: Any = None, test_func: Callable | None = None) -> None:
        """Add a custom case: ``test_func(soc_version)``; its name is the function's name."""
        if test_func is None or not callable(test_func):
            raise RuntimeError(f"{self.op_type} UT: the parameter [test_func] should be callable, "
                               f"but actually is {test_func!r}")
        stored, short = self._stored_name(test_func.__name__)
        self._cases[stored] = OpUTCase(
            case_name=stored, short_name=short, usage=CaseUsage.CUSTOM,
            support_soc=normalize_support_soc(support_soc), op_imply_type="pre_static",
            test_func=test_func, src=_caller_location())

    # -- reading and running -----------------------------------------------------------------
    def get_all_test_case_name(self, soc: str | None = None) -> list[OpUTCase]:
        """Every case, or those that run on ``soc``."""
        return [c for c in self._cases.values() if soc is None or c.supports(soc)]

    def select(self, soc: str, case_names: Sequence[str] | None = None) -> list[OpUTCase]:
        """Cases for ``soc``, filtered by stored or short names."""
        cases = self.get_all_test_case_name(soc)
        if not case_names:
            return cases
        wanted = set(case_names)
        return [c for c in cases if c.case_name in wanted or c.short_name in wanted]

    def run(self, soc: str | Sequence[str], case_name: str | Sequence[str] | None = None,
            simulator_mode: str | None = None, simulator_lib_path: str | None = None,
            data_path: str = "./data", kernel_meta_path: str = "./kernel_meta") -> list[CaseResult]:
        """Run the matching cases on each SoC on the host; print and return the results."""
        from bce_grad.tools.ut_frame.ut.executor import RunConfig, run_case
        del simulator_lib_path
        socs = [s for s in soc.split(",")] if isinstance(soc, str) else list(soc)
        names = case_name.split(",") if isinstance(case_name, str) else case_name
        config = RunConfig(data_path=data_path, kernel_meta_path=kernel_meta_path,
                           simulator_mode=simulator_mode)
        results = [run_case(self, case, one, config) for one in socs
                   for case in self.select(one, names)]
        for result in results:
            print(f"[{result.status}] {result.soc} {result.case_name} {result.err_msg}".rstrip())
        return results


class BroadcastOpUT(OpUT):
    """OpUT with helpers for two-input broadcast operators."""

    def add_broadcast_case(self, soc: Any, input_1_info: Sequence, input_2_info: Sequence,
                           output_info: Sequence | None = None, expect: Any = SUCCESS,
                           case_name: str | None = None) -> None:
        """Add a compile case from short forms ``[dtype, shape, format(, ori_shape, ori_format)]``."""
        in1, in2 = build_op_param(input_1_info), build_op_param(input_2_info)
        out = build_op_param(output_info) if output_info else dict(in1)
        self.add_case(soc, {"params": [in1, in2, out], "expect": expect, "case_name": case_name})


class ElementwiseOpUT(OpUT):
    """OpUT with a helper for elementwise operators."""

    def add_elewise_case(self, soc: Any, param_info: Sequence, expect: Any = SUCCESS,
                         case_name: str | None = None) -> None:
        """Add a compile case with one short-form input and an output like it."""
        param = build_op_param(param_info)
        self.add_case(soc, {"params": [param, dict(param)], "expect": expect, "case_name": case_name})


class ReduceOpUT(OpUT):
    """OpUT for reduce operators (no extra helpers on the host)."""


def build_op_param(info: Sequence) -> dict[str, Any]:
    """Expand ``[dtype, shape, format(, ori_shape, ori_format)]`` into a tensor dict."""
    if len(info) < 3:
        raise RuntimeError(f"a short tensor form should be [dtype, shape, format(, ori_shape, "
                           f"ori_format)], but actually is {list(info)}")
    dtype, shape, fmt = info[0], list(info[1]), info[2]
    ori_shape = list(info[3]) if len(info) > 3 else shape
    ori_format = info[4] if len(info) > 4 else fmt
    return {"dtype": dtype, "shape": shape, "format": fmt, "ori_shape": ori_shape,
            "ori_format": ori_format}


def _caller_location() -> str:
    frame = sys._getframe(1)  # noqa: SLF001 - the case file's line, for reports
    while frame is not None and "ut_frame" in frame.f_code.co_filename:
        frame = frame.f_back
    return "" if frame is None else f"{frame.f_code.co_filename}:{frame.f_lineno}"
