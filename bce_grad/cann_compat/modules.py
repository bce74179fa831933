"""The CANN module names, as module objects backed by the host backend.

Each :class:`CompatModule` has a fixed set of names (some resolved on first use, so that
no module here imports TVM before CANN code asks for a tensor API) and optionally forwards
other names to one host backend module. A name outside both raises ``AttributeError``
naming the CANN API; names the host cannot honour but CANN code binds at import time
(``tbe.tik``, ``te.lang.cce.tuple_sum``, most platform constants) are
:class:`~bce_grad.cann_compat.errors.Unhonoured`: binding works, using raises.
"""
from __future__ import annotations

import importlib
import logging
import types
from typing import Any, Callable

from bce_grad.cann_compat import dtypes
from bce_grad.cann_compat.errors import Unhonoured, UnsupportedApiError
from bce_grad.host_backend.dsl import OPS

#: Set on every module of the layer; ``impl/util/platform_adapter.py`` checks it on ``tbe``.
MARKER = "__bce_grad_host_backend__"

_HOST = "bce_grad.host_backend"
_DSL_NOTE = ("the host backend implements the elementwise and broadcast DSL "
             "(bce_grad.host_backend.dsl); this op or helper is not among them")
_HELPER_NOTE = ("the host backend implements the para_check and shape_util helpers that "
                "elementwise and broadcast operators use; this one is not among them")
_TIK_NOTE = "TIK kernels program the Ascend core directly; only the tbe DSL runs on the host"
_PLATFORM_NOTE = ("a device constant of CANN's code generator (buffer scope, instruction "
                  "or SoC family) with no meaning on the host")


class _Lazy:
    """A name resolved on first use: ``module:attribute`` or a zero-argument callable."""

    def __init__(self, target: str | Callable[[], Any], tensors: bool = False) -> None:
        self.target = target
        self.tensors = tensors

    def resolve(self) -> Any:
        if self.tensors:  # the first tensor API used: tensors must have CANN's str dtype
            dtypes.install()
        if callable(self.target):
            return self.target()
        module, _, attr = self.target.partition(":")
        return getattr(importlib.import_module(module), attr)


class CompatModule(types.ModuleType):
    """A CANN module name mapped onto the host backend."""

    def __init__(self, name: str, doc: str, names: dict | None = None, forward: str | None = None,
                 unhonoured: str | None = None, tensors: bool = False) -> None:
        super().__init__(name, doc)
        self.__dict__[MARKER] = True
        self.__dict__["_compat_names"] = dict(names or {})
        self.__dict__["_compat_forward"] = forward
        self.__dict__["_compat_unhonoured"] = unhonoured
        self.__dict__["_compat_tensors"] = tensors

    def __getattr__(self, name: str) -> Any:
        names = self.__dict__["_compat_names"]
        if name in names:
            value = names[name]
            if isinstance(value, _Lazy):
                value = value.resolve()
            setattr(self, name, value)
            return value
        if name.startswith("_"):
            raise AttributeError(f"module {self.__name__!r} has no attribute {name!r}")
        forward = self.__dict__["_compat_forward"]
        if forward:
            if self.__dict__["_compat_tensors"]:
                dtypes.install()
            module = importlib.import_module(forward)
            if hasattr(module, name):
                return getattr(module, name)
        reason = self.__dict__["_compat_unhonoured"]
        if reason:
            return Unhonoured(f"{self.__name__}.{name}", reason)
        raise AttributeError(f"{self.__name__}.{name} is not provided by the host backend's CANN "
                             f"compat layer (bce_grad.cann_compat); it covers the elementwise and "
                             f"broadcast tbe DSL and the APIs CANN's op_test_frame uses")

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(self.__dict__["_compat_names"]))


# ---- the host functions some names map to -------------------------------------------------

def _build(sch, config: dict):
    """``tbe.dsl.build`` / ``cce_build_code``: the host build (it writes CANN's ``.o`` and keys)."""
    from bce_grad.host_backend.build import build

    return build(sch, config)


#: SoCs CANN's UT cases name whose platform facts (cores, buffer sizes, vector dtypes) no public
#: source gives: selecting one is unsupported, not an unknown SoC.
UNDESCRIBED_SOCS = ("SD3403", "Hi3796CV300ES", "Hi3796CV300CS")


def _te_set_version(soc_version: str, core_type: str = "AiCore", *_: object, **__: object) -> str:
    """``te.platform.te_set_version``: select the SoC for later compiles in this context."""
    from bce_grad.host_backend.platform import set_current_compile_soc_info

    if str(soc_version) in UNDESCRIBED_SOCS:
        raise UnsupportedApiError(f"te_set_version({soc_version!r})", "no public source gives "
                                  "this SoC's platform facts, so the host cannot stand in for it")
    return set_current_compile_soc_info(soc_version, core_type)


def _get_bit_len(dtype: str) -> int:
    """``get_bit_len``: bits of one element of ``dtype`` (``float16`` -> 16)."""
    import numpy as np

    name = str(dtype).lower()
    if name in ("bfloat16", "bf16"):
        return 16
    if name == "bool":
        return 8
    return np.dtype(name).itemsize * 8


#: Build configuration keys whose value on the host is a fact, not a device switch.
HOST_BUILD_CONFIG = {"enable_op_prebuild": False}  # the host compiles; it never pre-builds


def _get_current_build_config(key: str | None = None) -> Any:
    if key in HOST_BUILD_CONFIG:
        return HOST_BUILD_CONFIG[key]
    return Unhonoured(f"tbe.common.buildcfg.get_current_build_config({key!r})",
                      "CANN's build configuration (CCE compiler switches) has no host meaning")()


class OpInfo:  # pylint: disable=too-few-public-methods
    """``tbe.common.context.op_info.OpInfo``: an operator's name, type and descriptions."""

    def __init__(self, op_name: str, op_type: str) -> None:
        self.op_name = op_name
        self.op_type = op_type
        self.pattern: str | None = None
        self.inputs: list = []
        self.outputs: list = []
        self.attrs: list = []
        self.extra_params: dict = {}
        self.kernel_name: str | None = None


def _log(level: int) -> Callable:
    logger = logging.getLogger("bce_grad.cann_compat.tbe")

    def log(msg: str, *args: object) -> None:
        logger.log(level, msg, *args)

    return log


def _add_compile_info(key: str, value: Any) -> None:
    from bce_grad.host_backend.op_context import get_context

    get_context().add_compile_info(key, value)


# ---- the names -------------------------------------------------------------------------------

_DSL_OPS = OPS  # the host backend's DSL ops, listed once (bce_grad.host_backend.dsl)


def _auto_cast(op: str) -> Callable[[], Any]:
    def resolve() -> Any:
        from bce_grad.cann_compat import auto_cast
        from bce_grad.host_backend import dsl

        return auto_cast.wrap(op, getattr(dsl, op))

    return resolve


def _dsl_names(extra: dict | None = None, legacy: bool = False) -> dict:
    """The DSL's names; ``legacy``: CANN's older ``te.lang.cce``, whose elementwise ops cast
    their operands first (:mod:`bce_grad.cann_compat.auto_cast`)."""
    from bce_grad.cann_compat.auto_cast import AUTO_CAST_OPS

    names = {op: _Lazy(_auto_cast(op) if legacy and op in AUTO_CAST_OPS else f"{_HOST}.dsl:{op}",
                       tensors=True) for op in _DSL_OPS}
    names.update({
        "auto_schedule": _Lazy(f"{_HOST}.schedule:auto_schedule", tensors=True),
        "build": _Lazy(lambda: _build),
        "cce_build_code": _Lazy(lambda: _build),
        "compute": _Lazy(f"{_HOST}.dsl.context:compute", tensors=True),
        "var": _Lazy(f"{_HOST}.dsl.context:var", tensors=True),
        "var_attr": _Lazy(f"{_HOST}.dsl.context:var_attr", tensors=True),
        "classify": _Lazy(f"{_HOST}.dsl.classify:classify"),
        "sum": _Lazy(f"{_HOST}.dsl:reduce_sum", tensors=True),  # CANN's older name
        "tuple_sum": Unhonoured("te.lang.cce.tuple_sum", "a tuple reduction; " + _DSL_NOTE),
    })
    names.update(extra or {})
    return names


_SOC_FAMILIES = {"ASCEND_310": "Ascend310", "ASCEND_910": "Ascend910", "ASCEND_310P": "Ascend310P",
                 "ASCEND_610": "Ascend610", "ASCEND_615": "Ascend615"}
_SPEC_KEYS = ("SOC_VERSION", "SHORT_SOC_VERSION", "FULL_SOC_VERSION", "AICORE_TYPE", "CORE_NUM",
              "UB_SIZE", "L2_SIZE", "L1_SIZE", "CUBE_SIZE", "L0A_SIZE", "L0B_SIZE", "L0C_SIZE",
              "SMASK_SIZE", "UNZIP", "CUBE_VECTOR_SPLIT", "COMPILER_ARCH")


def _platform_names() -> dict:
    names: dict = {key: key for key in _SPEC_KEYS}  # CANN's get_soc_spec keys are their names
    names.update(_SOC_FAMILIES)
    names.update({
        "get_soc_spec": _Lazy(f"{_HOST}.platform:get_soc_spec"),
        "api_check_support": _Lazy(f"{_HOST}.platform:api_check_support"),
        "set_current_compile_soc_info": _Lazy(f"{_HOST}.platform:set_current_compile_soc_info"),
        "te_set_version": _te_set_version,
        "get_bit_len": _get_bit_len,
    })
    return names


def _module_specs() -> dict[str, dict]:
    """Every module of the layer: its names, forward target and unhonoured-name rule."""
    platform = _platform_names()
    tvm = {"forward": f"{_HOST}.tvm_shim", "tensors": True}
    legacy_dsl = {"names": _dsl_names(legacy=True), "unhonoured": _DSL_NOTE}  # te.lang.cce.*
    return {
        "te": {"doc": "CANN's old ``te`` package, on the host backend."},
        "te.lang": {},
        "te.lang.cce": legacy_dsl,
        "te.lang.cce.util": {"names": {
            "shape_to_list": _Lazy(f"{_HOST}.shape_util:shape_to_list")},
            "unhonoured": _DSL_NOTE},
        "te.lang.cce.te_compute": legacy_dsl,
        "te.lang.cce.te_compute.elewise_compute": legacy_dsl,
        "te.lang.cce.te_compute.broadcast_compute": legacy_dsl,
        "te.lang.cce.te_compute.cast_compute": legacy_dsl,
        "te.lang.cce.te_compute.reduction_compute": legacy_dsl,
        "te.platform": {"names": platform, "unhonoured": _PLATFORM_NOTE},
        "te.platform.cce_conf": {"names": platform, "unhonoured": _PLATFORM_NOTE},
        "te.platform.fusion_manager": {"names": {
            "fusion_manager": _Lazy(f"{_HOST}.register:fusion_manager")}},
        "te.platform.cce_build": {},
        "te.tvm": tvm,
        "te.tvm.api": tvm,
        "te.utils": {},
        "te.utils.para_check": {"forward": f"{_HOST}.para_check", "unhonoured": _HELPER_NOTE},
        "te.utils.shape_util": {"forward": f"{_HOST}.shape_util", "tensors": True,
                                "unhonoured": _HELPER_NOTE},
        "te.utils.error_manager": {},
        "te.utils.error_manager.error_manager_vector": {"forward": f"{_HOST}.error_manager_vector"},
        "te.utils.error_manager.error_manager_util": {},
        "tbe": {"doc": "CANN's ``tbe`` package, on the host backend."},
        "tbe.dsl": {"names": _dsl_names(), "unhonoured": _DSL_NOTE},
        "tbe.dsl.base": {},
        "tbe.dsl.instrinsic": {"unhonoured": _PLATFORM_NOTE},  # sic: CANN's module name
        "tbe.dsl.instrinsic.cce_emitinsn_params": {"unhonoured": _PLATFORM_NOTE},
        "tbe.dsl.base.operation": {"names": {
            "var": _Lazy(f"{_HOST}.dsl.context:var", tensors=True),
            "var_attr": _Lazy(f"{_HOST}.dsl.context:var_attr", tensors=True),
            "compute": _Lazy(f"{_HOST}.dsl.context:compute", tensors=True),
            "add_compile_info": _add_compile_info,
            "get_context": _Lazy(f"{_HOST}.op_context:get_context")}},
        "tbe.tik": {"unhonoured": _TIK_NOTE},
        "te.tik": {"unhonoured": _TIK_NOTE},
        "tbe.tvm": tvm,
        "tbe.tvm.api": tvm,
        "tbe.common": {},
        "tbe.common.context": {"names": {
            "get_context": _Lazy(f"{_HOST}.op_context:get_context"),
            "OpContext": _Lazy(f"{_HOST}.op_context:OpContext")}},
        "tbe.common.context.op_context": {"names": {
            "get_context": _Lazy(f"{_HOST}.op_context:get_context"),
            "OpContext": _Lazy(f"{_HOST}.op_context:OpContext")}},
        "tbe.common.context.op_info": {"names": {"OpInfo": OpInfo}},
        "tbe.common.platform": {"names": platform, "unhonoured": _PLATFORM_NOTE},
        "tbe.common.platform.platform_info": {"names": platform, "unhonoured": _PLATFORM_NOTE},
        "tbe.common.utils": {},
        "tbe.common.utils.para_check": {"forward": f"{_HOST}.para_check",
                                        "unhonoured": _HELPER_NOTE},
        "tbe.common.utils.shape_util": {"forward": f"{_HOST}.shape_util", "tensors": True,
                                        "unhonoured": _HELPER_NOTE},
        "tbe.common.utils.errormgr": {},
        "tbe.common.utils.errormgr.error_manager_vector": {
            "forward": f"{_HOST}.error_manager_vector"},
        "tbe.common.utils.errormgr.error_manager_util": {},
        "tbe.common.utils.errormgr.error_manager_cube": {},
        "tbe.common.utils.op_tiling": {"names": {
            "do_op_tiling": _Lazy("bce_grad.cann_compat.tiling:do_op_tiling")}},
        "tbe.common.utils.log": {"names": {
            "debug": _log(logging.DEBUG), "info": _log(logging.INFO),
            "warn": _log(logging.WARNING), "error": _log(logging.ERROR)}},
        "tbe.common.register": {"names": {
            "register_operator": _Lazy(f"{_HOST}.register:register_operator"),
            "register_op_compute": _Lazy(f"{_HOST}.register:register_operator_compute"),
            "register_operator_compute": _Lazy(f"{_HOST}.register:register_operator_compute"),
            "register_param_generalization": _Lazy(
                f"{_HOST}.register:register_param_generalization")}},
        "tbe.common.buildcfg": {"names": {
            "get_current_build_config": _get_current_build_config}},
    }


def build_modules() -> dict[str, CompatModule]:
    """Create every module of the layer, each set as an attribute of its parent."""
    modules: dict[str, CompatModule] = {}
    for name, spec in _module_specs().items():
        doc = spec.get("doc") or f"CANN's ``{name}``, on the host backend (bce_grad.cann_compat)."
        module = CompatModule(name, doc, spec.get("names"), spec.get("forward"),
                              spec.get("unhonoured"), spec.get("tensors", False))
        module.__path__ = []  # a package: CANN code imports submodules of most of them
        module.__package__ = name
        modules[name] = module
    for name, module in modules.items():
        parent, _, child = name.rpartition(".")
        if parent:
            setattr(modules[parent], child, module)
    return modules
