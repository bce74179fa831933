"""CANN's operator registration, plus the host backend's tiling registry.

``register_operator`` marks a dynamic entry and runs each call inside a compile
context (:class:`~bce_grad.host_backend.op_context.OpContext`, context-local): the
caller's, when the caller opened one with ``with OpContext(...)`` (as CANN's compiler and
op_test_frame do, reading the compile info from it afterwards), else a fresh one;
``register_operator_compute`` marks a compute function. CANN
computes runtime scalars (tiling) in C++; on the host an operator registers a
Python tiling function with :func:`register_host_tiling`.
"""
from __future__ import annotations

import functools
from typing import Callable

from bce_grad.host_backend.errors import OpError
from bce_grad.host_backend.op_context import OpContext, current_context

OPERATORS: dict[str, Callable] = {}
COMPUTES: dict[str, Callable] = {}
TILINGS: dict[str, Callable] = {}
GENERALIZATIONS: dict[str, Callable] = {}


def register_operator(op_type: str, pattern: str | None = None, **_: object) -> Callable:
    """Register a dynamic operator entry under ``op_type``."""
    def decorate(func: Callable) -> Callable:
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            context = current_context()
            if context is not None and not context.implicit:  # the caller's, as on CANN
                return func(*args, **kwargs)
            with OpContext("dynamic"):
                return func(*args, **kwargs)

        OPERATORS[op_type] = wrapper
        return wrapper

    return decorate


def register_param_generalization(op_type: str) -> Callable:
    """Record ``op_type``'s shape generalization function (CANN's binary kernel reuse, which
    the host does not do); returns the function unchanged."""
    def decorate(func: Callable) -> Callable:
        GENERALIZATIONS[op_type] = func
        return func

    return decorate


def register_operator_compute(op_type: str, op_mode: str = "dynamic", support_fusion: bool = True,
                              **_: object) -> Callable:
    """Register a compute function; the function itself is returned unchanged."""
    def decorate(func: Callable) -> Callable:
        COMPUTES[f"{op_type}:{op_mode}"] = func
        return func

    return decorate


class FusionManager:
    """CANN's old ``te.platform.fusion_manager.fusion_manager``: registers compute functions.

    ``@fusion_manager.register("op_name")`` records the compute (UB fusion itself is
    CANN's graph compiler's business) and returns the function unchanged.
    """

    def register(self, op_name: str) -> Callable:
        """Decorator recording a compute function under ``op_name``."""
        def decorate(func: Callable) -> Callable:
            COMPUTES[f"{op_name}:static"] = func
            return func

        return decorate

    @staticmethod
    def get_build_cfg() -> str:
        """CANN's L1 fusion switch: ``"disable"`` on the host, which fuses nothing."""
        return "disable"


fusion_manager = FusionManager()


def register_host_tiling(op_type: str) -> Callable:
    """Register ``func(inputs, outputs, attrs, compile_info) -> {var: value}`` for ``op_type``."""
    def decorate(func: Callable) -> Callable:
        TILINGS[op_type] = func
        return func

    return decorate


def get_host_tiling(op_type: str) -> Callable:
    """Return the tiling function registered for ``op_type``."""
    if op_type not in TILINGS:
        raise OpError("E80000", f"no host tiling is registered for op [{op_type}]; known: "
                      f"{sorted(TILINGS)}", param_name="op_type")
    return TILINGS[op_type]
