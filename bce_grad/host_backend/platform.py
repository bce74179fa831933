"""CANN's platform queries, answered from the SoC table.

Mirrors ``tbe.common.platform``: :func:`set_current_compile_soc_info`,
:func:`get_soc_spec` and :func:`api_check_support`. It also holds the host
backend's own choice of code generator (LLVM for the CPU, or CUDA), which CANN
does not have.

Both choices are *context-local* (:class:`contextvars.ContextVar`): a thread, or an
asyncio task, that selects a SoC or target changes nothing for other threads. Where
nothing was selected, :func:`default_soc` (``$BCE_GRAD_SOC``, else
:data:`DEFAULT_SOC_VERSION`) and :func:`default_target` (``$BCE_GRAD_TARGET``, else
``llvm``) answer; both validate the variable and name it in their error.
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Iterator

from bce_grad.host_backend.dsl import OPS
from bce_grad.host_backend.errors import OpError, OpValueError
from bce_grad.host_backend.soc_table import SocInfo, canonical_soc, soc_info

SOC_VERSION = "SOC_VERSION"
SHORT_SOC_VERSION = "SHORT_SOC_VERSION"
CORE_NUM = "CORE_NUM"
UB_SIZE = "UB_SIZE"

#: The SoC used when nobody set one: documented in the README.
DEFAULT_SOC_VERSION = "Ascend910B1"
#: Host code generators: the CPU through LLVM, NVIDIA GPUs through CUDA.
BACKEND_TARGETS = ("llvm", "cuda")

#: DSL vector APIs (every compute op the host backend has, and CANN's older ``sum``) whose
#: float32 support depends on the SoC's vector unit.
_VECTOR_APIS = frozenset(f"tbe.dsl.{name}" for name in (*OPS, "sum"))
_CAST_DTYPES = {"f16": "float16", "f32": "float32", "bf16": "bfloat16"}

SOC_ENV = "BCE_GRAD_SOC"
TARGET_ENV = "BCE_GRAD_TARGET"

#: The SoC selected in this context (thread, task); None: :func:`default_soc`.
_soc: ContextVar[str | None] = ContextVar("bce_grad_soc", default=None)
#: The backend target selected in this context; None: :func:`default_target`.
_target: ContextVar[str | None] = ContextVar("bce_grad_target", default=None)


def default_soc() -> str:
    """The SoC used where none was selected: ``$BCE_GRAD_SOC``, else :data:`DEFAULT_SOC_VERSION`.

    The variable takes any spelling the CLI's ``--soc`` takes (``soc_table.canonical_soc``).

    Raises
    ------
    OpValueError
        E80000 naming ``BCE_GRAD_SOC`` when the variable is set to a SoC missing from the table.
    """
    value = os.environ.get(SOC_ENV)
    if value is None:
        return DEFAULT_SOC_VERSION
    try:
        return soc_info(canonical_soc(value)).soc_version
    except OpError as err:
        raise OpValueError("E80000", f"the environment variable[{SOC_ENV}] should name a SoC "
                           f"version such as {DEFAULT_SOC_VERSION}, but actually is [{value}] "
                           f"({err.detail})", param_name=SOC_ENV) from None


def default_target() -> str:
    """The backend target used where none was selected: ``$BCE_GRAD_TARGET``, else ``llvm``.

    Raises
    ------
    OpValueError
        E80000 naming ``BCE_GRAD_TARGET`` for a value other than ``llvm`` or ``cuda``, or for
        ``cuda`` on a machine where no CUDA device can be opened.
    """
    value = os.environ.get(TARGET_ENV)
    if value is None:
        return "llvm"
    if value not in BACKEND_TARGETS:
        raise OpValueError("E80000", f"the environment variable[{TARGET_ENV}] should be one of "
                           f"{list(BACKEND_TARGETS)}, but actually is [{value}]",
                           param_name=TARGET_ENV)
    if value == "cuda":
        from bce_grad.host_backend.runtime_lib import cuda_device_count

        if cuda_device_count() == 0:
            raise OpValueError("E80000", f"the environment variable[{TARGET_ENV}] is [cuda], but "
                               f"this machine has no usable CUDA device (libcuda could not be "
                               f"loaded or reports 0 devices); unset it to run on the CPU",
                               param_name=TARGET_ENV)
    return value


def set_current_compile_soc_info(soc_version: str, core_type: str = "AiCore", *_: object) -> str:
    """Select the SoC that later compiles target; returns ``"success"`` as CANN does.

    Raises
    ------
    OpError
        E80000 for a SoC missing from the table.
    """
    _soc.set(soc_info(soc_version).soc_version)  # validates; this context only
    return "success"


def selected_soc() -> str | None:
    """The SoC selected in this context (``use_soc``), or None; cheap, no table lookup."""
    return _soc.get()


def selected_target() -> str | None:
    """The backend target selected in this context (``use_backend_target``), or None; cheap."""
    return _target.get()


def current_soc() -> SocInfo:
    """Return the capabilities of the SoC selected in this context (else :func:`default_soc`)."""
    return soc_info(_soc.get() or default_soc())


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
    return _target.get() or default_target()


@contextmanager
def use_soc(soc_version: str) -> Iterator[SocInfo]:
    """Select ``soc_version`` (validated) in this context until the block ends."""
    token = _soc.set(soc_info(soc_version).soc_version)
    try:
        yield current_soc()
    finally:
        _soc.reset(token)


@contextmanager
def use_backend_target(target: str) -> Iterator[str]:
    """Temporarily compile for ``target`` (``"llvm"`` or ``"cuda"``)."""
    if target not in BACKEND_TARGETS:
        raise OpError("E80000", f"the parameter[target] should be one of {list(BACKEND_TARGETS)}, "
                      f"but actually is [{target}]", param_name="target")
    token = _target.set(target)
    try:
        yield target
    finally:
        _target.reset(token)
