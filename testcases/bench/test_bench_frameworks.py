"""``bce-grad bench --frameworks``: its records' schema and its guards (not a timing test)."""
from __future__ import annotations

import json
import tempfile

import pytest

from bce_grad.tools.bench import frameworks as fw
from bce_grad.tools.cli import main


def test_records_of_an_installed_framework_are_measured(tmp_path, capsys, monkeypatch):
    pytest.importorskip("torch", reason="PyTorch is not installed")
    tmp = tmp_path / "tmp"  # the temporary folder of this process and its children
    tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    out = tmp_path / "fw.json"
    assert main(["bench", "--frameworks", "torch", "--shape", "4,4", "--dtype", "float32",
                 "--repeats", "2", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["machine"]["cores"] >= 1
    [record] = data["records"]
    assert record["framework"] == "torch" and record["shape"] == [4, 4]
    assert record["dtype"] == "float32" and record["reduction"] == "none"
    assert record["ours_ms"] > 0 and record["builtin_ms"] > 0
    assert record["builtin_over_ours"] == pytest.approx(record["builtin_ms"] / record["ours_ms"])
    assert "built-in/ours" in capsys.readouterr().out
    assert list(tmp.iterdir()) == []  # the child's kernel package is gone (it stayed before)


def test_a_framework_not_installed_is_skipped_with_the_reason(monkeypatch):
    monkeypatch.setattr(fw, "installed", lambda name: False)
    [record] = fw.run_all(["tensorflow"], [(4, 4)], ["float32"], 1, log=lambda line: None)
    assert record == {"framework": "tensorflow",
                      "skipped": "tensorflow is not installed (pip install 'bce-grad[tensorflow]')"}
    assert "not installed" in fw.table([record])


def test_a_wrong_kernel_is_never_timed():
    np = pytest.importorskip("numpy")
    with pytest.raises(SystemExit, match=r"\[E80000\] this op and the built-in disagree"):
        fw._agree(np.ones(8, np.float32), np.full(8, 1.01, np.float32), "float32")
    fw._agree(np.ones(8, np.float32), np.ones(8, np.float32), "float32")


def test_unknown_framework_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", "--frameworks", "torch,jax"])
    assert exit_info.value.code == 2
    assert "frameworks should be among torch, tensorflow, mindspore" in capsys.readouterr().err
