"""The impl entries as CANN calls them: static kernels, and the fp16-only branch."""
from __future__ import annotations

import numpy as np
import pytest

from bce_grad.host_backend.build import kernel_meta_at
from bce_grad.host_backend.launch import Kernel
from bce_grad.host_backend.platform import use_soc
from impl.binary_cross_entropy_grad import binary_cross_entropy_grad as static_entry
from bce_grad.golden import binary_cross_entropy_grad_golden as golden


def _desc(shape, dtype):
    return {"shape": list(shape), "dtype": dtype, "format": "ND"}


def _static_run(soc, x, y, g, w, reduction, tmp_path, name="static_k"):
    dtype = str(x.dtype)
    with use_soc(soc), kernel_meta_at(tmp_path):
        static_entry(_desc(x.shape, dtype), _desc(y.shape, dtype), _desc(g.shape, dtype),
                     None if w is None else _desc(w.shape, dtype), _desc(x.shape, dtype),
                     reduction, name)
    kernel = Kernel(tmp_path / f"{name}.json")
    out = np.empty(x.shape, x.dtype)
    kernel([a for a in (x, y, g, w) if a is not None] + [out])  # the kernel binds the shapes
    assert kernel.meta["cases"][0]["scalars"] == [], "static mean uses a constant, not a scalar"
    return out


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_static_kernel_matches_golden(reduction, tmp_path):
    rng = np.random.default_rng(20)
    x = rng.uniform(0.01, 0.99, (6, 10)).astype(np.float16)
    y = rng.uniform(0, 1, (6, 10)).astype(np.float16)
    g = rng.uniform(0.5, 1.5, (10,)).astype(np.float16)
    w = rng.uniform(0, 2, (6, 1)).astype(np.float16)
    out = _static_run("Ascend910A", x, y, g, w, reduction, tmp_path)
    np.testing.assert_array_equal(out, golden(x=x, y=y, grad_output=g, weight=w, reduction=reduction, compute_dtype="float32", out_dtype="float16",
                                              mean_cof="constant"))  # static: float32(1/numel)


def test_fp16_only_soc_computes_in_fp16(fp16_only_soc, tmp_path):
    """CANN's branch for SoCs without fp32 vector math: every step rounds to fp16 and the eps
    1e-12 underflows to 0, so x == y in {0, 1} gives NaN (0/0) and x in {0, 1}, x != y gives
    +-inf, as PyTorch eager does in fp16."""
    rng = np.random.default_rng(21)
    x = np.concatenate([[0.0, 1.0, 0.0, 1.0], rng.uniform(0.05, 0.95, 60)]).astype(np.float16)
    y = np.concatenate([[0.0, 1.0, 1.0, 0.0], rng.uniform(0, 1, 60)]).astype(np.float16)
    g = np.ones_like(x)
    out = _static_run(fp16_only_soc, x, y, g, None, "sum", tmp_path)
    want = golden(x=x, y=y, grad_output=g, weight=None, reduction="sum", compute_dtype="float16")
    np.testing.assert_array_equal(out, want)
    assert np.isnan(out[:2]).all()
    assert out[2] == -np.inf and out[3] == np.inf
    fp32_path = golden(x=x, y=y, grad_output=g, weight=None, reduction="sum", compute_dtype="float32", out_dtype="float16")
    assert not np.array_equal(out[4:], fp32_path[4:]), "fp16 compute should round differently"


def test_zero_d_x_static(tmp_path):
    x, y, g = (np.array(v, np.float32) for v in (0.25, 1.0, 2.0))
    out = _static_run("Ascend910B1", x, y, g, None, "mean", tmp_path)
    assert out.shape == () and out == pytest.approx(2 * (0.25 - 1) / 0.1875)


@pytest.mark.parametrize("reduction", ["none", "mean"])
def test_static_entry_compiles_2_pow_31_elements(tmp_path, reduction):
    """A static x of 65536 x 32769 (> 2**31) elements compiles: its dims are int64 in TIR."""
    shape = [65536, 32769]
    desc = _desc(shape, "float16")
    with use_soc("Ascend910B1"), kernel_meta_at(tmp_path):
        static_entry(dict(desc), dict(desc), dict(desc), None, dict(desc), reduction, "big_k")
    meta = Kernel(tmp_path / "big_k.json").meta
    assert [t["shape"] for t in meta["cases"][0]["tensors"]][0] == shape


def test_nc1hwc0_tensors_compute_elementwise(tmp_path):
    """NC1HWC0 (5-D) is accepted when every tensor shares it; the op is elementwise on it."""
    rng = np.random.default_rng(22)
    shape = (2, 1, 3, 4, 16)
    x = rng.uniform(0.01, 0.99, shape).astype(np.float16)
    y = rng.uniform(0, 1, shape).astype(np.float16)
    g = rng.uniform(0.5, 1.5, shape).astype(np.float16)
    five_hd = {"format": "NC1HWC0"}
    with use_soc("Ascend910B1"), kernel_meta_at(tmp_path):
        static_entry(*({**_desc(shape, "float16"), **five_hd} for _ in range(3)), None,
                     {**_desc(shape, "float16"), **five_hd}, "mean", "k_5hd")
    out = np.empty(shape, np.float16)
    Kernel(tmp_path / "k_5hd.json")([x, y, g, out])
    np.testing.assert_array_equal(out, golden(x=x, y=y, grad_output=g, weight=None, reduction="mean", compute_dtype="float32", out_dtype="float16",
                                              mean_cof="constant"))


@pytest.mark.parametrize("formats, code", [(("NC1HWC0", "ND"), "E80031"),
                                           (("FRACTAL_NZ", "FRACTAL_NZ"), "E80015")])
def test_formats_must_be_listed_and_shared(tmp_path, formats, code):
    x_fmt, y_fmt = formats
    shape = (2, 1, 3, 4, 16)
    descs = [{**_desc(shape, "float16"), "format": fmt} for fmt in (x_fmt, y_fmt, x_fmt, x_fmt)]
    with use_soc("Ascend910B1"), kernel_meta_at(tmp_path), pytest.raises(RuntimeError, match=code):
        static_entry(descs[0], descs[1], descs[2], None, descs[3], "mean", "k_fmt")
