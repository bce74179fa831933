"""Compile an operator function and launch its kernel on the host backend.

This is the host's stand-in for CANN's compile step and ``AscendOpKernelRunner``:
the operator is imported by module and function name, checked against its op
info as FE does, compiled into ``kernel_meta/`` and launched with the host
tiling's runtime scalars.
"""
from __future__ import annotations

import importlib
import importlib.util
import inspect
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from bce_grad.host_backend import platform
from bce_grad.host_backend.build import kernel_meta_at
from bce_grad.host_backend.launch import load_kernel
from bce_grad.host_backend.op_context import OpContext
from bce_grad.host_backend.register import TILINGS
from bce_grad.tools.ut_frame.common.data_generator import np_dtype

#: CANN dtype spellings and the names the op info uses.
DTYPE_NAMES = {"float": "float32", "half": "float16", "bf16": "bfloat16"}


#: CANN's package name for operator modules, and the host's private name for the project's.
IMPL, PRIVATE_IMPL = "impl", "bce_grad._impl"


def _project_module(module_name: str) -> str | None:
    """``bce_grad._impl.<rest>`` for ``impl.<rest>`` when the project's operator has it."""
    if not module_name.startswith(IMPL + "."):
        return None
    private = PRIVATE_IMPL + module_name[len(IMPL):]
    try:
        return private if importlib.util.find_spec(private) is not None else None
    except ImportError:
        return None


def import_op_func(module_name: str, func_name: str) -> Callable:
    """Import the operator function.

    ``impl.<op>`` (CANN's name) is the project's operator under its private name
    (``bce_grad._impl.<op>``) where the project has that module, so a CANN ``impl`` on the
    path never replaces it; other names import as given, with op_test_frame's fallback to
    ``<sys.path>/impl``.
    """
    private = _project_module(module_name)
    try:
        module = importlib.import_module(private or module_name)
    except ImportError:
        if private:
            raise
        module = importlib.import_module(module_name.split(".", 1)[-1])
    func = getattr(module, func_name, None)
    if not callable(func):
        raise RuntimeError(f"the module [{module_name}] has no callable [{func_name}]")
    return func


def named_params(func: Callable, params: Sequence[Any]) -> list[tuple[str, Any]]:
    """Pair each positional parameter with the name the function gives it."""
    names = [p.name for p in inspect.signature(inspect.unwrap(func)).parameters.values()]
    return [(names[i] if i < len(names) else f"arg{i}", value) for i, value in enumerate(params)]


def fe_check(soc: str, func: Callable, params: Sequence[Any]) -> None:
    """FE's check before compiling: every tensor dtype must be in the SoC's op info."""
    from bce_grad.api import check_dtypes

    dtypes = {name: DTYPE_NAMES.get(str(v.get("dtype")), str(v.get("dtype")))
              for name, v in named_params(func, params) if isinstance(v, dict) and "dtype" in v}
    check_dtypes(soc, dtypes)


def compile_op(func: Callable, params: Sequence[Any], kwargs: dict, soc: str,
               kernel_meta: Path) -> None:
    """Check and compile ``func(*params, **kwargs)`` for ``soc`` into ``kernel_meta``."""
    kernel_meta.mkdir(parents=True, exist_ok=True)
    with platform.use_soc(soc), kernel_meta_at(kernel_meta):
        fe_check(soc, func, params)
        with OpContext("static"):  # one fresh compile context per compile, as CANN's compiler
            func(*params, **kwargs)


def launch(json_path: Path, op_type: str, inputs: Sequence[tuple[str, np.ndarray]],
           outputs: Sequence[tuple[str, dict]], attrs: dict) -> list[np.ndarray]:
    """Run the kernel at ``json_path`` on ``inputs``; return one array per output.

    Parameters
    ----------
    json_path : Path
        ``kernel_meta/<kernel>.json``.
    op_type : str
        The operator type, whose host tiling (if any) gives the runtime scalars.
    inputs : sequence of (name, array)
        Present inputs in the operator's order.
    outputs : sequence of (name, dict)
        Outputs with ``shape`` (or ``run_shape``) and ``dtype``.
    attrs : dict
        Attribute values by name, for the tiling.
    """
    kernel = load_kernel(json_path)
    out_shapes = [tuple(d.get("run_shape") or d.get("shape")) for _, d in outputs]
    outs = [np.zeros(s, dtype=np_dtype(d["dtype"])) for (_, d), s in zip(outputs, out_shapes)]
    scalars: dict = {}
    if any(case["scalars"] for case in kernel.meta["cases"]) and op_type in TILINGS:
        scalars = TILINGS[op_type](
            [{"shape": list(a.shape), "dtype": str(a.dtype)} for _, a in inputs],
            [{"shape": list(s), "dtype": d["dtype"]} for (_, d), s in zip(outputs, out_shapes)],
            attrs, kernel.meta.get("compile_info", {}))
    kernel([*(a for _, a in inputs), *outs], scalars)  # the kernel picks its case and binds shapes
    return outs
