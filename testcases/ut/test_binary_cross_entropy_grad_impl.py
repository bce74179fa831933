"""UT of BinaryCrossEntropyGrad, static shapes: op_test_frame cases (``op_ut_run`` or host).

Compile cases cover every dtype, reduction, weight or none and broadcast patterns;
precision cases compare with the project's golden; expected-failure cases name
the exception each bad input raises (CANN's error functions raise RuntimeError).
"""
from op_test_frame.ut import OpUT

from testcases.ut.bce_grad_ut_helpers import (
    ALL_SOCS, BF16_SOCS, NO_BF16_SOCS, STANDARDS, calc_expect_func, io, tensor,
)

ut_case = OpUT("BinaryCrossEntropyGrad", None, None)
SHAPE = [16, 8, 375]
TWO_SOCS = ["Ascend910A", "Ascend910B1"]

# ---- compile: dtype x reduction x weight ---------------------------------------------------
for dtype, socs in (("float16", ALL_SOCS), ("float32", TWO_SOCS), ("bfloat16", BF16_SOCS)):
    for reduction in ("mean", "sum", "none"):
        for weight in (True, False):
            ut_case.add_case(socs, {
                "params": io(dtype, SHAPE, weight=weight) + [reduction],
                "case_name": f"{dtype}_{reduction}_{'weight' if weight else 'no_weight'}",
                "expect": "success"})

# ---- compile: broadcast patterns, rank edges, mixed dtypes ---------------------------------
BROADCASTS = {
    "y_lower_rank": {"y": [8, 375]},
    "grad_output_scalar": {"grad_output": []},
    "grad_output_one": {"grad_output": [1]},
    "weight_middle_axis": {"weight": [1, 8, 1]},
    "all_broadcast": {"y": [16, 1, 375], "grad_output": [1, 8, 1], "weight": [375]},
}
for name, shapes in BROADCASTS.items():
    ut_case.add_case(TWO_SOCS, {"params": io("float16", SHAPE, shapes=shapes) + ["mean"],
                                "case_name": f"broadcast_{name}"})
ut_case.add_case("Ascend910B1", {"params": io("float32", []) + ["mean"], "case_name": "scalar_x"})
ut_case.add_case("Ascend910B1", {"params": io("float32", [2] * 8) + ["sum"], "case_name": "rank_8"})
ut_case.add_case("Ascend910B1", {"params": io("float32", [0, 4]) + ["mean"], "case_name": "empty_x"})
MIXED = io("float16", [4, 33])
MIXED[2] = tensor("grad_output", "float32", [4, 33])
MIXED[4] = tensor("x", "float32", [4, 33])
ut_case.add_case("Ascend910B1", {"params": MIXED + ["mean"], "case_name": "mixed_fp16_fp32"})
ut_case.add_case("Ascend910A", {"params": io("float", [4, 33]) + ["none"],
                                "case_name": "cann_float_spelling"})

# ---- precision -----------------------------------------------------------------------------
PRECISION = [
    ("float16", "mean", True, {}, ALL_SOCS),
    ("float16", "none", False, {"grad_output": []}, TWO_SOCS),
    ("float32", "sum", False, {}, TWO_SOCS),
    ("float32", "mean", True, {"y": [8, 35], "weight": [1, 8, 1]}, TWO_SOCS),
    ("bfloat16", "mean", True, {}, BF16_SOCS),
    ("bfloat16", "none", False, {"grad_output": [1]}, ["Ascend910B1"]),
]
for dtype, reduction, weight, shapes, socs in PRECISION:
    tag = "_".join(shapes) or "same_shape"
    ut_case.add_precision_case(socs, {
        "params": io(dtype, [16, 8, 35], weight=weight, shapes=shapes, precision=True) + [reduction],
        "case_name": f"precision_{dtype}_{reduction}_{'weight' if weight else 'no_weight'}_{tag}",
        "calc_expect_func": calc_expect_func, "precision_standard": STANDARDS[dtype]})

# ---- expected failures: each bad input the operator rejects --------------------------------
BAD = {
    "bad_reduction": (io("float16", SHAPE) + ["average"], ALL_SOCS),
    "bad_dtype_int32": (io("int32", SHAPE) + ["mean"], TWO_SOCS),
    "bf16_without_op_info": (io("bfloat16", SHAPE) + ["mean"], NO_BF16_SOCS),
    "y_not_broadcast": (io("float16", SHAPE, shapes={"y": [16, 8, 376]}) + ["mean"], TWO_SOCS),
    "weight_higher_rank": (io("float16", SHAPE, shapes={"weight": [2, 16, 8, 375]}) + ["sum"],
                           TWO_SOCS),
    "rank_9": (io("float32", [1] * 9) + ["mean"], TWO_SOCS),
    "missing_y": ([io("float16", SHAPE)[0], None] + io("float16", SHAPE)[2:] + ["mean"], TWO_SOCS),
    "output_shape_not_x": (io("float16", SHAPE)[:4] + [tensor("x", "float16", [16, 8])] + ["mean"],
                           TWO_SOCS),
    "dynamic_shape_in_static_entry": (io("float16", [-1, 8, 375]) + ["mean"], TWO_SOCS),
}
for name, (params, socs) in BAD.items():
    ut_case.add_case(socs, {"params": params, "case_name": name, "expect": RuntimeError})


def test_bad_kernel_name(soc):
    """The framework sets kernel_name, so a bad one is checked by calling the entry directly."""
    from impl.binary_cross_entropy_grad import binary_cross_entropy_grad

    try:
        binary_cross_entropy_grad(*io("float16", [4, 4]), "mean", kernel_name="bad-name!")
    except RuntimeError as err:
        assert "kernel_name" in str(err), err
        return
    raise AssertionError(f"kernel_name 'bad-name!' compiled on {soc}; expected RuntimeError")


ut_case.add_cust_test_func(TWO_SOCS, test_func=test_bad_kernel_name)

if __name__ == "__main__":
    ut_case.run(["Ascend910A", "Ascend910B1"])
