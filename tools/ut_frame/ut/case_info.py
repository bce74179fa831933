"""Case records of the host op_test_frame: what a case declares and how it ended."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable

SUCCESS = "success"
FAILED = "failed"


class CaseUsage:
    """What a case does: compile only, compile and compare, or a custom function."""

    IMPL = "compile"
    PRECISION = "precision"
    CUSTOM = "custom"


@dataclass
class OpUTCase:
    """One declared case.

    Attributes
    ----------
    case_name : str
        The stored name, ``<op_type>_<imply_type>_<short name>``.
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
    params: list = field(default_factory=list)
    addition_params: dict = field(default_factory=dict)
    expect: Any = SUCCESS
    calc_expect_func: Callable | None = None
    precision_standard: Any = None
    test_func: Callable | None = None
    src: str = ""

    def supports(self, soc: str) -> bool:
        """True if the case runs on ``soc`` (its list names it, or says ``all``)."""
        return any(s.lower() == "all" or s == soc for s in self.support_soc)

    def kernel_name(self, soc: str) -> str:
        """The kernel name passed to the operator: ``<case_name>_<soc lowercase>``."""
        return f"{self.case_name}_{soc.lower()}"


@dataclass
class CaseResult:
    """How one case ended on one SoC."""

    case_name: str
    soc: str
    usage: str
    status: str
    err_msg: str = ""
    detail: dict = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        """True when the case met its expectation."""
        return self.status == SUCCESS


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
    if expect in (SUCCESS, FAILED):
        return expect
    if isinstance(expect, type) and issubclass(expect, BaseException):
        return expect
    raise RuntimeError(f"{where}: the key [expect] should be 'success', 'failed' or an exception "
                       f"class, but actually is [{expect!r}]")
