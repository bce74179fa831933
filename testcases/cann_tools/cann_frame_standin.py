"""A stand-in for CANN's real op_test_frame: its public UT surface and return types only.

Written from the verified facts (``reference/cann-tools-real.md``), not from CANN's code:
``OpUT(op_type, op_module_name, op_func_name)`` with ``add_case``, ``add_precision_case``,
``add_cust_test_func``, ``get_all_test_case_name(soc)`` returning **dicts**
(``op_type``, ``case_name``, ``case_usage``, ``support_soc``), ``run_case(one_soc_version,
case_name_list, case_usage_list, run_cfg)`` returning a report with ``get_case_rpt_list()``,
and ``run``. No ``select``, no case objects. ``run_case`` compiles nothing: it records
what it was asked to run in ``CALLS`` and reports success.

:func:`write_package` writes it as an importable ``op_test_frame`` package.
"""
from __future__ import annotations

import textwrap
from pathlib import Path

INIT = ""
COMMON_INIT = ""
PRECISION_INFO = '''
class PrecisionStandard:
    def __init__(self, rtol, atol, max_atol=None, precision_type="percent"):
        self.rtol, self.atol, self.max_atol, self.precision_type = rtol, atol, max_atol, precision_type

    @staticmethod
    def parse_json_obj(json_obj):
        if not json_obj:
            return None
        return PrecisionStandard(json_obj["rtol"], json_obj["atol"], json_obj["max_atol"],
                                 json_obj["precision_type"])

    def to_json_obj(self):
        return {"precision_type": self.precision_type, "rtol": self.rtol, "atol": self.atol,
                "max_atol": self.max_atol}


def get_default_standard(dtype):
    return PrecisionStandard(0.001, 0.001, 0.1)
'''
UT_INIT = '''
from .op_ut import OpUT, BroadcastOpUT, ElementwiseOpUT, ReduceOpUT
'''
OP_UT = '''
import inspect

CALLS = []


class _CaseReport:
    def __init__(self, op_type, case_name, run_soc, usage):
        self.op_type, self.case_name, self.run_soc = op_type, case_name, run_soc
        self.status, self.err_msg, self._usage = "success", None, usage

    def to_json_obj(self):
        stage = {"status": "success", "result": None, "err_msg": None,
                 "stage_name": "ut_compile", "err_trace": None}
        info = {"support_soc": ["all"], "op_type": self.op_type, "case_name": self.case_name,
                "case_usage": self._usage, "case_file": None, "case_line_num": None,
                "op_params": [], "addition_params": None, "expect": "success",
                "precision_standard": None, "op_imply_type": "dynamic"}
        return {"op_type": self.op_type, "case_name": self.case_name, "run_soc": self.run_soc,
                "status": self.status, "err_msg": None,
                "trace_detail": {"run_soc": self.run_soc, "ut_case_info": info,
                                 "stage_result": [stage]}}


class _Report:
    def __init__(self, run_cmd=None):
        self.run_cmd, self._list = run_cmd, []
        self.total_cnt = self.success_cnt = self.failed_cnt = self.err_cnt = 0

    def get_case_rpt_list(self):
        return self._list

    def add_case_report(self, rpt):
        self._list.append(rpt)
        self.total_cnt += 1
        self.success_cnt += rpt.status == "success"

    def merge_rpt(self, rpt):
        for one in rpt.get_case_rpt_list():
            self.add_case_report(one)


class OpUT:
    def __init__(self, op_type, op_module_name=None, op_func_name=None):
        self.op_type = op_type
        self.op_module_name = op_module_name or "impl." + op_type.lower()
        self.op_func_name = op_func_name
        self.imply_type = "dynamic" if ".dynamic." in self.op_module_name else "pre_static"
        self._auto_gen_case_name_count = 0
        self._case_info_map = {}
        self.case_file = inspect.stack()[1].filename

    def _add(self, support_soc, case, usage):
        if "params" not in case:
            raise RuntimeError("Not has params info in case")
        name = case.get("case_name")
        if not name:
            self._auto_gen_case_name_count += 1
            name = "test_%s_auto_case_name_%d" % (self.op_type, self._auto_gen_case_name_count)
        name = "_".join([self.op_type, case.get("op_imply_type") or self.imply_type, name])
        soc = support_soc or ("all",)
        self._case_info_map[name] = (usage, soc if isinstance(soc, (list, tuple)) else (soc,))

    def add_case(self, support_soc=None, case=None):
        self._add(support_soc, case, "compile")

    def add_precision_case(self, support_soc=None, case=None):
        self._add(support_soc, case, "precision")

    def add_cust_test_func(self, support_soc=None, test_func=None):
        soc = support_soc or ("all",)
        self._case_info_map[test_func.__name__] = (
            "custom", soc if isinstance(soc, (list, tuple)) else (soc,))

    def add_test_cfg_cov_case(self, cfg_path_root=None):
        return None

    def get_all_test_case_name(self, soc=None):
        socs = [s.strip() for s in soc.split(",")] if isinstance(soc, str) else list(soc or [])
        return [{"op_type": self.op_type, "case_name": name, "case_usage": usage,
                 "support_soc": support}
                for name, (usage, support) in self._case_info_map.items()
                if not socs or "all" in support or any(s in support for s in socs)]

    def run_case(self, one_soc_version, case_name_list=None, case_usage_list=None, run_cfg=None):
        report = _Report()
        for info in self.get_all_test_case_name(one_soc_version):
            if case_name_list and info["case_name"] not in case_name_list:
                continue
            CALLS.append((one_soc_version, info["case_name"], info["case_usage"]))
            report.add_case_report(_CaseReport(self.op_type, info["case_name"], one_soc_version,
                                               info["case_usage"]))
        return report

    def run(self, soc, case_name=None, simulator_mode=None, simulator_lib_path=None):
        for one in soc.split(",") if isinstance(soc, str) else soc:
            self.run_case(one, case_name)


class BroadcastOpUT(OpUT):
    def add_broadcast_case(self, soc, input_1_info, input_2_info, output_info=None,
                           expect="success", case_name=None):
        self.add_case(soc, {"params": [], "case_name": case_name})

    def add_broadcast_case_simple(self, soc, dtypes, shape1, shape2, expect="success",
                                  case_name=None):
        self.add_case(soc, {"params": [], "case_name": case_name})


class ElementwiseOpUT(OpUT):
    def add_elewise_case(self, soc, param_info, expect="success", case_name=None):
        self.add_case(soc, {"params": [], "case_name": case_name})

    def add_elewise_case_simple(self, soc, dtypes, shape, expect="success", case_name=None):
        self.add_case(soc, {"params": [], "case_name": case_name})


class ReduceOpUT(OpUT):
    def add_reduce_case(self, soc, input_info, axes, keep_dim=False, expect="success",
                        case_name=None):
        self.add_case(soc, {"params": [], "case_name": case_name})

    def add_reduce_case_simple(self, soc, dtypes, shape, axes, keep_dim=False,
                               expect="success", case_name=None):
        self.add_case(soc, {"params": [], "case_name": case_name})
'''
FILES = {"op_test_frame/__init__.py": INIT, "op_test_frame/common/__init__.py": COMMON_INIT,
         "op_test_frame/common/precision_info.py": PRECISION_INFO,
         "op_test_frame/ut/__init__.py": UT_INIT, "op_test_frame/ut/op_ut.py": OP_UT}


def write_package(root: Path) -> Path:
    """Write the stand-in ``op_test_frame`` under ``root``; return ``root``."""
    for name, text in FILES.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
    return root
