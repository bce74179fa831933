"""``bce-grad op-ut-breadth``: how it counts the frame's report, its usage errors, and (with
``$BCE_GRAD_CANNDEV_DIR``) a real run over canndev operators."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from bce_grad.cann_compat.errors import Unhonoured, UnsupportedApiError
from bce_grad.tools.commands.op_ut_breadth import SAMPLE, format_table, summarize

CANNDEV = os.environ.get("BCE_GRAD_CANNDEV_DIR")


def _case(name: str, status: str, trace: str = "", err_msg: str = "Failed") -> dict:
    return {"case_name": name, "status": status, "err_msg": None if status == "success" else err_msg,
            "trace_detail": {"stage_result": [{"status": status, "err_msg": err_msg,
                                               "err_trace": trace}]}}


CHAINED = """Can't import op module, err_trace: Traceback (most recent call last):
  File "x.py", line 1, in <module>
ImportError: cannot import name 'tensor' from 'tbe.tvm'

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File "y.py", line 2, in <module>
ModuleNotFoundError: No module named 'dynamic'
"""


def test_summarize_counts_passed_failed_and_unsupported():
    report = {"report_list": [
        _case("ok", "success"),
        _case("bad", "failed", "Traceback (most recent call last):\n  File \"a.py\"\n"
              "bce_grad.host_backend.errors.OpError: [E80008] tbe.dsl.cast_to: no"),
        _case("tik", "failed", "Traceback (most recent call last):\n"
              "bce_grad.cann_compat.errors.UnsupportedApiError: tbe.tik is not available"),
        _case("expected", "failed", "", "Call op func failed, exception class not match, "
              "expect: RuntimeError, actual: UnsupportedApiError"),
        _case("chained", "failed", CHAINED),
    ]}
    row = summarize("Op", report)
    assert (row.cases, row.passed, row.failed, row.unsupported) == (5, 1, 2, 2)
    assert row.first_cause == "OpError: [E80008] tbe.dsl.cast_to: no"
    assert "ImportError: cannot import name 'tensor' from 'tbe.tvm'" in row.causes  # the root
    assert not row.all_passed and not row.none_failed
    table = format_table([row, summarize("Clean", {"report_list": [_case("ok", "success")]})])
    assert table.splitlines()[-1].split()[:5] == ["total", "6", "2", "2", "2"]
    assert "1 of 2 pass every case" in table


def test_an_operator_with_no_report_names_why():
    row = summarize("Gone", {"report_list": []}, "Traceback (most recent call last):\n"
                    "SyntaxError: invalid syntax")
    assert (row.cases, row.failed) == (0, 0) and not row.all_passed
    assert row.first_cause == "SyntaxError: invalid syntax"


def test_unsupported_is_no_runtime_error():
    """A case that expects the operator's RuntimeError must not pass on an API the host lacks."""
    assert not issubclass(UnsupportedApiError, RuntimeError)
    with pytest.raises(UnsupportedApiError, match="tbe.tik.Tik"):
        Unhonoured("tbe.tik.Tik", "TIK")()


@pytest.mark.parametrize("argv, env, words", [
    (["op-ut-breadth"], {}, "[E80001] the parameter[--canndev] is missing"),
    (["op-ut-breadth", "--canndev", "/nonexistent"], {}, "should be a canndev checkout"),
])
def test_usage_errors_exit_2(argv, env, words, tmp_path):
    environ = {k: v for k, v in os.environ.items() if k != "BCE_GRAD_CANNDEV_DIR"} | env
    done = subprocess.run([sys.executable, "-m", "bce_grad", *argv], capture_output=True,
                          text=True, env=environ, cwd=tmp_path, check=False)
    assert done.returncode == 2, done.stderr
    assert words in done.stderr


def test_an_unknown_operator_folder_exits_2(tmp_path):
    for sub in ("tools/op_test_frame/python", "ops/built-in/tbe/impl",
                "ops/built-in/tests/ut/ops_test/Add"):
        (tmp_path / sub).mkdir(parents=True)
    done = subprocess.run([sys.executable, "-m", "bce_grad", "op-ut-breadth", "--canndev",
                           str(tmp_path), "--ops", "Add,NoSuchOp"], capture_output=True,
                          text=True, check=False)
    assert done.returncode == 2 and "NoSuchOp" in done.stderr and "Add," not in done.stderr


def test_the_sample_is_issue_28s_fifty():
    assert len(SAMPLE) == len(set(SAMPLE)) == 50


@pytest.mark.skipif(not CANNDEV, reason="set BCE_GRAD_CANNDEV_DIR to a canndev checkout "
                    "(the breadth run needs canndev's op_test_frame, impl tree and cases)")
def test_breadth_over_canndev_operators(tmp_path):
    """Sub and Floor pass every case; Floor needs the DSL's floor (unsupported before)."""
    out = tmp_path / "breadth.json"
    done = subprocess.run([sys.executable, "-m", "bce_grad", "op-ut-breadth", "--ops",
                           "Sub,Floor", "--json", str(out)], capture_output=True, text=True,
                          check=False, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    rows = {row["op"]: row for row in json.loads(out.read_text())["operators"]}
    assert rows["Sub"]["passed"] == rows["Sub"]["cases"] == 7
    assert rows["Floor"]["passed"] == rows["Floor"]["cases"] > 0


TF1_CHILD = r"""
import sys
from bce_grad.cann_compat import tf1_api
tf1_api.install()
assert "tensorflow" not in sys.modules  # nothing happens before a case file imports it
import numpy as np
import tensorflow as tf
# canndev's Rsqrt case file, in the shape it computes its expected values
config = tf.ConfigProto(allow_soft_placement=True, log_device_placement=False)
data = np.array([[4.0, 0.25]], np.float32)
holder = tf.placeholder(data.dtype, data.shape)
with tf.Session(config=config) as session:
    print(session.run(tf.math.rsqrt(holder), feed_dict={holder: data}).tolist())
"""


def test_tf1_api_runs_a_tensorflow_1_case_file_on_tensorflow_2():
    pytest.importorskip("tensorflow", reason="needs TensorFlow (the frameworks or cann extra)")
    done = subprocess.run([sys.executable, "-c", TF1_CHILD], capture_output=True, text=True,
                          check=False, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[[0.5, 2.0]]"
    plain = subprocess.run([sys.executable, "-c", "import tensorflow as tf; tf.ConfigProto"],
                           capture_output=True, text=True, check=False, timeout=300)
    assert plain.returncode != 0 and "ConfigProto" in plain.stderr  # only behind the option


def test_the_documented_table_is_the_breadth_runs_json():
    """docs/cann-tools.md's table is format_table of the committed breadth JSON, row for row."""
    from pathlib import Path

    from bce_grad.tools.commands.op_ut_breadth import OpResult

    repo = Path(__file__).resolve().parents[2]
    data = json.loads((repo / "docs" / "canndev-breadth.json").read_text(encoding="utf-8"))
    rows = [OpResult(**row) for row in data["operators"]]
    assert [row.op for row in rows] == list(SAMPLE)
    assert format_table(rows) in (repo / "docs" / "cann-tools.md").read_text(encoding="utf-8")
