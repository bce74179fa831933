"""``bce_grad.op_support``: the one table, and the compiled op info the call path reads."""
from __future__ import annotations

import re

import subprocess
import sys

import numpy as np
import pytest

from bce_grad import op_support
from bce_grad.tools.deploy import op_info


def test_compiled_socs_are_the_ini_socs():
    assert op_support.SOC_DIRS == op_info.SOC_DIRS
    assert "ascend310b" not in op_support.SOC_DIRS  # not offered (op info decides)


@pytest.mark.parametrize("soc", op_info.SOC_DIRS)
@pytest.mark.parametrize("param", ["x", "y", "grad_output", "weight", "output"])
def test_compiled_dtypes_equal_the_ini_dtypes(soc, param):
    assert op_support.supported_dtypes(soc, param) == op_info.supported_dtypes(soc, param)
    assert set(op_support.supported_dtypes(soc, param)) <= set(op_support.DTYPES)


def test_unknown_param_is_refused_by_name():
    with pytest.raises(ValueError, match=r"param='z'.*expected one of x, y"):
        op_support.supported_dtypes("ascend910b", "z")


@pytest.mark.parametrize("value, name", [(0, "none"), (1, "mean"), (2, "sum"), ("sum", "sum"),
                                         (np.int64(2), "sum")])
def test_normalize_reduction(value, name):
    assert op_support.normalize_reduction(value) == name


@pytest.mark.parametrize("value", [3, -1, "avg", "Mean"])
def test_normalize_reduction_refuses_a_value_naming_every_valid_one(value):
    with pytest.raises(ValueError, match=re.escape(
            f"[E80009] In op[binary_cross_entropy_grad], the parameter[reduction] should be one of "
            f"['none', 'mean', 'sum'] or aclnn's enum [0, 1, 2], but actually is [{value!r}]")):
        op_support.normalize_reduction(value)


@pytest.mark.parametrize("value", [True, 1.0, None])
def test_normalize_reduction_refuses_a_type(value):
    with pytest.raises(TypeError, match=r"E80009.*should be a str or an int, but actually is of "
                                        rf"type \[{type(value).__name__}\]"):
        op_support.normalize_reduction(value)


def test_a_call_reads_no_ini_and_imports_no_deploy_tooling():
    code = (
        "import sys, numpy as np, bce_grad\n"
        "a = np.full((4, 4), 0.5, np.float32)\n"
        "bce_grad.binary_cross_entropy_backward(a, a, a * 0.5, soc='Ascend910B1')\n"
        "bad = sorted(m for m in sys.modules if m.startswith('bce_grad.tools.deploy')\n"
        "             or m == 'configparser')\n"
        "print('IMPORTED', bad)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "IMPORTED []" in done.stdout, done.stdout


def test_the_operators_own_copy_equals_the_table():
    """impl/ ships alone on CANN, so it keeps its own constants; they must be the table's."""
    from impl import binary_cross_entropy_grad as op

    assert set(op.DTYPES) == set(op_support.DTYPES)
    assert op.REDUCTIONS == op_support.REDUCTIONS
    assert op.MAX_RANK == op_support.MAX_RANK
    assert op.OP_TYPE == op_support.OP_TYPE


def test_the_operators_broadcast_refusal_is_the_shared_message():
    """impl/ words its E80029 itself (it ships alone); the words are op_messages.BROADCAST's."""
    from bce_grad.host_backend.errors import OpError
    from bce_grad.op_messages import BROADCAST
    from impl.binary_cross_entropy_grad import check_binary_cross_entropy_grad

    def desc(shape):
        return {"shape": list(shape), "dtype": "float32", "format": "ND"}

    with pytest.raises(OpError) as caught:
        check_binary_cross_entropy_grad(desc((6, 5)), desc((6, 3)), desc((6, 5)), None,
                                        desc((6, 5)), "mean", op_support.OP_NAME)
    assert str(caught.value) == (f"[{BROADCAST.code}] In op[{op_support.OP_NAME}], "
                                 + BROADCAST.text(param="y", shape=[6, 3], x_shape=[6, 5]))
