"""op_info_cfg: golden JSON per SoC, the query API, and each validation rule."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from bce_grad.host_backend.errors import OpError
from bce_grad.tools.deploy import op_info
from bce_grad.tools.deploy.op_info import (
    OP_INFO_DIR, SOC_DIRS, OpInfoError, load_op_info, op_info_json, parse_op_info_files,
    soc_dir_for_short_soc, supported_dtypes,
)

GOLDEN = Path(__file__).resolve().parents[2] / "op_info_cfg" / "compiled"
BF16_SOCS = {"ascend910b", "ascend910_93", "ascend950"}
STATIC_COMPILE_SOCS = {"ascend910b", "ascend910_93", "ascend950"}


def test_soc_dirs_are_listed_from_op_info_cfg():
    listed = sorted(d.name for d in OP_INFO_DIR.iterdir() if d.is_dir())
    assert list(SOC_DIRS) == listed
    assert set(SOC_DIRS) == {"ascend910", "ascend910b", "ascend910_93", "ascend310p", "ascend950"}


@pytest.mark.parametrize("soc", SOC_DIRS)
def test_json_matches_golden(soc):
    golden = (GOLDEN / f"aic-{soc}-ops-info.json").read_text(encoding="utf-8")
    assert op_info_json(load_op_info(soc)) == golden.rstrip("\n")


@pytest.mark.parametrize("soc", SOC_DIRS)
def test_golden_holds_the_documented_entry(soc):
    entry = json.loads((GOLDEN / f"aic-{soc}-ops-info.json").read_text())["BinaryCrossEntropyGrad"]
    names = [entry[f"input{i}"]["name"] for i in range(4)]
    assert names == ["x", "y", "grad_output", "weight"]
    assert [entry[f"input{i}"]["paramType"] for i in range(4)] == ["required"] * 3 + ["optional"]
    assert entry["output0"] == {**entry["output0"], "name": "output", "paramType": "required",
                                "shape": "all", "needCompile": "false"}
    dtypes = "float16,float,bfloat16" if soc in BF16_SOCS else "float16,float"
    count = len(dtypes.split(","))
    assert entry["input0"]["dtype"] == f"{dtypes},{dtypes}"  # once per format, as CANN lists it
    assert entry["input0"]["format"].split(",") == ["ND"] * count + ["NC1HWC0"] * count
    assert entry["attr_reduction"] == {"type": "str", "value": "all", "paramType": "optional",
                                       "defaultValue": "mean"}
    assert entry["dynamicCompileStatic"]["flag"] == str(soc in STATIC_COMPILE_SOCS).lower()
    assert entry["dynamicShapeSupport"]["flag"] == entry["dynamicRankSupport"]["flag"] == "true"
    assert entry["precision_reduce"]["flag"] == "false"
    assert entry["opFile"]["value"] == entry["opInterface"]["value"] == "binary_cross_entropy_grad"


@pytest.mark.parametrize("soc", SOC_DIRS)
def test_supported_dtypes_map_ini_names_to_numpy(soc):
    expected = ("float16", "float32", "bfloat16") if soc in BF16_SOCS else ("float16", "float32")
    assert supported_dtypes(soc) == expected
    assert supported_dtypes(soc, "output") == expected


def test_supported_dtypes_rejects_unknown_param_and_soc():
    with pytest.raises(OpError, match=r"param='z'.*x, y, grad_output, weight, output"):
        supported_dtypes("ascend910", "z")
    with pytest.raises(OpError, match=r"soc_dir='ascend310'.*expected one of ascend310p"):
        load_op_info("ascend310")


@pytest.mark.parametrize("short, soc_dir", [("Ascend910B", "ascend910b"),
                                            ("Ascend910_93", "ascend910_93"),
                                            ("Ascend310P", "ascend310p")])
def test_soc_dir_for_short_soc(short, soc_dir):
    assert soc_dir_for_short_soc(short) == soc_dir


def test_op_info_dir_is_found_through_the_import_system():
    import bce_grad.op_info_cfg

    assert op_info.OP_INFO_DIR == Path(bce_grad.op_info_cfg.__file__).parent / "ai_core"


GOOD = """[BinaryCrossEntropyGrad]
input0.name=x
input0.paramType=required
input0.dtype=float16,float
input0.format=ND,ND
output0.name=output
output0.paramType=required
output0.dtype=float16,float
output0.format=ND,ND
attr.list=reduction
attr_reduction.type=str
attr_reduction.paramType=optional
attr_reduction.defaultValue=mean
"""


def _with(lines: dict[int, str | None], extra: str = "") -> str:
    """GOOD with 1-based line numbers replaced (None deletes the line), plus ``extra``."""
    out = GOOD.splitlines()
    for number, text in sorted(lines.items(), reverse=True):
        if text is None:
            del out[number - 1]
        else:
            out[number - 1] = text
    return "\n".join(out) + "\n" + extra


def test_good_ini_parses_verbatim(tmp_path):
    path = tmp_path / "op.ini"
    path.write_text(_with({2: "input0.name=x=y"}))
    info = parse_op_info_files([path])["BinaryCrossEntropyGrad"]
    assert info["input0"]["name"] == "x=y"  # split at the first '=' only
    assert info["attr_reduction"]["defaultValue"] == "mean"


BAD_CASES = [
    ("no '='", _with({3: "input0.paramType"}), 3),
    ("no '='", _with({}, "# a comment\n"), 14),
    ("bad key", _with({2: "input0name=x"}), 2),
    ("bad key", _with({2: "input0.name.x=x"}), 2),
    ("bad key", _with({2: "input0.name =x"}), 2),
    ("duplicate key", _with({}, "input0.dtype=float16,float\n"), 14),
    ("missing name", _with({2: None}), 2),
    ("missing paramType", _with({7: None}), 6),
    ("unknown paramType", _with({3: "input0.paramType=mandatory"}), 3),
    ("list length mismatch", _with({5: "input0.format=ND"}), 4),
    ("list length mismatch", _with({8: "output0.dtype=float16"}), 8),
    ("unknown dtype", _with({4: "input0.dtype=float16,fp32"}), 4),
    ("unknown format", _with({5: "input0.format=ND,NCHW5"}), 5),
    ("attr without description", _with({10: "attr.list=reduction,eps"}), 10),
    ("attr not listed", _with({10: "attr.list="}), 11),
    ("outside a section", "input0.name=x\n" + GOOD, 1),
    ("duplicate op", GOOD + "[BinaryCrossEntropyGrad]\n", 14),
]


@pytest.mark.parametrize("rule, text, line", BAD_CASES, ids=[f"{c[0]}@{c[2]}" for c in BAD_CASES])
def test_validation_error_names_file_line_and_rule(tmp_path, rule, text, line):
    path = tmp_path / "bad_op.ini"
    path.write_text(text)
    with pytest.raises(OpInfoError) as info:
        parse_op_info_files([path])
    message = str(info.value)
    assert f"bad_op.ini:{line}: {rule}:" in message
    assert message.startswith("[E80000] ")
    assert (info.value.line, info.value.rule) == (line, rule)


def test_duplicate_key_names_the_first_occurrence(tmp_path):
    path = tmp_path / "dup.ini"
    path.write_text(_with({}, "input0.name=z\n"))
    with pytest.raises(OpInfoError, match=r"dup.ini:14: duplicate key: .*first at .*dup.ini:2"):
        parse_op_info_files([path])


def test_unknown_dtype_lists_the_valid_names(tmp_path):
    path = tmp_path / "dt.ini"
    path.write_text(_with({4: "input0.dtype=float16,fp32"}))
    with pytest.raises(OpInfoError, match=r"'fp32'; expected one of float16, float, float32"):
        parse_op_info_files([path])


def test_op_defined_in_two_files_is_an_error(tmp_path):
    first, second = tmp_path / "a.ini", tmp_path / "b.ini"
    first.write_text(GOOD)
    second.write_text(GOOD)
    with pytest.raises(OpInfoError, match=r"b.ini:1: duplicate op: .*a.ini:1"):
        parse_op_info_files([first, second])
