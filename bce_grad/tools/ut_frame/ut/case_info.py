"""Case records of the host op_test_frame: what a case declares, in op_test_frame's JSON shape."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable

SUCCESS = "success"
FAILED = "failed"
ERROR = "error"

#: op_test_frame's stage names, as its reports spell them.
STAGE_COMPILE = "ut_compile"
STAGE_RUN = "ut_run_on_model"
STAGE_COMPARE_PRECISION = "ut_compare_precision"
STAGE_CUST_FUNC = "ut_cust_func"
#: A host-only stage: a case file that could not be loaded (op_ut_run only logs it).
STAGE_LOAD = "ut_load_case_file"


class CaseUsage:
    """What a case does, by op_test_frame's ``CaseUsage`` values."""

    IMPL = "compile"
    PRECISION = "precision"
    CUSTOM = "custom"


#: The keys of a tensor dict that op_test_frame writes into its JSON report.
_PARAM_JSON_KEYS = ("dtype", "shape", "format", "ori_shape", "ori_format", "data_path",
                    "expect_data_path", "range")


def _param_json(param: Any) -> Any:
    if isinstance(param, dict) and "shape" in param:
        return {k: param.get(k) for k in _PARAM_JSON_KEYS}
    if isinstance(param, (list, tuple)) and param and isinstance(param[0], dict) \
            and "shape" in param[0]:
        return [_param_json(p) for p in param]
    return param


@dataclass
class OpUTCase:
    """One declared case.

    Attributes
    ----------
    case_name : str
        The stored name: ``<op_type>_<imply_type>_<name>``, or a custom function's own name.
    short_name : str
        The name the case file gave (or the generated one).
    usage : str
        A :class:`CaseUsage` value.
    support_soc : tuple of str
        SoCs the case runs on; ``"all"`` means every SoC.
    params, addition_params : list, dict
        Positional and keyword arguments of the operator function.
    expect : str or type
        ``"success"``, ``"failed"`` or an exception class.
    """

    case_name: str
    short_name: str
    usage: str
    support_soc: tuple[str, ...]
    op_imply_type: str
    op_type: str = ""
    params: list = field(default_factory=list)
    addition_params: dict = field(default_factory=dict)
    expect: Any = SUCCESS
    calc_expect_func: Callable | None = None
    precision_standard: Any = None
    test_func: Callable | None = None
    case_file: str = ""
    case_line_num: Any = "unknown"

    @property
    def src(self) -> str:
        """``file:line`` of the declaration, for messages."""
        return f"{self.case_file}:{self.case_line_num}"

    def supports(self, soc: str) -> bool:
        """True if the case runs on ``soc`` (its list names it, or says ``all``)."""
        return any(s.lower() == "all" or s == soc for s in self.support_soc)

    def kernel_name(self, soc: str) -> str:
        """The kernel name passed to the operator: ``<case_name>_<soc lowercase>``."""
        return f"{self.case_name}_{soc.lower()}"

    def to_json_obj(self) -> dict:
        """The ``ut_case_info`` of op_test_frame's report (custom cases have fewer keys)."""
        base = {"support_soc": list(self.support_soc), "op_type": self.op_type,
                "case_name": self.case_name, "case_usage": self.usage,
                "case_file": self.case_file, "case_line_num": self.case_line_num}
        if self.usage == CaseUsage.CUSTOM:
            return {**base, "test_func_name": getattr(self.test_func, "__name__", None)}
        expect = self.expect if isinstance(self.expect, str) else self.expect.__name__
        standard = self.precision_standard
        return {**base, "op_params": [_param_json(p) for p in self.params],
                "addition_params": self.addition_params or None, "expect": expect,
                "precision_standard": standard.to_json_obj() if standard is not None else None,
                "op_imply_type": self.op_imply_type}


def snake_name(op_type: str) -> str:
    """op_test_frame's CamelCase to snake_case: ``BinaryCrossEntropyGrad`` -> ``binary_cross_entropy_grad``."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", op_type).lower().lstrip("_")


def normalize_support_soc(support_soc: Any) -> tuple[str, ...]:
    """op_test_frame's rule: None or empty means all; a string is one SoC; a list is used as given."""
    if not support_soc:
        return ("all",)
    if isinstance(support_soc, str):
        return (support_soc,)
    return tuple(support_soc)


def check_expect(expect: Any, where: str) -> Any:
    """Refuse an ``expect`` that is neither ``success``, ``failed`` nor an exception class."""
    if not expect:
        return SUCCESS
    if expect in (SUCCESS, FAILED):
        return expect
    if isinstance(expect, type) and issubclass(expect, BaseException):
        return expect
    raise RuntimeError(f"{where}: the key [expect] should be 'success', 'failed' or an exception "
                       f"class, but actually is [{expect!r}]")
