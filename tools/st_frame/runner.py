"""Run ST sub-cases on the host and write ``st_report.json`` as msopst does.

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

from bce_grad.tools.st_frame.case_file import SubCase, expand_case, load_case_file
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
    return list(desc["typical_shape"]) if (-1 in shape or -2 in shape) else shape


def _gen(sub: SubCase, desc: dict, index: int) -> np.ndarray:
    if "value" in desc and not isinstance(desc["value"], str):
        return np.asarray(desc["value"]).astype(np_dtype(desc["type"]))
    low, high = desc["value_range"]
    seed = zlib.crc32(f"{sub.case_name}:{index}".encode())
    return gen_data(_run_shape(desc), low, high, desc["type"], desc["data_distribute"], seed)


def run_sub_case(sub: SubCase, soc: str, json_path: Path, out_dir: Path,
                 err_thr: tuple[float, float]) -> dict[str, Any]:
    """Run one sub-case; return its report entry (``status`` success or failed)."""
    stages: list[dict] = []
    entry = {"case_info": {"case_name": sub.case_name, "op": sub.op, "soc": soc},
             "expect": sub.expect, "status": "failed", "response": "",
             "trace_detail": {"st_case_info": sub.source, "stage_result": stages}}

    def stage(name: str, func: Callable) -> Any:
        start = time.perf_counter()
        try:
            value = func()
        except Exception as err:  # noqa: BLE001 - recorded in the report
            stages.append({"stage_name": name, "result": "failed", "err_msg": f"{type(err).__name__}: {err}",
                           "seconds": round(time.perf_counter() - start, 3)})
            raise
        stages.append({"stage_name": name, "result": "success", "err_msg": "",
                       "seconds": round(time.perf_counter() - start, 3)})
        return value

    func = host_kernel.import_op_func(f"impl.dynamic.{snake_name(sub.op)}", snake_name(sub.op))
    kernel_name = "st_" + "".join(c if c.isalnum() else "_" for c in sub.case_name)
    meta = out_dir / "kernel_meta"
    params = [None if d is None else _compile_desc(d) for d in sub.inputs + sub.outputs]
    try:
        stage("compile_op", lambda: host_kernel.compile_op(
            func, params, {**sub.attrs, "kernel_name": kernel_name}, soc, meta))
    except Exception as err:  # noqa: BLE001
        entry["status"] = "success" if sub.expect == "failed" else "failed"
        entry["response"] = str(err)
        return entry
    try:
        _run_and_compare(sub, soc, json_path, out_dir, err_thr, meta / f"{kernel_name}.json", stage,
                         entry)
    except Exception as err:  # noqa: BLE001
        entry["response"] = f"{type(err).__name__}: {err}"
    return entry


def _run_and_compare(sub, soc, json_path, out_dir, err_thr, kernel_json, stage, entry) -> None:
    names = [d.get("name", f"input{i}") if d else None for i, d in enumerate(sub.source["input_desc"])]
    arrays = stage("gen_data", lambda: {n: _gen(sub, d, i) for i, (n, d)
                                        in enumerate(zip(names, sub.inputs)) if d is not None})
    first = next(iter(arrays.values()))
    outputs = [(d.get("name", f"output{i}"), {"dtype": d["type"], "run_shape": list(first.shape)
                                              if -1 in d["shape"] or -2 in d["shape"] else d["shape"]})
               for i, d in enumerate(sub.outputs)]
    actual = stage("run_op", lambda: host_kernel.launch(kernel_json, sub.op, list(arrays.items()),
                                                         outputs, sub.attrs))
    data_dir = out_dir / sub.case_name / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    for name, array in [*arrays.items(), *zip([n for n, _ in outputs], actual)]:
        array.tofile(data_dir / f"{name}.bin")
    if not sub.calc_expect_func_file:
        entry["status"] = "success"
        return
    golden = _load_golden(sub.calc_expect_func_file, json_path)
    kwargs: dict[str, Any] = {n: None for n in names if n}
    for (n, a), d in zip(arrays.items(), [d for d in sub.inputs if d is not None]):
        kwargs[n] = {"value": a, "dtype": d["type"], "shape": list(a.shape), "format": d["format"]}
    for (n, o), d in zip(outputs, sub.outputs):
        kwargs[n] = {"dtype": d["type"], "shape": o["run_shape"], "format": d["format"]}
    kwargs.update(sub.attrs)
    expect = stage("calc_expect", lambda: golden(**kwargs))
    expect = list(expect) if isinstance(expect, (list, tuple)) else [expect]
    results = [compare(a, e, err_thr) for a, e in zip(actual, expect)]
    stages_ok = len(expect) == len(actual) and all(r["passed"] for r in results)
    entry["trace_detail"]["stage_result"].append(
        {"stage_name": "compare_data", "result": "success" if stages_ok else "failed",
         "err_msg": "; ".join(r["message"] for r in results), "compare": results})
    entry["status"] = "success" if stages_ok == (sub.expect != "failed") else "failed"
    entry["response"] = "; ".join(r["message"] for r in results)


def run_st(case_json: str | Path, soc: str, out_dir: str | Path, err_thr: tuple[float, float],
           case_names: Sequence[str] | None = None, run_cmd: str = "") -> dict:
    """Run every (selected) case of ``case_json`` on ``soc``; write and return st_report.json."""
    json_path = Path(case_json)
    cases = load_case_file(json_path)
    wanted = [n for n in (case_names or []) if n and n != "all"]
    unknown = set(wanted) - {c["case_name"] for c in cases}
    if unknown:
        raise ValueError(f"the option [-c] names cases {sorted(unknown)} that [{json_path}] lacks")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    report_list = [run_sub_case(sub, soc, json_path, out, err_thr)
                   for case in cases if not wanted or case["case_name"] in wanted
                   for sub in expand_case(case, json_path)]
    failed = sum(1 for e in report_list if e["status"] != "success")
    report = {"run_cmd": run_cmd, "run_mode": "host", "soc_version": soc, "err_thr": list(err_thr),
              "report_list": report_list,
              "summary": {"test case count": len(report_list),
                          "success count": len(report_list) - failed, "failed count": failed}}
    (out / "st_report.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    return report
