"""CANN's platform queries, answered from the SoC table.

Mirrors ``tbe.common.platform``: :func:`set_current_compile_soc_info`,
:func:`get_soc_spec` and :func:`api_check_support`. It also holds the host
backend's own choice of code generator (LLVM for the CPU, or CUDA), which CANN
does not have.
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Iterator

from bce_grad.host_backend.errors import OpError
from bce_grad.host_backend.soc_table import SocInfo, soc_info

SOC_VERSION = "SOC_VERSION"
SHORT_SOC_VERSION = "SHORT_SOC_VERSION"
CORE_NUM = "CORE_NUM"
UB_SIZE = "UB_SIZE"

#: The SoC used when nobody set one: documented in the README.
DEFAULT_SOC_VERSION = "Ascend910B1"
#: Host code generators: the CPU through LLVM, NVIDIA GPUs through CUDA.
BACKEND_TARGETS = ("llvm", "cuda")

#: DSL vector APIs whose float32 support depends on the SoC's vector unit.
_VECTOR_APIS = frozenset(
    f"tbe.dsl.{name}"
    for name in (
        "vadd", "vsub", "vmul", "vdiv", "vmax", "vmin", "vadds", "vmuls", "vmaxs", "vmins",
        "vabs", "vexp", "vlog", "vrec", "reduce_sum", "broadcast",
    )
)
_CAST_DTYPES = {"f16": "float16", "f32": "float32", "bf16": "bfloat16"}

_state = {
    "soc": os.environ.get("BCE_GRAD_SOC", DEFAULT_SOC_VERSION),
    "target": os.environ.get("BCE_GRAD_TARGET", "llvm"),
}


def set_current_compile_soc_info(soc_version: str, core_type: str = "AiCore", *_: object) -> str:
    """Select the SoC that later compiles target; returns ``"success"`` as CANN does.

    Raises
    ------
    OpError
        E80000 for a SoC missing from the table.
    """
    soc_info(soc_version)  # validates
    _state["soc"] = soc_version
    return "success"


def current_soc() -> SocInfo:
    """Return the capabilities of the SoC currently selected."""
    return soc_info(_state["soc"])


def get_soc_spec(key: str) -> str | int:
    """Answer one of CANN's ``get_soc_spec`` keys for the current SoC.

    Parameters
    ----------
    key : str
        ``SOC_VERSION``, ``SHORT_SOC_VERSION``, ``CORE_NUM`` or ``UB_SIZE``.
    """
    info = current_soc()
    answers = {
        SOC_VERSION: info.soc_version,
        SHORT_SOC_VERSION: info.short_soc_version,
        CORE_NUM: info.core_num,
        UB_SIZE: info.ub_size,
    }
    if key not in answers:
        raise OpError("E80000", f"the parameter[key] of get_soc_spec should be one of "
                      f"{sorted(answers)}, but actually is [{key}]", param_name="key")
    return answers[key]


def api_check_support(api: str, dtype: str = "") -> bool:
    """Say whether DSL ``api`` supports ``dtype`` on the current SoC.

    ``api`` uses CANN's names (``"tbe.dsl.vmul"``; the older ``"te.lang.cce.vmul"``
    is accepted too). For ``cast_to``, ``dtype`` is a conversion such as ``"f322bf16"``.
    float16 arithmetic exists everywhere; float32 needs the SoC's fp32 vector unit;
    bfloat16 needs bf16 support.
    """
    info = current_soc()
    name = api.replace("te.lang.cce.", "tbe.dsl.")
    if name == "tbe.dsl.cast_to":
        parts = dtype.split("2")
        dtypes = {_CAST_DTYPES.get(part, part) for part in parts}
        return "bfloat16" not in dtypes or info.bf16
    if name not in _VECTOR_APIS:
        return False
    if dtype in ("float16", "int32"):
        return True
    if dtype == "float32":
        return info.fp32_vector
    if dtype == "bfloat16":
        return info.bf16
    return False


def backend_target() -> str:
    """Return the host code generator in use: ``"llvm"`` or ``"cuda"``."""
    return _state["target"]


@contextmanager
def use_soc(soc_version: str) -> Iterator[SocInfo]:
    """Temporarily select ``soc_version`` (validated)."""
    previous = _state["soc"]
    set_current_compile_soc_info(soc_version)
    try:
        yield current_soc()
    finally:
        _state["soc"] = previous


@contextmanager
def use_backend_target(target: str) -> Iterator[str]:
    """Temporarily compile for ``target`` (``"llvm"`` or ``"cuda"``)."""
    if target not in BACKEND_TARGETS:
        raise OpError("E80000", f"the parameter[target] should be one of {list(BACKEND_TARGETS)}, "
                      f"but actually is [{target}]", param_name="target")
    previous = _state["target"]
    _state["target"] = target
    try:
        yield target
    finally:
        _state["target"] = previous
