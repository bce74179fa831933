"""Run ST sub-cases on the host and write ``st_report.json`` in msopst's layout.

Per sub-case, the stages msopst runs on a device have host stand-ins:
compile (ATC: the op's dynamic entry, into ``<out>/kernel_meta``), generate data,
run (the host backend), compare with the case's ``calc_expect_func``.
"""
from __future__ import annotations

import importlib.util
import json
import sys
import time
import zlib
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from bce_grad.tools.st_frame.case_file import DYNAMIC_DIMS, SubCase, expand_case, load_case_file
from bce_grad.tools.st_frame.compare import compare
from bce_grad.tools.ut_frame import host_kernel
from bce_grad.tools.ut_frame.common.data_generator import gen_data, np_dtype
from bce_grad.tools.ut_frame.ut.case_info import snake_name


def _load_golden(spec: str, json_path: Path) -> Callable:
    """``file.py:function``, the file relative to the case file."""
    file_part, func_name = spec.split(":")
    path = (json_path.parent / file_part).resolve()
    if not path.is_file():
        raise FileNotFoundError(f"case file [{json_path}]: the key [calc_expect_func_file] names "
                                f"[{path}], which does not exist")
    name = "st_golden_" + str(zlib.crc32(str(path).encode()))
    module = sys.modules.get(name)
    if module is None:
        spec_obj = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec_obj)
        spec_obj.loader.exec_module(module)
        sys.modules[name] = module
    func = getattr(module, func_name, None)
    if not callable(func):
        raise AttributeError(f"[{path}] has no function [{func_name}] (calc_expect_func_file)")
    return func


def _compile_desc(desc: dict) -> dict:
    out = {"shape": list(desc["shape"]), "dtype": desc["type"], "format": desc["format"],
           "ori_shape": list(desc.get("ori_shape", desc["shape"])),
           "ori_format": desc.get("ori_format", desc["format"])}
    if -1 in out["shape"] and "shape_range" in desc:
        out["range"] = [tuple(r) for r in desc["shape_range"]]
    return out


def _run_shape(desc: dict) -> list[int]:
    shape = list(desc["shape"])
    return list(desc["typical_shape"]) if any(d in DYNAMIC_DIMS for d in shape) else shape


def _gen(sub: SubCase, desc: dict, index: int) -> np.ndarray:
    if "value" in desc and not isinstance(desc["value"], str):
        return np.asarray(desc["value"]).astype(np_dtype(desc["type"]))
    low, high = desc["value_range"]
    np.random.seed(zlib.crc32(f"{sub.case_name}:{index}".encode()))  # reproducible on the host
    return gen_data(_run_shape(desc), low, high, desc["type"], desc["data_distribute"])


def _sub_case_json(sub: SubCase) -> dict:
    """The sub-case as msopst stores it in ``st_case_info.op_params``."""
    return {"op": sub.op, "case_name": sub.case_name,
            "input_desc": [d if d is not None else {"format": "RESERVED"} for d in sub.inputs],
            "output_desc": sub.outputs, "attr": sub.source.get("attr", []),
            "calc_expect_func_file": sub.calc_expect_func_file, "expect": sub.expect}


class _Stages:
    """msopst's stage results, plus the host's ``err_msg`` and ``seconds`` (ignored by msopst)."""

    def __init__(self) -> None:
        self.results: list[dict] = []

    def run(self, name: str, func: Callable, result: Any = None) -> Any:
        start = time.perf_counter()
        try:
            value = func()
        except Exception as err:  # noqa: BLE001 - recorded in the report
            self.results.append({"status": "failed", "result": result, "stage_name": name,
                                 "err_msg": f"{type(err).__name__}: {err}",
                                 "seconds": round(time.perf_counter() - start, 3)})
            raise
        self.results.append({"status": "success", "result": result, "stage_name": name,
                             "err_msg": "", "seconds": round(time.perf_counter() - start, 3)})
        return value


def run_sub_case(sub: SubCase, soc: str, json_path: Path, run_dir: Path,
                 err_thr: tuple[float, float]) -> dict[str, Any]:
    """Run one sub-case; return its ``report_list`` entry in msopst's layout.

    Stages: ``atc_single_op_convert`` (compile the op's dynamic entry), ``run_acl_code``
    (generate data, run on the host backend), ``compare_data`` (against the golden).
    ``status`` is ``failed`` when any stage failed; the case passes when it equals ``expect``.
    """
    stages = _Stages()
    case_info = {"case_name": sub.case_name, "op_params": _sub_case_json(sub),
                 "input_data_path": [], "expect_data_paths": [], "planned_output_data_paths": []}
    entry = {"case_name": sub.case_name, "status": "failed", "expect": sub.expect,
             "trace_detail": {"st_case_info": case_info, "stage_result": stages.results},
             "soc": soc, "response": ""}
    func = host_kernel.import_op_func(f"impl.dynamic.{snake_name(sub.op)}", snake_name(sub.op))
    kernel_name = "st_" + "".join(c if c.isalnum() else "_" for c in sub.case_name)
    meta = run_dir / "kernel_meta"
    params = [None if d is None else _compile_desc(d) for d in sub.inputs + sub.outputs]
    try:
        stages.run("atc_single_op_convert", lambda: host_kernel.compile_op(
            func, params, {**sub.attrs, "kernel_name": kernel_name}, soc, meta))
        _run_and_compare(sub, json_path, run_dir, err_thr, meta / f"{kernel_name}.json",
                         stages, entry)
    except Exception as err:  # noqa: BLE001 - the stage that failed is recorded
        entry["response"] = f"{type(err).__name__}: {err}"
        return entry
    entry["status"] = "success"
    return entry


def _run_and_compare(sub, json_path, run_dir, err_thr, kernel_json, stages, entry) -> None:
    info = entry["trace_detail"]["st_case_info"]
    names = [d.get("name", f"input{i}") if d else None for i, d in enumerate(sub.source["input_desc"])]
    data_dir = run_dir / sub.case_name / "data"

    def run() -> tuple[dict, list, list]:
        arrays = {n: _gen(sub, d, i) for i, (n, d) in enumerate(zip(names, sub.inputs))
                  if d is not None}
        first = next(iter(arrays.values()))
        outs = [(d.get("name", f"output{i}"),
                 {"dtype": d["type"], "run_shape": list(first.shape)
                  if any(k in DYNAMIC_DIMS for k in d["shape"]) else d["shape"]})
                for i, d in enumerate(sub.outputs)]
        actual = host_kernel.launch(kernel_json, sub.op, list(arrays.items()), outs, sub.attrs)
        data_dir.mkdir(parents=True, exist_ok=True)
        for name, array in arrays.items():
            array.tofile(data_dir / f"{name}.bin")
            info["input_data_path"].append(str(data_dir / f"{name}.bin"))
        for (name, _), array in zip(outs, actual):
            array.tofile(data_dir / f"{name}.bin")
            info["planned_output_data_paths"].append(str(data_dir / f"{name}.bin"))
        return arrays, outs, actual

    arrays, outputs, actual = stages.run("run_acl_code", run)
    if not sub.calc_expect_func_file:
        return
    kwargs: dict[str, Any] = {n: None for n in names if n}
    for (n, a), d in zip(arrays.items(), [d for d in sub.inputs if d is not None]):
        kwargs[n] = {"value": a, "dtype": d["type"], "shape": list(a.shape), "format": d["format"]}
    for (n, o), d in zip(outputs, sub.outputs):
        kwargs[n] = {"dtype": d["type"], "shape": o["run_shape"], "format": d["format"]}
    kwargs.update(sub.attrs)

    def compare_all() -> None:
        expect = _load_golden(sub.calc_expect_func_file, json_path)(**kwargs)
        expect = list(expect) if isinstance(expect, (list, tuple)) else [expect]
        for (name, _), array in zip(outputs, expect):
            path = data_dir / f"{name}_expect.bin"
            np.asarray(array).tofile(path)
            info["expect_data_paths"].append(str(path))
        results = [compare(a, e, err_thr) for a, e in zip(actual, expect)]
        entry["response"] = "; ".join(r["message"] for r in results)
        entry["compare"] = results
        if len(expect) != len(actual) or not all(r["passed"] for r in results):
            raise AssertionError(entry["response"] or "output count differs from the golden's")

    stages.run("compare_data", compare_all)


def offered_dtypes(soc: str) -> set[str]:
    """The dtypes the SoC's op info lists for the op (``op_info_cfg``), as FE checks them."""
    from bce_grad.host_backend.soc_table import short_soc_version
    from bce_grad.tools.deploy.op_info import soc_dir_for_short_soc, supported_dtypes

    return set(supported_dtypes(soc_dir_for_short_soc(short_soc_version(soc)), "x"))


def runs_on(sub: SubCase, offered: set[str]) -> bool:
    """Whether a sub-case applies to the SoC: an expected success needs offered dtypes only.

    A sub-case whose dtype the SoC's op info does not list would be refused by FE before
    any kernel runs, so it is left out (and counted), as one case file per SoC would.
    """
    from bce_grad.tools.deploy.op_info import INI_DTYPES

    dtypes = {INI_DTYPES.get(d["type"], d["type"]) for d in sub.inputs + sub.outputs if d is not None}
    return sub.expect == "failed" or dtypes <= offered


def make_run_dir(out_dir: str | Path) -> Path:
    """msopst's run folder: ``<out>/<YYYYmmddHHMMSS>`` (a suffix keeps two runs apart)."""
    base = Path(out_dir) / time.strftime("%Y%m%d%H%M%S", time.localtime())
    run_dir, index = base, 0
    while run_dir.exists():
        index += 1
        run_dir = base.with_name(f"{base.name}_{index}")
    run_dir.mkdir(parents=True)
    return run_dir


def summarise(report_list: list[dict]) -> dict:
    """msopst's summary: a case succeeds when its status equals its expect."""
    success = sum(1 for e in report_list if e["status"] == e["expect"])
    return {"test case count": len(report_list), "success count": success,
            "failed count": len(report_list) - success}


def run_st(case_json: str | Path, soc: str, out_dir: str | Path, err_thr: tuple[float, float],
           case_names: Sequence[str] | None = None, run_cmd: str = "") -> dict:
    """Run every (selected) case of ``case_json`` on ``soc``; write and return st_report.json.

    The report goes to ``<out_dir>/<timestamp>/st_report.json`` in msopst's layout
    (``run_cmd``, ``report_list``, ``summary``); host extras sit beside msopst's keys.
    """
    json_path = Path(case_json)
    cases = load_case_file(json_path)
    wanted = [n for n in (case_names or []) if n and n != "all"]
    unknown = set(wanted) - {c["case_name"] for c in cases}
    if unknown:
        raise ValueError(f"the option [-c] names cases {sorted(unknown)} that [{json_path}] lacks")
    subs = [sub for case in cases if not wanted or case["case_name"] in wanted
            for sub in expand_case(case, json_path)]
    run_dir = make_run_dir(out_dir)
    offered = offered_dtypes(soc)
    skipped = [sub.case_name for sub in subs if not runs_on(sub, offered)]
    report_list = [run_sub_case(sub, soc, json_path, run_dir, err_thr)
                   for sub in subs if runs_on(sub, offered)]
    report = {"run_cmd": run_cmd, "report_list": report_list,
              "summary": {**summarise(report_list), "not offered on soc": len(skipped)},
              "run_mode": "host", "soc_version": soc, "err_thr": list(err_thr),
              "run_dir": str(run_dir), "not_offered_on_soc": skipped}
    (run_dir / "st_report.json").write_text(json.dumps(report, indent=4, default=str) + "\n")
    return report
