"""The host op_test_frame behaves as CANN's where case files can see it (names, helpers, data)."""
from __future__ import annotations

import numpy as np
import pytest

from bce_grad.tools.ut_frame import ensure_op_test_frame
from bce_grad.tools.ut_frame.common.data_generator import gen_data
from bce_grad.tools.ut_frame.common.precision_info import PrecisionStandard, compare_precision
from bce_grad.tools.ut_frame.ut.op_ut import BroadcastOpUT, ElementwiseOpUT, OpUT, ReduceOpUT

ensure_op_test_frame()


def _params(ut: OpUT) -> dict:
    return {name: case.params for name, case in ut._cases.items()}  # noqa: SLF001


def test_auto_and_custom_case_names():
    ut = OpUT("BinaryCrossEntropyGrad")
    ut.add_case("all", {"params": []})
    ut.add_case("all", {"params": [], "case_name": "named"})
    ut.add_case("all", {"params": [], "case_name": "named"})

    def test_my_check(soc):
        del soc

    ut.add_cust_test_func(test_func=test_my_check)
    names = [info["case_name"] for info in ut.get_all_test_case_name()]
    assert names == ["BinaryCrossEntropyGrad_pre_static_test_BinaryCrossEntropyGrad_auto_case_name_1",
                     "BinaryCrossEntropyGrad_pre_static_named",
                     "BinaryCrossEntropyGrad_pre_static_named__1", "test_my_check"]


def test_get_all_test_case_name_returns_dicts_filtered_by_soc():
    ut = OpUT("BinaryCrossEntropyGrad", "impl.dynamic.binary_cross_entropy_grad")
    ut.add_case(["Ascend910A"], {"params": [], "case_name": "a"})
    ut.add_case(None, {"params": [], "case_name": "b"})
    assert ut.get_all_test_case_name("Ascend910B1") == [
        {"op_type": "BinaryCrossEntropyGrad", "case_name": "BinaryCrossEntropyGrad_dynamic_b",
         "case_usage": "compile", "support_soc": ("all",)}]
    assert len(ut.get_all_test_case_name("Ascend910B1,Ascend910A")) == 2
    assert not hasattr(ut, "select")


def test_broadcast_helpers_output_is_the_broadcast_of_the_inputs():
    ut = BroadcastOpUT("Add")
    ut.add_broadcast_case("all", ["float16", [4, 1, 3], "ND"], ["float16", [5, 1], "ND"])
    ut.add_broadcast_case_simple("all", ["float16", "float32"], [2, 1], [3])
    params = list(_params(ut).values())
    assert params[0][2]["shape"] == [4, 5, 3] and params[0][2]["ori_shape"] == [4, 5, 3]
    assert [p[2]["dtype"] for p in params[1:]] == ["float16", "float32"]
    assert params[1][2]["shape"] == [2, 3]


def test_elewise_and_reduce_helpers():
    ut = ElementwiseOpUT("Abs")
    ut.add_elewise_case_simple("all", ("float16", "float32"), [3, 4])
    assert [p[0]["dtype"] for p in _params(ut).values()] == ["float16", "float32"]
    red = ReduceOpUT("ReduceSum")
    red.add_reduce_case("all", ["float32", [2, 3, 4], "ND"], [-1, 0], keep_dim=True)
    red.add_reduce_case_simple("all", "float16", [2, 3, 4], 1)
    first, second = _params(red).values()
    assert first[1]["shape"] == [1, 3, 1] and first[2:] == [[-1, 0], True]
    assert second[1]["shape"] == [2, 4] and second[2:] == [[1], False]
    with pytest.raises(RuntimeError, match="rank"):
        red.add_reduce_case("all", ["float32", [2], "ND"], 3)


def test_precision_standard_json_round_trip_and_cfg_cov_case():
    standard = PrecisionStandard(0.001, 0.002, 0.1)
    back = PrecisionStandard.parse_json_obj(standard.to_json_obj())
    assert back.to_json_obj() == {"precision_type": "percent", "rtol": 0.001, "atol": 0.002,
                                  "max_atol": 0.1}
    assert PrecisionStandard.parse_json_obj(None) is None
    OpUT("X").add_test_cfg_cov_case("cfg")  # accepted, adds nothing
    assert OpUT("X").get_all_test_case_name() == []


def test_gen_data_parameters_per_distribution():
    np.random.seed(0)
    normal = gen_data([20000], 3.0, 0.5, "float32", "normal")  # mean min, std max
    assert abs(normal.mean() - 3.0) < 0.02 and abs(normal.std() - 0.5) < 0.02
    beta = gen_data(data_shape=[20000], min_value=2.0, max_value=2.0, dtype="float32",
                    distribution="beta")
    assert abs(beta.mean() - 0.5) < 0.01
    assert gen_data([4], 0, 1, "bfloat16").dtype.name == "bfloat16"
    with pytest.raises(ValueError, match="distribution"):
        gen_data([2], 0, 1, "float16", "poisson")


def test_precision_compare_counts_both_inf_and_nan_as_errors():
    inf = np.inf
    standard = PrecisionStandard(0.0, 1e-3)
    assert not compare_precision(np.array([inf, 1.0]), np.array([inf, 1.0]), standard).passed
    assert not compare_precision(np.array([np.nan]), np.array([np.nan]), standard).passed
    rare = compare_precision(np.array([inf] + [1.0] * 999), np.array([inf] + [1.0] * 999),
                             PrecisionStandard(0.005, 1e-3))
    assert rare.passed and rare.error_count == 1
