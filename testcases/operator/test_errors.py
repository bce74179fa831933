"""Every error path: CANN error code, the parameter, the rule and the value."""
from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest

from bce_grad.host_backend.build import kernel_meta_at
from bce_grad.host_backend.errors import OpError
from bce_grad.host_backend.platform import use_soc
from impl.binary_cross_entropy_grad import binary_cross_entropy_grad as static_entry
from impl.dynamic.binary_cross_entropy_grad import binary_cross_entropy_grad as dynamic_entry
from bce_grad.api import binary_cross_entropy_backward as bce_backward

F32 = np.full((2, 3), 0.5, np.float32)
BAD_CALLS = {
    # id: (kwargs for the Python API, error code, text the message must contain)
    "reduction": (dict(reduction="avg"), "E80009", "reduction"),
    "reduction_enum": (dict(reduction=3), "E80009", "reduction"),
    "dtype_int": (dict(y=np.ones((2, 3), np.int32)), "E80008", "y"),
    "dtype_f64": (dict(grad_output=np.ones((2, 3))), "E80008", "grad_output"),
    "bf16_on_910": (dict(x=F32.astype(ml_dtypes.bfloat16), y=F32.astype(ml_dtypes.bfloat16),
                         grad_output=F32.astype(ml_dtypes.bfloat16), soc="Ascend910A"), "E80008",
                    "ascend910"),
    "bf16_on_310p": (dict(weight=F32.astype(ml_dtypes.bfloat16), soc="Ascend310P3"), "E80008",
                     "weight"),
    "soc_310b": (dict(soc="Ascend310B1"), "E80000", "Ascend310B"),
    "soc_unknown": (dict(soc="Ascend123"), "E80000", "Ascend123"),
    "y_not_broadcast": (dict(y=np.ones((2, 4), np.float32)), "E80029", "y"),
    "grad_larger_than_x": (dict(grad_output=np.ones((5, 2, 3), np.float32)), "E80029", "grad_output"),
    "weight_not_broadcast": (dict(weight=np.ones((3, 1), np.float32)), "E80029", "weight"),
    "rank_9": (dict(x=np.full((1,) * 9, 0.5, np.float32)), "E80012", "x"),
    "missing_x": (dict(x=None), "E80001", "x"),
    "out_dtype": (dict(out_dtype="float64"), "E80008", "out_dtype"),
}


@pytest.mark.parametrize("case", BAD_CALLS)
def test_python_api_errors(case):
    overrides, code, text = BAD_CALLS[case]
    kwargs = dict(grad_output=F32, x=F32, y=F32, weight=None, reduction="mean", soc="Ascend910B1")
    kwargs.update(overrides)
    with pytest.raises(OpError) as err:
        bce_backward(**kwargs)
    assert err.value.code == code
    assert text in str(err.value)
    assert str(err.value).startswith(f"[{code}]")


def _desc(shape, dtype="float32"):
    return {"shape": list(shape), "dtype": dtype, "format": "ND"}


IMPL_BAD = {
    "reduction": (dict(reduction="avg"), "E80009", "reduction"),
    "dtype": (dict(y=_desc((2, 3), "int8")), "E80008", "y"),
    "shape": (dict(grad_output=_desc((3, 3))), "E80029", "grad_output"),
    "rank": (dict(x=_desc((1,) * 9)), "E80012", "x"),
    "missing": (dict(y=None), "E80001", "y"),
    "output_shape": (dict(output=_desc((3, 2))), "E80029", "output"),
    "kernel_name": (dict(kernel_name="bad/name"), "E80000", "kernel_name"),
}


@pytest.mark.parametrize("entry", [static_entry, dynamic_entry], ids=["static", "dynamic"])
@pytest.mark.parametrize("case", IMPL_BAD)
def test_impl_entry_errors(entry, case, tmp_path):
    overrides, code, text = IMPL_BAD[case]
    kwargs = dict(x=_desc((2, 3)), y=_desc((2, 3)), grad_output=_desc((2, 3)), weight=None,
                  output=_desc((2, 3)), reduction="mean", kernel_name="k")
    kwargs.update(overrides)
    with use_soc("Ascend910B1"), kernel_meta_at(tmp_path), pytest.raises(RuntimeError) as err:
        entry(**kwargs)
    assert isinstance(err.value, OpError) and err.value.code == code
    assert text in str(err.value)
    assert list(tmp_path.iterdir()) == []


def test_static_entry_refuses_dynamic_dims(tmp_path):
    with kernel_meta_at(tmp_path), pytest.raises(OpError, match="static shape"):
        static_entry(_desc((-1, 3)), _desc((-1, 3)), _desc((-1, 3)), None, _desc((-1, 3)))
