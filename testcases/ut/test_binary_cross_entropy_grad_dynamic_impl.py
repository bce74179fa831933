"""UT of BinaryCrossEntropyGrad, dynamic shapes: -1 dims with ranges and unknown rank [-2].

One kernel serves every shape of its pattern; for "mean" the factor 1/numel(x)
is a runtime scalar, so the precision cases run shapes the kernel was not
compiled for and check the scaling.
"""
from op_test_frame.ut import OpUT

from testcases.ut.bce_grad_ut_helpers import (
    ALL_SOCS, BF16_SOCS, NO_BF16_SOCS, STANDARDS, calc_expect_func, io, tensor,
)

ut_case = OpUT("BinaryCrossEntropyGrad", "impl.dynamic.binary_cross_entropy_grad",
               "binary_cross_entropy_grad")
TWO_SOCS = ["Ascend910A", "Ascend910B1"]


def ranged(dtype, shape, shape_range, weight=True):
    """io() with one range on every tensor (as CANN's case 1: (-1, 8, 375), (15, 16))."""
    params = io(dtype, shape, weight=weight)
    for desc in params:
        if desc is not None:
            desc["range"] = [tuple(r) for r in shape_range]
    return params


# ---- compile: CANN's two cases, then dtype x reduction x weight ----------------------------
ut_case.add_case(ALL_SOCS, {
    "params": ranged("float16", [-1, 8, 375], [(15, 16), (8, 8), (375, 375)]) + ["mean"],
    "case_name": "cann_case_1_minus_one_with_range"})
ut_case.add_case(ALL_SOCS, {"params": io("float32", [-2]) + ["mean"],
                            "case_name": "cann_case_2_unknown_rank"})
for dtype, socs in (("float16", TWO_SOCS), ("float32", TWO_SOCS), ("bfloat16", BF16_SOCS)):
    for reduction, weight in (("mean", False), ("sum", True), ("none", False)):
        ut_case.add_case(socs, {
            "params": io(dtype, [-1, -1], weight=weight) + [reduction],
            "case_name": f"{dtype}_{reduction}_{'weight' if weight else 'no_weight'}"})
ut_case.add_case(BF16_SOCS, {"params": io("bfloat16", [-2], weight=True) + ["sum"],
                             "case_name": "bfloat16_unknown_rank_weight"})

# ---- compile: dynamic broadcast patterns ---------------------------------------------------
BROADCASTS = {
    "y_row": {"y": [1, -1]},
    "grad_output_column_weight_row": {"grad_output": [-1, 1], "weight": [-1]},
    "grad_output_scalar": {"grad_output": [1]},
}
for name, shapes in BROADCASTS.items():
    ut_case.add_case(TWO_SOCS, {"params": io("float16", [-1, -1], shapes=shapes) + ["mean"],
                                "case_name": f"broadcast_{name}"})
ut_case.add_case("Ascend910B1", {"params": io("float32", [-1] * 8) + ["mean"],
                                 "case_name": "rank_8_all_dynamic"})

# ---- precision: shapes bound at run time, mean's runtime scalar ----------------------------
RUN = [16, 8, 35]
PRECISION = [
    ("float16", "mean", True, [-1, 8, 35], {}, ALL_SOCS),
    ("float32", "mean", False, [-2], {}, TWO_SOCS),
    ("float32", "sum", True, [-1, -1, -1], {"y": [1, -1, -1], "grad_output": [1]}, TWO_SOCS),
    ("bfloat16", "mean", True, [-1, -1, 35], {}, BF16_SOCS),
    ("float16", "none", False, [-2], {}, ["Ascend910B1"]),
]
for dtype, reduction, weight, shape, shapes, socs in PRECISION:
    run_shapes = {"x": RUN, "y": RUN, "grad_output": RUN, "weight": RUN}
    for name, shape_in in shapes.items():
        run_shapes[name] = [1 if d == 1 else r for d, r in zip(shape_in, RUN[-len(shape_in):])]
    rank_tag = "unknown_rank" if shape == [-2] else f"rank{len(shape)}"
    ut_case.add_precision_case(socs, {
        "params": io(dtype, shape, weight=weight, shapes=shapes, run_shapes=run_shapes,
                     precision=True) + [reduction],
        "case_name": f"precision_{dtype}_{reduction}_{rank_tag}_{'_'.join(shapes) or 'same'}",
        "calc_expect_func": calc_expect_func, "precision_standard": STANDARDS[dtype]})

# ---- expected failures ---------------------------------------------------------------------
BAD = {
    "bad_reduction": (io("float16", [-1, 8]) + ["batchmean"], ALL_SOCS),
    "bad_dtype_float64": (io("float64", [-1, 8]) + ["mean"], TWO_SOCS),
    "bf16_without_op_info": (io("bfloat16", [-1, 8]) + ["mean"], NO_BF16_SOCS),
    "y_not_broadcast": (io("float16", [-1, 8], shapes={"y": [-1, 9]}) + ["mean"], TWO_SOCS),
    "rank_9": (io("float32", [-1] * 9) + ["mean"], TWO_SOCS),
    "missing_grad_output": (io("float16", [-1, 8])[:2] + [None] + io("float16", [-1, 8])[3:]
                            + ["mean"], TWO_SOCS),
    "output_shape_not_x": (io("float16", [4, 8])[:4] + [tensor("x", "float16", [4, 9])]
                           + ["none"], TWO_SOCS),
}
for name, (params, socs) in BAD.items():
    ut_case.add_case(socs, {"params": params, "case_name": name, "expect": RuntimeError})

if __name__ == "__main__":
    ut_case.run(["Ascend910A"])
