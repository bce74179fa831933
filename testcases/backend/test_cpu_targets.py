"""CPU targets: cheap host detection, BCE_GRAD_MCPU, features, and vector code per target.

The real operator's kernel is compiled for several LLVM CPUs. Its LLVM IR must hold
vector arithmetic emitted by TVM for every dtype (no scalar chunk left to LLVM's
auto-vectoriser), and where this machine can run the target, its results must equal
the golden bit for bit.
"""
from __future__ import annotations

import re
import subprocess
import sys

import ml_dtypes
import numpy as np
import pytest

from bce_grad.golden import binary_cross_entropy_grad_golden
from bce_grad.host_backend import targets
from bce_grad.host_backend.build import kernel_meta_at
from bce_grad.host_backend.errors import OpError
from bce_grad.host_backend.launch import Kernel

DTYPES = {"float32": np.float32, "float16": np.float16, "bfloat16": ml_dtypes.bfloat16}
CPUS = ["x86-64", "x86-64-v3", "haswell", "znver3", "znver4"]
#: Vector IR that TVM emits for each dtype: the float32 compute, and the conversions.
VECTOR_IR = {
    "float32": [r"fdiv <\d+ x float>"],
    # TVM converts half to float with the vcvtph2ps intrinsic itself on AVX-512 CPUs; without
    # F16C (x86-64, x86-64-v2) the DSL converts with integer vector ops (ops._soft_half).
    "float16": [r"fdiv <\d+ x float>", r"fpext <\d+ x half>|vcvtph2ps|load <\d+ x i16>",
                r"fptrunc <\d+ x float> .* to <\d+ x half>|trunc <\d+ x i32> .* to <\d+ x i16>"],
    "bfloat16": [r"fdiv <\d+ x float>", r"<\d+ x i16>"],
}


def _config(cpu: str) -> dict:
    return {"kind": "llvm", "mtriple": targets.host_triple(), "mcpu": cpu}


def test_target_module_does_not_import_tvm():
    code = ("import sys; from bce_grad.host_backend import targets; "
            "print(targets.target_config('llvm')['mcpu'], 'tvm' in sys.modules, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    cpu, tvm_loaded, torch_loaded = out.stdout.split()
    assert cpu and tvm_loaded == "False" and torch_loaded == "False"


def test_bad_mcpu_is_refused_by_name(monkeypatch):
    monkeypatch.setenv("BCE_GRAD_MCPU", "pentium-banana")
    with pytest.raises(OpError, match=r"BCE_GRAD_MCPU.*pentium-banana") as err:
        targets.target_config("llvm")
    assert err.value.code == "E80000" and err.value.param_name == "BCE_GRAD_MCPU"


def test_mcpu_overrides_the_host(monkeypatch):
    monkeypatch.setenv("BCE_GRAD_MCPU", "haswell")
    assert targets.target_config("llvm")["mcpu"] == "haswell"
    assert {"avx2", "fma", "f16c"} <= set(targets.target_features("llvm"))
    assert not any(f.startswith("avx512") for f in targets.target_features("llvm"))


@pytest.mark.parametrize("cpu, bits", [("x86-64", 128), ("haswell", 256), ("znver4", 512)])
def test_vector_width_follows_the_target(cpu, bits):
    assert targets.vector_bits(_config(cpu)) == bits


def test_runs_here_compares_features_with_the_host():
    assert targets.check_target_runs_here(targets.target_config("llvm"))
    assert targets.check_target_runs_here(_config("x86-64"))
    # x86-64-v4 needs AVX-512 F/BW/CD/DQ/VL and nothing vendor-specific (znver4 also needs AMD's
    # SSE4a, so an Intel CPU with AVX-512 does not run it)
    has_avx512 = {"avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"} <= set(targets.host_features())
    assert targets.check_target_runs_here(_config("x86-64-v4")) == has_avx512
    if not has_avx512:
        assert targets.missing_features(_config("x86-64-v4"))
    assert not targets.check_target_runs_here({**_config("x86-64"), "mtriple": "aarch64-linux-gnu"})


def _build_operator(tmp_path, dtype: str, monkeypatch) -> tuple[Kernel, str, str]:
    """Build the real dynamic operator for x (n, m), y (n, m), grad (1, m); capture its IR."""
    import tvm

    from impl.dynamic.binary_cross_entropy_grad import binary_cross_entropy_grad

    captured = {}
    compile_ = tvm.compile

    def spy(*args, **kwargs):
        executable = compile_(*args, **kwargs)
        captured["ll"] = executable.mod.inspect_source("ll")
        captured["asm"] = executable.mod.inspect_source("asm")
        return executable

    monkeypatch.setattr(tvm, "compile", spy)
    desc = {"shape": [-1, -1], "range": [(1, None), (1, None)], "dtype": dtype, "format": "ND"}
    grad = {**desc, "shape": [1, -1], "range": [(1, 1), (1, None)]}
    with kernel_meta_at(tmp_path):
        binary_cross_entropy_grad(desc, desc, grad, None, dict(desc), "none", "bce_cpu_k")
    return Kernel(tmp_path / "bce_cpu_k.json"), captured["ll"], captured["asm"]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cpu", CPUS)
def test_operator_is_vectorised_and_exact_per_target(cpu, dtype, tmp_path, monkeypatch):
    monkeypatch.setenv("BCE_GRAD_MCPU", cpu)
    kernel, llvm_ir, asm = _build_operator(tmp_path, dtype, monkeypatch)
    for pattern in VECTOR_IR[dtype]:
        assert re.search(pattern, llvm_ir), f"no `{pattern}` in the IR for {cpu}"
    assert ("ymm" in asm) == (targets.vector_bits(_config(cpu)) >= 256)
    assert "vfmadd" not in asm and "fmuladd" not in llvm_ir
    if not targets.check_target_runs_here(_config(cpu)):
        pytest.skip(f"{cpu} needs {targets.missing_features(_config(cpu))}, which this CPU lacks: "
                    "IR checks only")
    rng = np.random.default_rng(7)
    t = DTYPES[dtype]
    for shape in [(3, 5), (37, 70), (300, 3), (2, 1000)]:
        x = rng.uniform(0.02, 0.98, shape).astype(t)
        y = rng.uniform(0.0, 1.0, shape).astype(t)
        g = rng.uniform(-2.0, 2.0, (1, shape[1])).astype(t)
        out = np.empty(shape, t)
        kernel([x, y, g, out])
        want = binary_cross_entropy_grad_golden(x=x, y=y, grad_output=g, weight=None, reduction="none", compute_dtype="float32", out_dtype=dtype)
        assert np.array_equal(out.view(np.uint8), want.view(np.uint8)), f"{cpu} {dtype} {shape}"
