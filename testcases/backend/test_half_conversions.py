"""float16 <-> float32 casts are exact and vectorised on every x86 target, F16C or not.

Without F16C (``x86-64``, ``x86-64-v2``) LLVM would convert with one library call per
element; the DSL converts with integer vector ops instead (``ops._half_to_float`` /
``ops._float_to_half``). Every float16 bit pattern, and float32 values around every
float16 rounding boundary, must give the bits that F16C (``haswell``) gives, and the
non-NaN ones numpy's bits.
"""
from __future__ import annotations

import re

import numpy as np
import pytest

from bce_grad.host_backend import dsl as tbe
from bce_grad.host_backend import targets

from testcases.backend.dsl_harness import build_and_run

CPUS = ["x86-64", "x86-64-v2"]
pytestmark = pytest.mark.skipif(not targets.host_triple().startswith("x86_64"), reason="x86 CPUs")


def _all_halves() -> np.ndarray:
    return np.arange(1 << 16, dtype=np.uint32).astype(np.uint16).view(np.float16)


def _floats_around_halves() -> np.ndarray:
    """float32 values at, just off and halfway between float16 values, plus specials."""
    halves = _all_halves()[:0x7C01].astype(np.float32).view(np.uint32).astype(np.int64)
    mids = halves + (1 << 12)  # halfway to the next float16 for normals
    bits = np.concatenate([halves, halves - 1, halves + 1, mids, mids - 1, mids + 1,
                           np.arange(0, 1 << 14), 0x33000000 + np.arange(-8, 9),
                           0x477FE000 + np.arange(-4, 0x2000 + 4),
                           [0x7F800000, 0x7F800001, 0x7FC00000, 0x7FFFFFFF, 0x7FA00000,
                            0x7F7FFFFF, 0x00800000, 0x00000001]])
    bits = np.unique(np.clip(bits, 0, 0x7FFFFFFF)).astype(np.uint32)
    rng = np.random.default_rng(5)
    bits = np.concatenate([bits, rng.integers(0, 1 << 31, 200_000, dtype=np.uint32)])
    both = np.concatenate([bits, bits | np.uint32(0x80000000)])
    return both.view(np.float32)


def _cast(values: np.ndarray, dtype: str, cpu: str, tmp_path, monkeypatch) -> tuple[np.ndarray, str]:
    import tvm

    captured = {}
    compile_ = tvm.compile

    def spy(*args, **kwargs):
        executable = compile_(*args, **kwargs)
        captured["ll"] = executable.mod.inspect_source("ll")
        return executable

    monkeypatch.setenv("BCE_GRAD_MCPU", cpu)
    monkeypatch.setattr(tvm, "compile", spy)
    try:
        out, _ = build_and_run(lambda a: tbe.cast_to(a, dtype), [values], [str(values.dtype)],
                               [values.shape], values.shape, np.dtype(dtype),
                               tmp_path / f"{cpu}_{dtype}")
    finally:
        monkeypatch.setattr(tvm, "compile", compile_)
    return out, captured["ll"]


@pytest.mark.parametrize("cpu", CPUS)
def test_half_to_float_is_exact_and_vectorised(cpu, tmp_path, monkeypatch):
    halves = _all_halves()
    got, llvm_ir = _cast(halves, "float32", cpu, tmp_path, monkeypatch)
    ref, _ = _cast(halves, "float32", "haswell", tmp_path / "ref", monkeypatch)
    assert np.array_equal(got.view(np.uint32), ref.view(np.uint32))
    finite = ~np.isnan(halves)
    assert np.array_equal(got[finite].view(np.uint32), halves[finite].astype(np.float32).view(np.uint32))
    assert not re.search(r"call .*@(__extendhfsf2|__gnu_h2f_ieee)|fpext .*half", llvm_ir)
    assert re.search(r"<\d+ x (i32|float)>", llvm_ir)


@pytest.mark.parametrize("cpu", CPUS)
def test_float_to_half_is_exact_and_vectorised(cpu, tmp_path, monkeypatch):
    floats = _floats_around_halves()
    got, llvm_ir = _cast(floats, "float16", cpu, tmp_path, monkeypatch)
    ref, _ = _cast(floats, "float16", "haswell", tmp_path / "ref", monkeypatch)
    assert np.array_equal(got.view(np.uint16), ref.view(np.uint16))
    finite = ~np.isnan(floats)
    with np.errstate(over="ignore"):
        want = floats[finite].astype(np.float16)
    assert np.array_equal(got[finite].view(np.uint16), want.view(np.uint16))
    assert not re.search(r"call .*@(__truncsfhf2|__gnu_f2h_ieee)|fptrunc .* to .*half", llvm_ir)
    assert re.search(r"<\d+ x i32>", llvm_ir)


@pytest.mark.parametrize("cpu", ["x86-64-v3", "haswell"])
def test_f16c_targets_convert_in_hardware(cpu, tmp_path, monkeypatch):
    got, llvm_ir = _cast(_all_halves(), "float32", cpu, tmp_path, monkeypatch)
    assert re.search(r"fpext <\d+ x half>|vcvtph2ps", llvm_ir)


def test_soft_half_follows_the_target_features(monkeypatch):
    from bce_grad.host_backend.dsl import ops

    monkeypatch.setenv("BCE_GRAD_MCPU", "x86-64")
    assert ops._soft_half()
    monkeypatch.setenv("BCE_GRAD_MCPU", "haswell")
    assert not ops._soft_half()
