"""``bce-grad opinfo`` and ``bce-grad atc-json`` through ``bce_grad.tools.cli.main``."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

import bce_grad.tools.cli
from bce_grad.tools.deploy.op_info import SOC_DIRS

GOLDEN = Path(__file__).resolve().parents[2] / "op_info_cfg" / "compiled"


def test_cli_lists_deploy_commands(deploy_commands):
    assert set(deploy_commands) <= set(bce_grad.tools.cli.COMMAND_MODULES)


def test_opinfo_writes_golden_json_for_every_soc(cli, tmp_path, capsys):
    assert cli("opinfo", "--out", str(tmp_path)) == 0
    written = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.json"))
    assert written == sorted(f"{soc}/aic-{soc}-ops-info.json" for soc in SOC_DIRS)
    for soc in SOC_DIRS:
        text = (tmp_path / soc / f"aic-{soc}-ops-info.json").read_text()
        assert text == (GOLDEN / f"aic-{soc}-ops-info.json").read_text()
    assert not list(tmp_path.rglob("*.tmp")), "temporary files must not be left behind"
    assert "aic-ascend950-ops-info.json" in capsys.readouterr().out


def test_opinfo_flat_regenerates_the_shipped_copies_byte_for_byte(cli, tmp_path):
    """What the help tells a developer to run after editing an .ini: ``--flat`` gives exactly
    the layout and bytes of ``op_info_cfg/compiled``."""
    assert cli("opinfo", "--flat", "--out", str(tmp_path)) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in GOLDEN.iterdir())
    for path in GOLDEN.iterdir():
        assert (tmp_path / path.name).read_bytes() == path.read_bytes(), path.name


def test_opinfo_one_soc(cli, tmp_path):
    assert cli("opinfo", "--out", str(tmp_path), "--soc", "ascend310p") == 0
    assert [p.name for p in tmp_path.rglob("*.json")] == ["aic-ascend310p-ops-info.json"]


def test_opinfo_help_documents_the_default(cli, capsys):
    assert cli("opinfo", "--help") == 0
    assert "build/op_info" in capsys.readouterr().out


def _atc(cli, capsys, *argv: str) -> tuple[int, object, str]:
    code = cli("atc-json", *argv)
    captured = capsys.readouterr()
    parsed = json.loads(captured.out) if code == 0 and captured.out.startswith("[") else None
    return code, parsed, captured.err


def test_atc_json_describes_one_call(cli, capsys):
    code, ops, _ = _atc(cli, capsys, "--shape", "8,16", "--dtype", "bfloat16", "--reduction", "sum")
    assert code == 0
    assert len(ops) == 1
    op = ops[0]
    assert op["op"] == "BinaryCrossEntropyGrad"
    assert len(op["input_desc"]) == 4
    assert all(d == {"format": "ND", "shape": [8, 16], "type": "bfloat16"}
               for d in op["input_desc"] + op["output_desc"])
    assert op["attr"] == [{"name": "reduction", "type": "string", "value": "sum"}]


def test_atc_json_without_weight_and_to_file(cli, tmp_path, capsys):
    out = tmp_path / "op.json"
    code = cli("atc-json", "--shape", "3", "--dtype", "float32", "--no-weight",
               "--soc", "Ascend910A", "--out", str(out))
    assert code == 0
    op = json.loads(out.read_text())[0]
    assert [d["type"] for d in op["input_desc"]] == ["float"] * 3
    assert op["attr"][0]["value"] == "mean"
    assert str(out) in capsys.readouterr().out


@pytest.mark.parametrize("argv, pattern", [
    (["--dtype", "bfloat16", "--soc", "Ascend910A"], "ascend910 does not list"),
    (["--dtype", "bfloat16", "--soc", "Ascend310P3"], "allowed: float16, float32"),
    (["--dtype", "int8"], "parameter[dtype] is 'int8'"),
    (["--dtype", "float16", "--soc", "Ascend310B1"], "op info dir 'ascend310b' does not exist"),
    (["--dtype", "float16", "--soc", "NoSuchSoc"], "parameter[soc_version]"),
])
def test_atc_json_rejects_what_the_op_info_forbids(cli, capsys, argv, pattern):
    code, _, err = _atc(cli, capsys, "--shape", "4", *argv)
    assert code == 2
    assert err.strip().splitlines()[-1].startswith("error: [E800")  # after argparse's usage line
    assert pattern in err


@pytest.mark.parametrize("argv, pattern", [
    (["--shape", "2,-1", "--dtype", "float16"], "argument --shape"),
    (["--shape", "2", "--dtype", "float16", "--reduction", "avg"], "invalid choice: 'avg'"),
])
def test_atc_json_usage_errors(cli, capsys, argv, pattern):
    code, _, err = _atc(cli, capsys, *argv)
    assert code == 2
    assert pattern in err
