"""An operator in CANN's old ``te.*`` style compiles through the compat layer, bit for bit.

``te_style_bce_grad.py`` (static entry, ``te.lang.cce``, ``fusion_manager``,
``cce_build_code``) is compiled through ``bce_grad.cann_compat``; its kernel runs through
the host stand-in of op_test_frame's runtime, driven as the frame drives it, and matches
the project's one golden bit for bit. The project's own dynamic operator, compiled with
the layer installed, still takes the host branch and is tiled by its host tiling through
``tbe.common.utils.op_tiling.do_op_tiling``.
"""
from __future__ import annotations

import importlib
import json

import numpy as np
import pytest

from bce_grad.golden import binary_cross_entropy_grad_golden
from testcases.cann_compat.frame_driver import run_like_frame

SOC = "Ascend910A"  # float32 vector unit: float16 computes in float32 and rounds once
SHAPE = (4, 5, 6)


def _inputs(dtype: str, weighted: bool, grad_shape: tuple, seed: int = 7) -> dict:
    rng = np.random.default_rng(seed)
    arrays = {"x": rng.uniform(0.01, 0.99, SHAPE), "y": rng.uniform(0, 1, SHAPE),
              "grad_output": rng.uniform(-2, 2, grad_shape)}
    if weighted:
        arrays["weight"] = rng.uniform(0, 3, SHAPE)
    return {name: a.astype(dtype) for name, a in arrays.items()}


def _desc(array: np.ndarray) -> dict:
    return {"shape": list(array.shape), "dtype": str(array.dtype), "format": "ND",
            "ori_shape": list(array.shape), "ori_format": "ND"}


@pytest.mark.parametrize("dtype", ["float32", "float16"])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("weighted", [False, True])
def test_te_style_operator_matches_golden_bit_for_bit(cann_layer, tmp_path, dtype, reduction,
                                                      weighted):
    from bce_grad.host_backend import platform
    from bce_grad.host_backend.build import kernel_meta_at

    module = importlib.import_module("testcases.cann_compat.te_style_bce_grad")
    grad_shape = SHAPE if weighted else (1,)
    arrays = _inputs(dtype, weighted, grad_shape)
    name = f"te_style_{dtype}_{reduction}_{int(weighted)}"
    with platform.use_soc(SOC), kernel_meta_at(tmp_path):
        module.te_style_bce_grad(_desc(arrays["x"]), _desc(arrays["y"]), _desc(arrays["grad_output"]),
                                 _desc(arrays["weight"]) if weighted else None, _desc(arrays["x"]),
                                 reduction, kernel_name=name)
    meta = json.loads((tmp_path / f"{name}.json").read_text())
    assert (tmp_path / f"{name}.o").is_file()
    assert meta["kernelName"] == f"{name}__kernel0" and meta["opParaSize"] == 0
    flat = [a.reshape(-1) for a in arrays.values()]
    (out,), _ = run_like_frame(tmp_path / f"{name}.json", flat, [((arrays["x"].size,), np.dtype(dtype))])
    expected = binary_cross_entropy_grad_golden(
        x=arrays["x"], y=arrays["y"], grad_output=arrays["grad_output"], weight=arrays.get("weight"), reduction=reduction,
        compute_dtype="float32", out_dtype=dtype)
    np.testing.assert_array_equal(out.reshape(SHAPE).view(np.uint8), expected.view(np.uint8))


def test_fusion_manager_registers_the_compute(cann_layer):
    from bce_grad.host_backend.register import COMPUTES

    module = importlib.import_module("testcases.cann_compat.te_style_bce_grad")
    assert COMPUTES["te_style_bce_grad:static"] is module.te_style_bce_grad_compute


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_project_dynamic_operator_is_tiled_by_its_host_tiling(cann_layer, tmp_path, reduction):
    from bce_grad.host_backend import platform
    from bce_grad.host_backend.build import kernel_meta_at
    from bce_grad.host_backend.op_context import OpContext
    from tbe.common.utils import op_tiling

    import impl.util.platform_adapter as adapter
    from impl.dynamic.binary_cross_entropy_grad import binary_cross_entropy_grad

    assert adapter.IS_HOST_BACKEND  # the layer's tbe carries the marker: the host branch
    arrays = _inputs("float32", True, (1, 5, 1))
    descs = [{"shape": [-1] * len(a.shape), "dtype": "float32", "format": "ND"} for a in arrays.values()]
    descs[2]["shape"] = [1, -1, 1]
    with platform.use_soc(SOC), kernel_meta_at(tmp_path), OpContext("dynamic") as context:
        binary_cross_entropy_grad(*descs, {"shape": [-1, -1, -1], "dtype": "float32"}, reduction,
                                  kernel_name="dyn_bce")
        compile_info = context.get_compile_info()
    from bce_grad.cann_compat.kernel_desc import describe

    describe(tmp_path / "dyn_bce.json")  # what op_ut_run's compile stage does after the call
    tiling = op_tiling.do_op_tiling("BinaryCrossEntropyGrad", compile_info,
                                    [{"shape": list(a.shape), "dtype": "float32"} for a in arrays.values()],
                                    [{"shape": list(SHAPE), "dtype": "float32"}],
                                    attrs=[{"name": "reduction", "dtype": "str", "value": reduction}])
    (out,), rts = run_like_frame(tmp_path / "dyn_bce.json", list(arrays.values()),
                                 [(SHAPE, np.dtype("float32"))], tiling)
    assert ("cof" in rts.launches[0]["scalars"]) == (reduction == "mean")
    expected = binary_cross_entropy_grad_golden(**arrays, reduction=reduction,
                                                compute_dtype="float32")
    np.testing.assert_array_equal(out.view(np.uint32), expected.view(np.uint32))
