"""The proto header, the op info and the impl entry points describe the same operator.

The impl is read with ``ast`` (not imported), so this check needs neither TVM nor CANN.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from bce_grad.tools.deploy.op_info import (
    OP_TYPE, REDUCTIONS, SOC_DIRS, io_params, load_op_info, supported_dtypes,
)

#: The repository checkout these tests run in.
PROJECT_ROOT = Path(__file__).resolve().parents[2]
HEADER = PROJECT_ROOT / "op_proto" / "inc" / "binary_cross_entropy_grad.h"
SOURCE = PROJECT_ROOT / "op_proto" / "binary_cross_entropy_grad.cc"
IMPL_FILES = [PROJECT_ROOT / "impl" / "binary_cross_entropy_grad.py",
              PROJECT_ROOT / "impl" / "dynamic" / "binary_cross_entropy_grad.py"]
_DT = {"DT_FLOAT": "float32", "DT_FLOAT16": "float16", "DT_BF16": "bfloat16"}
_PARA_CHECK = {("input", "required"): "REQUIRED_INPUT", ("input", "optional"): "OPTION_INPUT",
               ("output", "required"): "REQUIRED_OUTPUT", ("output", "optional"): "OPTION_OUTPUT"}


def _reg_op() -> dict:
    """The IR in the header: op name, ordered (kind, name, dtypes), and attrs."""
    text = HEADER.read_text()
    body = re.search(r"REG_OP\((\w+)\)(.*?)\.OP_END_FACTORY_REG\((\w+)\)", text, re.S)
    assert body, "REG_OP(...) ... .OP_END_FACTORY_REG(...) not found in the header"
    ios = [(kind, name, tuple(_DT[t] for t in re.findall(r"DT_\w+", types)))
           for kind, name, types in re.findall(
               r"\.(INPUT|OPTIONAL_INPUT|OUTPUT)\((\w+),\s*TensorType\(\{([^}]*)\}\)\)", body[2])]
    attrs = re.findall(r'\.ATTR\((\w+),\s*(\w+),\s*"([^"]*)"\)', body[2])
    return {"op": body[1], "end": body[3], "ios": ios, "attrs": attrs}


def _ini_ios(soc: str) -> list[tuple[str, str]]:
    kinds = {("input", "required"): "INPUT", ("input", "optional"): "OPTIONAL_INPUT",
             ("output", "required"): "OUTPUT"}
    return [(kinds[(key1.rstrip("0123456789"), group["paramType"])], name)
            for key1, name, group in io_params(soc)]


def test_header_registers_the_op():
    reg = _reg_op()
    assert reg["op"] == reg["end"] == OP_TYPE


@pytest.mark.parametrize("soc", SOC_DIRS)
def test_header_and_op_info_agree(soc):
    reg = _reg_op()
    assert [(kind, name) for kind, name, _ in reg["ios"]] == _ini_ios(soc)
    for _, name, dtypes in reg["ios"]:
        assert set(supported_dtypes(soc, name)) <= set(dtypes), f"{name} on {soc}"
    info = load_op_info(soc)[OP_TYPE]
    assert [name for name, _, _ in reg["attrs"]] == info["attr"]["list"].split(",")
    for name, ir_type, default in reg["attrs"]:
        assert (ir_type, info[f"attr_{name}"]["type"]) == ("String", "str")
        assert default == info[f"attr_{name}"]["defaultValue"]


def test_header_dtypes_are_the_union_of_the_socs():
    union = {d for soc in SOC_DIRS for d in supported_dtypes(soc)}
    assert {d for _, _, dtypes in _reg_op()["ios"] for d in dtypes} == union


def test_header_doc_does_not_promise_a_scalar_output():
    doc = HEADER.read_text().split("REG_OP")[0].lower()
    assert "scalar" not in doc
    assert "same shape" in doc and "as x" in doc


def test_source_registers_the_infer_function():
    text = SOURCE.read_text()
    assert re.search(r"IMPLEMT_COMMON_INFERFUNC\((\w+)\)", text)[1] == "BinaryCrossEntropyGradInferShape"
    assert f"COMMON_INFER_FUNC_REG({OP_TYPE}, BinaryCrossEntropyGradInferShape)" in text
    assert 'GetInputDescByName("x")' in text and 'UpdateOutputDesc("output"' in text


def _entry(path: Path, name: str) -> ast.FunctionDef:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name]
    assert found, f"{path} defines no top-level {name}()"
    return found[0]


def _module_constant(path: Path, name: str):
    tree = ast.parse(path.read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == name for t in node.targets):
            return ast.literal_eval(node.value)
    pytest.fail(f"{path} has no constant {name}")


@pytest.mark.parametrize("path", IMPL_FILES, ids=lambda p: p.relative_to(PROJECT_ROOT).as_posix())
@pytest.mark.parametrize("soc", SOC_DIRS)
def test_impl_signature_matches_op_info(path, soc):
    if not path.exists():
        pytest.skip(f"{path.relative_to(PROJECT_ROOT)} not written yet")
    info = load_op_info(soc)[OP_TYPE]
    interface = info["opInterface"]["value"]
    assert path.stem == info["opFile"]["value"]
    func = _entry(path, interface)
    args = [a.arg for a in func.args.args]
    attrs = info["attr"]["list"].split(",")
    assert args == [name for _, name, _ in io_params(soc)] + attrs + ["kernel_name"]
    defaults = dict(zip(args[-len(func.args.defaults):], map(ast.literal_eval, func.args.defaults)))
    for attr in attrs:
        if info[f"attr_{attr}"]["paramType"] == "optional":
            assert defaults[attr] == info[f"attr_{attr}"]["defaultValue"]
    assert defaults["kernel_name"] == interface


@pytest.mark.parametrize("path", IMPL_FILES, ids=lambda p: p.relative_to(PROJECT_ROOT).as_posix())
def test_impl_para_check_matches_param_types(path):
    if not path.exists():
        pytest.skip(f"{path.relative_to(PROJECT_ROOT)} not written yet")
    func = _entry(path, "binary_cross_entropy_grad")
    checks = [d for d in func.decorator_list
              if isinstance(d, ast.Call) and ast.unparse(d.func).endswith("check_op_params")]
    assert len(checks) == 1, "expected one @para_check.check_op_params(...)"
    found = [ast.unparse(arg).split(".")[-1] for arg in checks[0].args]
    expected = [_PARA_CHECK[(key1.rstrip("0123456789"), group["paramType"])]
                for key1, _, group in io_params(SOC_DIRS[0])]
    assert found == expected + ["OPTION_ATTR_STR", "KERNEL_NAME"]


def test_impl_constants_match_op_info():
    path = IMPL_FILES[0]
    if not path.exists():
        pytest.skip("impl not written yet")
    assert tuple(_module_constant(path, "REDUCTIONS")) == REDUCTIONS
    union = {d for soc in SOC_DIRS for d in supported_dtypes(soc)}
    assert set(_module_constant(path, "DTYPES")) == union
