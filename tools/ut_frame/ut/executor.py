"""Run one UT case on one SoC on the host: compile, precision or custom."""
from __future__ import annotations

import time
import traceback
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bce_grad.tools.ut_frame import host_kernel
from bce_grad.tools.ut_frame.common.data_generator import gen_data
from bce_grad.tools.ut_frame.common.precision_info import compare_precision, get_default_standard
from bce_grad.tools.ut_frame.ut.case_info import FAILED, SUCCESS, CaseResult, CaseUsage, OpUTCase

DEFAULT_VALUE_RANGE = (0.1, 1.0)


@dataclass
class RunConfig:
    """Where a run writes: ``data_path/<op>/<soc>/`` and ``kernel_meta_path``."""

    data_path: str = "./data"
    kernel_meta_path: str = "./kernel_meta"
    simulator_mode: str | None = None


class CaseFailure(Exception):
    """A case that ran but did not meet its expectation."""


def _check_raised(expect: Any, err: BaseException | None) -> None:
    """Judge the compile step against ``expect``; raise :class:`CaseFailure` on a mismatch."""
    if err is None:
        if expect != SUCCESS:
            name = expect if isinstance(expect, str) else expect.__name__
            raise CaseFailure(f"expect [{name}], but the operator raised nothing")
        return
    if expect == SUCCESS:
        raise CaseFailure(f"expect success, but the operator raised {type(err).__name__}: {err}")
    if expect == FAILED or isinstance(err, expect):
        return
    raise CaseFailure(f"expect {expect.__name__}, but the operator raised "
                      f"{type(err).__name__}: {err}")


def _compile(ut: Any, case: OpUTCase, soc: str, config: RunConfig) -> bool:
    """Compile the case; True when it compiled (and was expected to)."""
    func = host_kernel.import_op_func(_module_for(ut, case), ut.op_func_name)
    kwargs = dict(case.addition_params, kernel_name=case.kernel_name(soc))
    try:
        host_kernel.compile_op(func, case.params, kwargs, soc, Path(config.kernel_meta_path))
    except Exception as err:  # noqa: BLE001 - judged against the case's expect
        _check_raised(case.expect, err)
        return False
    _check_raised(case.expect, None)
    return True


def _module_for(ut: Any, case: OpUTCase) -> str:
    if case.op_imply_type == "dynamic" and ".dynamic." not in ut.op_module_name:
        head, _, tail = ut.op_module_name.rpartition(".")
        return f"{head}.dynamic.{tail}"
    return ut.op_module_name


def _gen_inputs(case: OpUTCase, soc: str) -> list:
    """Copy the params; give every input dict a ``value``: its own, or generated data."""
    params = [dict(p) if isinstance(p, dict) else p for p in case.params]
    for index, param in enumerate(params):
        if not isinstance(param, dict) or param.get("param_type") != "input" or "value" in param:
            continue
        low, high = param.get("value_range", DEFAULT_VALUE_RANGE)
        seed = zlib.crc32(f"{case.case_name}:{soc}:{index}".encode())
        shape = param.get("run_shape") or param["shape"]
        param["value"] = gen_data(shape, low, high, param["dtype"],
                                  param.get("distribution", "uniform"), seed)
    return params


def _save(path: Path, name: str, arrays: list[np.ndarray]) -> None:
    for index, array in enumerate(arrays):
        np.asarray(array).tofile(path / f"{name}{index}.bin")


def _precision(ut: Any, case: OpUTCase, soc: str, config: RunConfig) -> dict:
    """Run the compiled kernel and compare each output with ``calc_expect_func``."""
    if case.calc_expect_func is None:
        raise CaseFailure("a precision case needs calc_expect_func")
    func = host_kernel.import_op_func(_module_for(ut, case), ut.op_func_name)
    params = _gen_inputs(case, soc)
    named = host_kernel.named_params(func, params)
    inputs = [(n, p["value"]) for n, p in named
              if isinstance(p, dict) and p.get("param_type") == "input"]
    outputs = [(n, p) for n, p in named if isinstance(p, dict) and p.get("param_type") == "output"]
    if not outputs:
        raise CaseFailure("a precision case needs param_type 'output' on its output dicts")
    attrs = {n: v for n, v in named if v is not None and not isinstance(v, dict)}
    attrs.update(case.addition_params)
    json_path = Path(config.kernel_meta_path) / f"{case.kernel_name(soc)}.json"
    actual = host_kernel.launch(json_path, ut.op_type, inputs, outputs, attrs)
    expect = case.calc_expect_func(*params, **case.addition_params)
    expect = list(expect) if isinstance(expect, (list, tuple)) else [expect]
    if len(expect) != len(actual):
        raise CaseFailure(f"calc_expect_func returned {len(expect)} arrays for "
                          f"{len(actual)} outputs")
    data_dir = Path(config.data_path) / ut.op_type / soc
    data_dir.mkdir(parents=True, exist_ok=True)
    _save(data_dir, f"{case.case_name}_input", [a for _, a in inputs])
    _save(data_dir, f"{case.case_name}_output", actual)
    _save(data_dir, f"{case.case_name}_expect_output", expect)
    compares = []
    for (name, desc), act, exp in zip(outputs, actual, expect):
        standard = case.precision_standard or get_default_standard(desc["dtype"])
        result = compare_precision(act, exp, standard)
        compares.append({"output": name, "passed": result.passed, "message": result.message,
                         "standard": repr(standard)})
        if not result.passed:
            raise CaseFailure(f"precision of output [{name}] fails {standard!r}: {result.message}")
    return {"compare": compares, "data_dir": str(data_dir)}


def run_case(ut: Any, case: OpUTCase, soc: str, config: RunConfig) -> CaseResult:
    """Run ``case`` on ``soc`` and return its result; never raises for a case's failure."""
    start = time.perf_counter()
    result = CaseResult(case.case_name, soc, case.usage, SUCCESS, detail={"src": case.src})
    try:
        if case.usage == CaseUsage.CUSTOM:
            case.test_func(soc)
        elif _compile(ut, case, soc, config) and case.usage == CaseUsage.PRECISION:
            result.detail.update(_precision(ut, case, soc, config))
    except CaseFailure as err:
        result.status, result.err_msg = FAILED, str(err)
    except Exception as err:  # noqa: BLE001 - a broken case is reported, not raised
        result.status = FAILED
        result.err_msg = f"{type(err).__name__}: {err}"
        result.detail["traceback"] = traceback.format_exc(limit=6)
    result.seconds = time.perf_counter() - start
    return result
