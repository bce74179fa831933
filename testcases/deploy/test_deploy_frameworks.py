"""Framework registration generated from the op info: MindSpore and TensorFlow."""
from __future__ import annotations

import re
import sys
import types

import pytest

from bce_grad.tools.deploy.frameworks import mindspore_registration, tf_op_registration, tf_parser_plugin
from bce_grad.tools.deploy.op_info import OP_TYPE, SOC_DIRS, dtype_columns, io_params, load_op_info


class _Recorder:
    """Stands in for MindSpore's TBERegOp and records every builder call."""

    def __init__(self, op_name: str) -> None:
        self.calls = [("__init__", (op_name,))]

    def __getattr__(self, method: str):
        def record(*args):
            self.calls.append((method, args))
            return self
        return record


def _run_with_fake_mindspore(source: str, monkeypatch) -> tuple[list, list]:
    registered = []
    fake = types.ModuleType("mindspore.ops.op_info_register")
    fake.TBERegOp = _Recorder
    fake.op_info_register = lambda info: (lambda func: registered.append((info, func)) or func)
    for name in ("mindspore", "mindspore.ops"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    monkeypatch.setitem(sys.modules, "mindspore.ops.op_info_register", fake)
    exec(compile(source, "binary_cross_entropy_grad.py", "exec"), {"__name__": "ms_reg"})
    assert len(registered) == 1
    return registered[0][0].calls, registered


def test_mindspore_registration_follows_the_op_info(monkeypatch):
    calls, _ = _run_with_fake_mindspore(mindspore_registration(), monkeypatch)
    by_method = {}
    for method, args in calls:
        by_method.setdefault(method, []).append(args)
    assert by_method["__init__"] == [(OP_TYPE,)]
    assert by_method["kernel_name"] == [("binary_cross_entropy_grad",)]
    ios = [(kind, name, group["paramType"]) for kind, name, group in
           ((k.rstrip("0123456789"), n, g) for k, n, g in io_params(SOC_DIRS[0]))]
    recorded = [(m, args[1], args[3]) for m, args in calls if m in ("input", "output")]
    assert recorded == ios
    reduction = load_op_info(SOC_DIRS[0])[OP_TYPE]["attr_reduction"]
    assert by_method["attr"] == [("reduction", reduction["paramType"], reduction["type"],
                                  reduction["value"], reduction["defaultValue"])]
    columns = {tuple((d, "DefaultFormat" if f == "ND" else f) for d, f in col)
               for soc in SOC_DIRS for col in dtype_columns(soc)}
    assert set(by_method["dtype_format"]) == columns
    assert len(by_method["dtype_format"]) == len(columns)
    assert ("dynamic_shape", (True,)) in calls


def test_mindspore_rows_name_the_socs_that_support_them():
    source = mindspore_registration()
    bf16_rows = [line for line in source.splitlines() if '"bfloat16"' in line]
    assert len(bf16_rows) == 2  # ND and NC1HWC0
    assert all(row.endswith("# only ascend910_93, ascend910b, ascend950") for row in bf16_rows)
    only_910 = mindspore_registration(["ascend910"])
    assert "bfloat16" not in only_910 and "# only" not in only_910


def test_mindspore_registration_builds_with_real_mindspore(tmp_path, monkeypatch):
    pytest.importorskip("mindspore", reason="mindspore is not installed")
    path = tmp_path / "bce_grad_ms_reg.py"
    path.write_text(mindspore_registration())
    monkeypatch.syspath_prepend(str(tmp_path))
    module = __import__("bce_grad_ms_reg")
    assert "BinaryCrossEntropyGrad" in str(module.binary_cross_entropy_grad_op_info)


def test_tf_parser_plugin_maps_the_tf_node():
    source = tf_parser_plugin()
    chain = re.sub(r"\s+", "", source.split("REGISTER_CUSTOM_OP", 1)[1].split(";")[0])
    assert chain == ('("BinaryCrossEntropyGrad").FrameworkType(TENSORFLOW)'
                     '.OriginOpType("BinaryCrossEntropyGrad").ParseParamsFn(AutoMappingFn)'
                     '.ImplyType(ImplyType::TVM)')
    assert '#include "register/register.h"' in source


def test_tf_op_registration_follows_the_op_info():
    source = tf_op_registration()
    names = [name for _, name, _ in io_params(SOC_DIRS[0])]
    assert re.findall(r'\.Input\("(\w+): T"\)', source) == names[:-1]
    assert re.findall(r'\.Output\("(\w+): T"\)', source) == names[-1:]
    assert '.Attr("T: {half, float, bfloat16}")' in source
    assert ".Attr(\"reduction: {'none', 'mean', 'sum'} = 'mean'\")" in source
    assert source.count("REGISTER_KERNEL_BUILDER") == 3
    assert 'REGISTER_OP("BinaryCrossEntropyGrad")' in source
