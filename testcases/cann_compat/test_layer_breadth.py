"""What canndev's elementwise operators need of the compat layer (issue 28), without canndev:
te.lang.cce's auto cast, op attributes, phony stages, UB-fusion inputs, the helpers."""
from __future__ import annotations

import numpy as np
import pytest

from testcases.backend.dsl_harness import build_and_run


def test_te_lang_cce_casts_mixed_dtypes_to_float32_and_tbe_dsl_refuses_them(cann_layer, tmp_path):
    """CANN's te.lang.cce.vmul(float16, float32) casts both to float32 (canndev's Erf)."""
    import tbe.dsl
    import te.lang.cce
    from tbe import tvm

    from bce_grad.host_backend.errors import OpError

    a = np.array([1.5, -2.25, 3.0], np.float16)
    b = np.array([0.1, 2.0, -1.0 / 3.0], np.float32)
    out, _ = build_and_run(lambda x, y: te.lang.cce.vmul(x, y), [a, b], ["float16", "float32"],
                           [a.shape] * 2, a.shape, np.float32, tmp_path)
    assert np.array_equal(out, a.astype(np.float32) * b)
    x = tvm.placeholder((3,), dtype="float16", name="x")
    y = tvm.placeholder((3,), dtype="float32", name="y")
    with pytest.raises(OpError, match="E80018"):
        tbe.dsl.vmul(x, y)


def test_te_lang_cce_casts_int8_arithmetic_through_float16(cann_layer, tmp_path):
    import te.lang.cce

    a = np.array([-128, -3, 0, 5, 127], np.int8)
    out, _ = build_and_run(lambda x: te.lang.cce.vadds(x, 2), [a], ["int8"], [a.shape], a.shape,
                           np.float16, tmp_path)
    assert out.tolist() == (a.astype(np.float16) + np.float16(2)).tolist()


def test_te_lang_cce_leaves_dynamic_compiles_alone(cann_layer):
    import te.lang.cce
    from tbe import tvm
    from tbe.common.context.op_context import OpContext

    from bce_grad.host_backend.errors import OpError

    x = tvm.placeholder((3,), dtype="float16", name="x")
    y = tvm.placeholder((3,), dtype="float32", name="y")
    with OpContext("dynamic"), pytest.raises(OpError, match="E80018"):
        te.lang.cce.vmul(x, y)


def test_an_op_attribute_set_by_an_operator_reads_back(cann_layer):
    """canndev's LeakyRelu sets res.op.attrs["negative_slope"]; Apache TVM's maps are fixed."""
    import te.lang.cce
    from tbe import tvm

    x = tvm.placeholder((4,), dtype="float16", name="x")
    res = te.lang.cce.vmuls(x, 2.0)
    other = te.lang.cce.vadds(x, 1.0)
    res.op.attrs["negative_slope"] = 0.25
    assert "negative_slope" in res.op.attrs and "negative_slope" not in other.op.attrs
    assert res.op.attrs["negative_slope"].value == 0.25
    assert res.op.attrs.get("missing", "default") == "default"


def test_op_attributes_are_fixed_again_after_uninstall():
    import bce_grad.cann_compat as cann_compat
    from bce_grad.host_backend import tvm_shim as tvm

    cann_compat.install()
    cann_compat.uninstall()
    from tvm import te

    x = tvm.placeholder((4,), dtype="float32", name="x")
    res = te.compute((4,), lambda i: x[i] * 2)
    with pytest.raises(TypeError):
        res.op.attrs["negative_slope"] = 0.25


def test_a_phony_stage_outputs_its_left_operand(cann_layer, tmp_path):
    """canndev's ZerosLike: with tag_scope("elewise_binary_phony"), zeros + x is zeros."""
    import te.lang.cce
    from te import tvm

    def zeros_like(x):
        zeros = te.lang.cce.broadcast(tvm.const(0, "float32"), x.shape)
        with tvm.tag_scope("elewise_binary_phony"):
            return tvm.compute(x.shape, lambda *i: zeros[i] + x[i], name="phony")

    a = np.array([1.0, -2.0, np.inf], np.float32)
    out, _ = build_and_run(zeros_like, [a], ["float32"], [a.shape], a.shape, np.float32, tmp_path)
    assert out.tolist() == [0.0, 0.0, 0.0]
    with tvm.tag_scope("elewise_single_cast"):
        tagged = tvm.compute((2,), lambda i: tvm.const(1, "float32"), name="c")
    assert tagged.op.tag == "elewise_single_cast"


def test_a_fractal_format_placeholder_is_unsupported(cann_layer):
    from tbe import tvm

    from bce_grad.cann_compat.errors import UnsupportedApiError

    with pytest.raises(UnsupportedApiError, match="FRACTAL_NZ.*UB fusion"):
        tvm.placeholder((2, 16, 16, 16), name="x", dtype="float16",
                        attrs={"format": "FRACTAL_NZ", "ori_shape": (256, 32)})
    assert tvm.placeholder((4,), name="y", dtype="float16", attrs={"format": "ND"}).shape[0] == 4


def test_check_elewise_shape_range_needs_overlapping_ranges_in_a_dynamic_compile():
    from bce_grad.host_backend import para_check
    from bce_grad.host_backend.error_manager_vector import CannRuntimeError
    from bce_grad.host_backend.op_context import OpContext

    apart = [{"shape": [-1, 8], "range": [(1, 4), (8, 8)]},
             {"shape": [-1, 8], "range": [(10, 20), (8, 8)]}]
    para_check.check_elewise_shape_range(apart)  # a static compile checks nothing
    with OpContext("dynamic"):
        with pytest.raises(CannRuntimeError, match="intersection"):
            para_check.check_elewise_shape_range(apart)
        para_check.check_elewise_shape_range([{"shape": [-1], "range": [(1, 4)]},
                                              {"shape": [-1], "range": [(4, None)]}])
        stretch = [{"shape": [1, 8], "range": [(1, 1), (8, 8)]},
                   {"shape": [-1, 8], "range": [(5, 9), (8, 8)]}]
        para_check.check_elewise_shape_range(stretch, support_broadcast=True)
        with pytest.raises(CannRuntimeError):
            para_check.check_elewise_shape_range(stretch)


def test_helpers_canndev_binds_at_import(cann_layer):
    from tbe.common.register import register_param_generalization
    from te.platform.fusion_manager import fusion_manager
    from te.utils import para_check

    from bce_grad.cann_compat.errors import UnsupportedApiError
    from bce_grad.host_backend.register import GENERALIZATIONS

    assert fusion_manager.get_build_cfg() == "disable"
    assert para_check.OPTION_ATTR_BOOL == "option_attr_bool"
    para_check.check_format("nd", ["ND", "NCHW"], "x")
    para_check.check_format("NC1HWC0")  # no list: any format name
    with pytest.raises(RuntimeError, match="E80015"):
        para_check.check_format("FRACTAL_NZ", ["ND"], "x")
    register_param_generalization("SomeOp")(len)
    assert GENERALIZATIONS["SomeOp"] is len
    with pytest.raises(UnsupportedApiError, match="para_check.no_such_helper"):
        para_check.no_such_helper()
    from te.platform import api_check_support

    assert api_check_support("te.lang.cce.sum", "float32")
    assert api_check_support("tbe.dsl.round", "float32")
    assert not api_check_support("tbe.dsl.no_such_op", "float32")


def test_check_op_params_takes_a_tuple_of_kinds():
    """canndev's LeakyReluGrad declares negative_slope (OPTION_ATTR_INT, OPTION_ATTR_FLOAT)."""
    from bce_grad.host_backend import para_check
    from bce_grad.host_backend.error_manager_vector import CannRuntimeError

    @para_check.check_op_params(para_check.REQUIRED_INPUT,
                                (para_check.OPTION_ATTR_INT, para_check.OPTION_ATTR_FLOAT),
                                para_check.KERNEL_NAME)
    def op(x, slope=0, kernel_name="op"):
        return slope

    x = {"shape": [4], "dtype": "float16"}
    assert op(x, 2) == 2 and op(x, 0.5) == 0.5 and op(x, None) is None
    with pytest.raises(CannRuntimeError, match="E80003"):
        op(x, "steep")
