"""Run one UT case on one SoC on the host, in op_test_frame's stages.

compile (``ut_compile``), run the kernel and compute the expected output
(``ut_run_on_model``), compare (``ut_compare_precision``), or a custom function
(``ut_cust_func``). ``run_cfg`` takes op_test_frame's keys (``data_dump_path``,
``simulator_mode``, ...) and one host key, ``kernel_meta_path``.
"""
from __future__ import annotations

import time
import traceback
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from bce_grad.tools.ut_frame import host_kernel
from bce_grad.tools.ut_frame.common.data_generator import gen_data
from bce_grad.tools.ut_frame.common.precision_info import compare_precision, get_default_standard
from bce_grad.tools.ut_frame.ut.case_info import (
    FAILED, STAGE_COMPARE_PRECISION, STAGE_COMPILE, STAGE_CUST_FUNC, STAGE_RUN, SUCCESS, CaseUsage,
    OpUTCase,
)
from bce_grad.tools.ut_frame.ut.ut_report import OpUTCaseReport, OpUTStageResult

DEFAULT_VALUE_RANGE = (0.1, 1.0)
DEFAULT_DATA_PATH = "./data"
DEFAULT_KERNEL_META = "./kernel_meta"


class CaseFailure(Exception):
    """A stage that ran but did not meet the case's expectation."""


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


def _module_for(ut: Any, case: OpUTCase) -> str:
    if case.op_imply_type == "dynamic" and ".dynamic." not in ut.op_module_name:
        head, _, tail = ut.op_module_name.rpartition(".")
        return f"{head}.dynamic.{tail}"
    return ut.op_module_name


def _compile(ut: Any, case: OpUTCase, soc: str, kernel_meta: Path, check_exist: bool) -> bool:
    """Compile the case; True when it compiled (and was expected to)."""
    func = host_kernel.import_op_func(_module_for(ut, case), ut.op_func_name)
    kwargs = dict(case.addition_params, kernel_name=case.kernel_name(soc))
    try:
        host_kernel.compile_op(func, case.params, kwargs, soc, kernel_meta)
    except Exception as err:  # noqa: BLE001 - judged against the case's expect
        _check_raised(case.expect, err)
        return False
    _check_raised(case.expect, None)
    if check_exist and not (kernel_meta / f"{case.kernel_name(soc)}.json").is_file():
        raise CaseFailure(f'Call op func success, but "{case.kernel_name(soc)}.json" not found.')
    return True


def _gen_inputs(case: OpUTCase, soc: str) -> list:
    """Copy the params; give every input dict a ``value``: its own, or generated data."""
    params = [dict(p) if isinstance(p, dict) else p for p in case.params]
    for index, param in enumerate(params):
        if not isinstance(param, dict) or param.get("param_type") != "input" or "value" in param:
            continue
        low, high = param.get("value_range", DEFAULT_VALUE_RANGE)
        shape = param.get("run_shape") or param["shape"]
        # Seeded per case, SoC and input, so a host run is reproducible (CANN's is not seeded).
        np.random.seed(zlib.crc32(f"{case.case_name}:{soc}:{index}".encode()))
        param["value"] = gen_data(shape, low, high, param["dtype"],
                                  param.get("distribution", "uniform"))
    return params


def _save(path: Path, name: str, arrays: list[np.ndarray]) -> None:
    for index, array in enumerate(arrays):
        np.asarray(array).tofile(path / f"{name}{index}.bin")


class _Stages:
    """Collects stage results; ``run`` records one stage and says whether it passed."""

    def __init__(self) -> None:
        self.results: list[OpUTStageResult] = []

    def run(self, name: str, func, *args) -> Any:
        try:
            value = func(*args)
        except CaseFailure as err:
            self.results.append(OpUTStageResult(FAILED, name, None, str(err), None))
            raise
        except Exception as err:  # noqa: BLE001 - a broken case is reported, not raised
            self.results.append(OpUTStageResult(FAILED, name, None, f"{type(err).__name__}: {err}",
                                                traceback.format_exc(limit=8)))
            raise CaseFailure(str(err)) from err
        self.results.append(OpUTStageResult(SUCCESS, name))
        return value


def _precision(ut: Any, case: OpUTCase, soc: str, kernel_meta: Path, data_root: Path,
               stages: _Stages, extra: dict) -> None:
    """Run the compiled kernel, compute the expected output and compare each output."""
    func = host_kernel.import_op_func(_module_for(ut, case), ut.op_func_name)
    params = _gen_inputs(case, soc)
    named = host_kernel.named_params(func, params)
    inputs = [(n, p["value"]) for n, p in named
              if isinstance(p, dict) and p.get("param_type") == "input"]
    outputs = [(n, p) for n, p in named if isinstance(p, dict) and p.get("param_type") == "output"]
    attrs = {n: v for n, v in named if v is not None and not isinstance(v, dict)}
    attrs.update(case.addition_params)

    def run_kernel() -> list[np.ndarray]:
        if not outputs:
            raise CaseFailure("a precision case needs param_type 'output' on its output dicts")
        json_path = kernel_meta / f"{case.kernel_name(soc)}.json"
        return host_kernel.launch(json_path, ut.op_type, inputs, outputs, attrs)

    def gen_expect() -> list:
        expect = case.calc_expect_func(*params, **case.addition_params)
        expect = list(expect) if isinstance(expect, (list, tuple)) else [expect]
        if len(expect) != len(outputs):
            raise CaseFailure(f"calc_expect_func's return tensor count({len(expect)}) not equal "
                              f"output dict count({len(outputs)}).")
        return expect

    actual = stages.run(STAGE_RUN, run_kernel)
    expect = stages.run(STAGE_RUN, gen_expect)
    data_dir = data_root / ut.op_type / soc
    data_dir.mkdir(parents=True, exist_ok=True)
    _save(data_dir, f"{case.case_name}_input", [a for _, a in inputs])
    _save(data_dir, f"{case.case_name}_output", actual)
    _save(data_dir, f"{case.case_name}_expect_output", expect)
    extra["data_dir"] = str(data_dir)

    def compare() -> None:
        messages = []
        for index, ((name, desc), act, exp) in enumerate(zip(outputs, actual, expect)):
            if np.shape(act) != np.shape(exp):
                messages.append(f"output {index} [{name}]'s shape is not same, expect: "
                                f"{list(np.shape(exp))}, actual: {list(np.shape(act))}")
                continue
            standard = case.precision_standard or get_default_standard(desc["dtype"])
            result = compare_precision(act, exp, standard)
            extra.setdefault("compare", []).append({"output": name, "message": result.message})
            if not result.passed:
                messages.append(f"precision of output [{name}] fails {standard!r}: "
                                f"{result.message}")
        if messages:
            raise CaseFailure("; ".join(messages))

    stages.run(STAGE_COMPARE_PRECISION, compare)


def run_case(ut: Any, case: OpUTCase, soc: str, run_cfg: dict | None = None) -> OpUTCaseReport:
    """Run ``case`` on ``soc`` and return its report; never raises for a case's failure."""
    cfg = run_cfg or {}
    kernel_meta = Path(cfg.get("kernel_meta_path") or DEFAULT_KERNEL_META)
    data_root = Path(cfg.get("data_dump_path") or DEFAULT_DATA_PATH)
    start = time.perf_counter()
    stages = _Stages()
    extra: dict = {}
    try:
        if case.usage == CaseUsage.CUSTOM:
            stages.run(STAGE_CUST_FUNC, case.test_func, soc)
        else:
            precision = case.usage == CaseUsage.PRECISION
            compiled = stages.run(STAGE_COMPILE, _compile, ut, case, soc, kernel_meta, precision)
            if compiled and precision:
                _precision(ut, case, soc, kernel_meta, data_root, stages, extra)
    except CaseFailure:
        pass
    extra["seconds"] = round(time.perf_counter() - start, 3)
    return OpUTCaseReport(soc, case, stages.results, {"host": extra})
