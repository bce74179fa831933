"""``OpUT`` and its subclasses: declare UT cases, as op_test_frame's public API does."""
from __future__ import annotations

import sys
from typing import Any, Callable, Sequence

from bce_grad.tools.ut_frame.common.precision_info import PrecisionStandard
from bce_grad.tools.ut_frame.ut.case_info import (
    SUCCESS, CaseUsage, OpUTCase, check_expect, normalize_support_soc, snake_name,
)
from bce_grad.tools.ut_frame.ut.ut_report import OpUTReport


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
    def _unique(self, name: str) -> str:
        base, index = name, 0
        while name in self._cases:
            index += 1
            name = f"{base}__{index}"
        return name

    def _stored_name(self, short: str | None, imply_type: str) -> tuple[str, str]:
        if not short:
            self._auto_index += 1
            short = f"test_{self.op_type}_auto_case_name_{self._auto_index}"
        return self._unique(f"{self.op_type}_{imply_type}_{short}"), short

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
        imply_type = case.get("op_imply_type") or self.imply_type
        stored, short = self._stored_name(case.get("case_name"), imply_type)
        file, line = _caller_location()
        info = OpUTCase(
            case_name=stored, short_name=short, usage=usage, op_type=self.op_type,
            support_soc=normalize_support_soc(support_soc), op_imply_type=imply_type,
            params=list(case["params"]), addition_params=dict(case.get("addition_params") or {}),
            expect=check_expect(case.get("expect", SUCCESS), f"{where} [{short}]"),
            calc_expect_func=case.get("calc_expect_func"), precision_standard=standard,
            case_file=file or self.case_file, case_line_num=line)
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
        """Add a custom case: ``test_func(soc_version)``; its name is the function's own name."""
        if not test_func:
            raise RuntimeError("add_cust_test_func failed, test func is None")
        if not callable(test_func):
            raise RuntimeError("add_cust_test_func failed, test func is not a function.")
        stored = self._unique(test_func.__name__)
        file, line = _caller_location()
        self._cases[stored] = OpUTCase(
            case_name=stored, short_name=test_func.__name__, usage=CaseUsage.CUSTOM,
            op_type=self.op_type, support_soc=normalize_support_soc(support_soc),
            op_imply_type="pre_static", test_func=test_func, case_file=file or self.case_file,
            case_line_num=line)

    def add_test_cfg_cov_case(self, cfg_path_root: str | None = None) -> None:
        """Accepted for op_test_frame compatibility; adds nothing (as op_test_frame today)."""
        if cfg_path_root is not None:
            print(f"Op Type: {self.op_type}, not support test cfg_cov_case now.")

    # -- reading and running -----------------------------------------------------------------
    def get_all_test_case_name(self, soc: str | Sequence[str] | None = None) -> list[dict]:
        """One dict per case (``op_type``, ``case_name``, ``case_usage``, ``support_soc``).

        ``soc`` (one SoC, a comma list or a list) keeps the cases that run on any of them.
        """
        socs = [s.strip() for s in soc.split(",")] if isinstance(soc, str) else list(soc or [])
        return [{"op_type": c.op_type, "case_name": name, "case_usage": c.usage,
                 "support_soc": c.support_soc}
                for name, c in self._cases.items() if not socs or any(c.supports(s) for s in socs)]

    def run_case(self, one_soc_version: str, case_name_list: Sequence[str] | None = None,
                 case_usage_list: Sequence[Any] | None = None,
                 run_cfg: dict | None = None) -> OpUTReport:
        """Run the cases of one SoC on the host backend; return an :class:`OpUTReport`.

        ``case_name_list`` holds stored case names (all when empty); ``case_usage_list``
        holds usage values (``compile``, ``precision``, ``custom``). ``run_cfg`` takes
        op_test_frame's keys and the host's ``kernel_meta_path``.
        """
        from bce_grad.tools.ut_frame.ut.executor import run_case

        usages = {getattr(u, "value", u) for u in case_usage_list or []}
        report = OpUTReport()
        print(f"{self.op_type} test start running...")
        for name, case in self._cases.items():
            if not case.supports(one_soc_version) or (case_name_list and name not in case_name_list):
                continue
            if usages and case.usage not in usages:
                continue
            case_rpt = run_case(self, case, one_soc_version, run_cfg)
            report.add_case_report(case_rpt)
            print(f"{name} ({self.op_type}) ({case.usage}) ... "
                  f"{'ok' if case_rpt.status == SUCCESS else 'fail'}")
        print(f"run {report.total_cnt} tests, success: {report.success_cnt}"
              + (f", fail: {report.failed_cnt}" if report.failed_cnt else ""))
        return report

    def run(self, soc: str | Sequence[str], case_name: str | Sequence[str] | None = None,
            simulator_mode: str | None = None, simulator_lib_path: str | None = None) -> None:
        """Run the cases on each SoC, save ``ut_report.txt`` (JSON) and print a summary."""
        socs = [s.strip() for s in soc.split(",")] if isinstance(soc, str) else list(soc)
        names = case_name.split(",") if isinstance(case_name, str) else case_name
        run_cfg = {"simulator_mode": simulator_mode, "simulator_lib_path": simulator_lib_path}
        report = OpUTReport()
        for one in socs:
            report.merge_rpt(self.run_case(one, names, run_cfg=run_cfg))
        report.save("ut_report.txt")
        report.console_print()


class BroadcastOpUT(OpUT):
    """OpUT with helpers for two-input broadcast operators."""

    def add_broadcast_case(self, soc: Any, input_1_info: Sequence, input_2_info: Sequence,
                           output_info: Sequence | None = None, expect: Any = SUCCESS,
                           case_name: str | None = None) -> None:
        """Add a compile case from short forms ``[dtype, shape, format(, ori_shape, ori_format)]``."""
        in1, in2 = build_op_param(input_1_info), build_op_param(input_2_info)
        if output_info is None:
            out = build_op_param(input_1_info)
            out["shape"] = broadcast_shape(in1["shape"], in2["shape"])
            out["ori_shape"] = broadcast_shape(in1["ori_shape"], in2["ori_shape"])
        else:
            out = build_op_param(output_info)
        self.add_case(soc, {"params": [in1, in2, out], "expect": expect, "case_name": case_name})

    def add_broadcast_case_simple(self, soc: Any, dtypes: Any, shape1: Sequence[int],
                                  shape2: Sequence[int], expect: Any = SUCCESS,
                                  case_name: str | None = None) -> None:
        """One broadcast case per dtype, ND inputs of ``shape1`` and ``shape2``."""
        for dtype in dtypes if isinstance(dtypes, (tuple, list)) else (dtypes,):
            self.add_broadcast_case(soc, (dtype, shape1, "ND"), (dtype, shape2, "ND"),
                                    expect=expect, case_name=case_name)


class ElementwiseOpUT(OpUT):
    """OpUT with a helper for elementwise operators."""

    def add_elewise_case(self, soc: Any, param_info: Sequence, expect: Any = SUCCESS,
                         case_name: str | None = None) -> None:
        """Add a compile case with one short-form input and an output like it."""
        param = build_op_param(param_info)
        self.add_case(soc, {"params": [param, dict(param)], "expect": expect, "case_name": case_name})

    def add_elewise_case_simple(self, soc: Any, dtypes: Any, shape: Sequence[int],
                                expect: Any = SUCCESS, case_name: str | None = None) -> None:
        """One elementwise case per dtype, an ND input of ``shape``."""
        for dtype in dtypes if isinstance(dtypes, (tuple, list)) else (dtypes,):
            self.add_elewise_case(soc, [dtype, shape, "ND"], expect=expect, case_name=case_name)


class ReduceOpUT(OpUT):
    """OpUT with helpers for reduce operators: ``params`` are input, output, axes, keep_dim."""

    @staticmethod
    def _reduce_params(input_info: Sequence, axes: Any, keep_dim: bool) -> list:
        shape = list(input_info[1])
        rank = len(shape)
        axes = list(axes) if isinstance(axes, (tuple, list)) else [axes]
        wanted = []
        for axis in axes:
            if not -rank <= axis < rank:
                raise RuntimeError(f"is not in out of rank, shape is [{','.join(map(str, shape))}], "
                                   f"axes is: [{','.join(map(str, axes))}]")
            axis = axis + rank if axis < 0 else axis
            if axis not in wanted:
                wanted.append(axis)
        out_shape = [1 if i in wanted else d for i, d in enumerate(shape)
                     if keep_dim or i not in wanted]
        output = build_op_param([input_info[0], out_shape, input_info[2]])
        return [build_op_param(input_info), output, axes, keep_dim]

    def add_reduce_case(self, soc: Any, input_info: Sequence, axes: Any, keep_dim: bool = False,
                        expect: Any = SUCCESS, case_name: str | None = None) -> None:
        """Add a compile case reducing ``input_info`` over ``axes``."""
        self.add_case(soc, {"params": self._reduce_params(input_info, axes, keep_dim),
                            "expect": expect, "case_name": case_name})

    def add_reduce_case_simple(self, soc: Any, dtypes: Any, shape: Sequence[int], axes: Any,
                               keep_dim: bool = False, expect: Any = SUCCESS,
                               case_name: str | None = None) -> None:
        """One reduce case per dtype, an ND input of ``shape``."""
        for dtype in dtypes if isinstance(dtypes, (tuple, list)) else (dtypes,):
            self.add_reduce_case(soc, [dtype, shape, "ND"], axes, keep_dim, expect, case_name)


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


def broadcast_shape(shape1: Sequence[int], shape2: Sequence[int]) -> list[int]:
    """The numpy broadcast of two shapes (-1 stays -1 unless the other dim fixes it)."""
    a, b = list(shape1), list(shape2)
    rank = max(len(a), len(b))
    a, b = [1] * (rank - len(a)) + a, [1] * (rank - len(b)) + b
    out = []
    for d1, d2 in zip(a, b):
        if d1 == 1 or d1 == d2:
            out.append(d2)
        elif d2 == 1:
            out.append(d1)
        elif -1 in (d1, d2):
            out.append(max(d1, d2))
        else:
            raise RuntimeError(f"shapes {list(shape1)} and {list(shape2)} do not broadcast")
    return out


def _caller_location() -> tuple[str, Any]:
    frame = sys._getframe(1)  # noqa: SLF001 - the case file's line, for reports
    while frame is not None and "ut_frame" in frame.f_code.co_filename:
        frame = frame.f_back
    return ("", "unknown") if frame is None else (frame.f_code.co_filename, frame.f_lineno)
