"""CANN's operator registration, plus the host backend's tiling registry.

``register_operator`` marks a dynamic entry and runs each call inside a fresh
compile context (:class:`~bce_grad.host_backend.op_context.OpContext`, context-local);
``register_operator_compute`` marks a compute function. CANN
computes runtime scalars (tiling) in C++; on the host an operator registers a
Python tiling function with :func:`register_host_tiling`.
"""
from __future__ import annotations

import functools
from typing import Callable

from bce_grad.host_backend.errors import OpError
from bce_grad.host_backend.op_context import OpContext

OPERATORS: dict[str, Callable] = {}
COMPUTES: dict[str, Callable] = {}
TILINGS: dict[str, Callable] = {}


def register_operator(op_type: str, pattern: str | None = None, **_: object) -> Callable:
    """Register a dynamic operator entry under ``op_type``."""
    def decorate(func: Callable) -> Callable:
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            with OpContext("dynamic"):
                return func(*args, **kwargs)

        OPERATORS[op_type] = wrapper
        return wrapper

    return decorate


def register_operator_compute(op_type: str, op_mode: str = "dynamic", support_fusion: bool = True,
                              **_: object) -> Callable:
    """Register a compute function; the function itself is returned unchanged."""
    def decorate(func: Callable) -> Callable:
        COMPUTES[f"{op_type}:{op_mode}"] = func
        return func

    return decorate


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
