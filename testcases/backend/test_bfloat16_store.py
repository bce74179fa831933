"""float32 -> bfloat16 rounding is exact at every rounding boundary, and its vector code is lean.

``ops._to_bfloat16`` rounds with integer ops. A plain cast tests for NaN with one float
compare (``ops._is_number``); the result of an add, subtract, multiply or divide, whose NaNs
are all quiet, has them clamped with two integer minimums instead. Both must equal
ml_dtypes' bits for every bfloat16 value approached from below, hit exactly, crossed at the
halfway point (both ties) and left just above, in both signs, and for NaNs with every
payload, signalling ones included (each becomes 0x7fc0 or 0xffc0). The operator's
vectorised bfloat16 loop, built for an AVX2 CPU, must take the minimums (no compare and
blend), no integer division per chunk, no stack traffic, and stay within an instruction
budget.
"""
from __future__ import annotations

import re

import ml_dtypes
import numpy as np
import pytest
from tvm import te

from bce_grad.host_backend import dsl as tbe
from bce_grad.host_backend import targets
from testcases.backend.dsl_harness import build_and_run, capture_source

#: Low halves of a float32 word that sit on and around bfloat16's rounding point.
LOW_HALVES = (0x0000, 0x0001, 0x7FFF, 0x8000, 0x8001, 0xFFFF)
#: Instructions allowed in the AVX2 loop of 32 values, weight and mean (99 with the pair layout,
#: the minimums and the row pieces, haswell; 111 with the compare and blend; 116 before the
#: pairs; 155 before that, with a division per chunk and 14 stack spills).
LOOP_BUDGET = 104


def _boundary_words() -> np.ndarray:
    """Every high half (all 65536, NaN and inf patterns included) with each of :data:`LOW_HALVES`."""
    high = np.arange(1 << 16, dtype=np.uint32) << np.uint32(16)
    words = (high[:, None] | np.array(LOW_HALVES, np.uint32)[None, :]).ravel()
    rng = np.random.default_rng(12)
    nan_payloads = (rng.integers(0x7F800001, 0x80000000, 4096, dtype=np.uint64).astype(np.uint32))
    return np.concatenate([words, nan_payloads, nan_payloads | np.uint32(0x80000000)])


def test_cast_to_bfloat16_matches_ml_dtypes_at_every_boundary(tmp_path):
    words = _boundary_words()
    values = words.view(np.float32)
    out, _ = build_and_run(lambda t: tbe.cast_to(t, "bfloat16"), [values], ["float32"],
                           [(te.var("n", "int64"),)], values.shape, ml_dtypes.bfloat16, tmp_path)
    with np.errstate(invalid="ignore", over="ignore"):
        want = values.astype(ml_dtypes.bfloat16).view(np.uint16)
    got = out.view(np.uint16)
    bad = np.flatnonzero(got != want)
    assert bad.size == 0, [(hex(words[i]), hex(got[i]), hex(want[i])) for i in bad[:8]]
    is_nan = (words & np.uint32(0x7FFFFFFF)) > np.uint32(0x7F800000)
    assert set(np.unique(got[is_nan]).tolist()) == {0x7FC0, 0xFFC0}


def test_arithmetic_result_to_bfloat16_matches_ml_dtypes_at_every_boundary(tmp_path):
    """``x * ones`` (a product of two arrays: LLVM keeps the multiply) is rounded through the
    quiet-NaN minimums; every word, signalling NaNs included, must round as ml_dtypes does."""
    from bce_grad.host_backend.dsl import ops

    words = _boundary_words()
    values, ones = words.view(np.float32), np.ones(words.shape, np.float32)
    n = te.var("n", "int64")

    def product_to_bfloat16(a, b):
        product = tbe.vmul(a, b)
        assert ops._is_arithmetic_result(product)
        return tbe.cast_to(product, "bfloat16")

    out, _ = build_and_run(product_to_bfloat16, [values, ones], ["float32"] * 2, [(n,), (n,)],
                           values.shape, ml_dtypes.bfloat16, tmp_path)
    with np.errstate(invalid="ignore", over="ignore"):
        want = (values * ones).astype(ml_dtypes.bfloat16).view(np.uint16)
    got = out.view(np.uint16)
    bad = np.flatnonzero(got != want)
    assert bad.size == 0, [(hex(words[i]), hex(got[i]), hex(want[i])) for i in bad[:8]]
    is_nan = (words & np.uint32(0x7FFFFFFF)) > np.uint32(0x7F800000)
    assert set(np.unique(got[is_nan]).tolist()) == {0x7FC0, 0xFFC0}


@pytest.mark.parametrize("build, quiet", [
    (lambda x, y: tbe.vmul(x, y), True), (lambda x, y: tbe.vdiv(x, y), True),
    (lambda x, y: tbe.vadds(x, 1.0), True), (lambda x, y: tbe.vmuls(x, 0.5), True),
    (lambda x, y: tbe.vmuls(x, 1.0), False), (lambda x, y: tbe.vmuls(x, -1.0), False),
    (lambda x, y: tbe.vadds(x, 0.0), False), (lambda x, y: tbe.vmaxs(x, 1e-12), False),
    (lambda x, y: x, False)], ids=["mul", "div", "add_1", "mul_half", "mul_1", "mul_minus_1",
                                   "add_0", "max", "placeholder"])
def test_only_kept_arithmetic_takes_the_quiet_rule(build, quiet):
    """An identity or negation (LLVM may drop it and pass a signalling NaN), a max (a select)
    or a plain input keeps the compare-and-blend rule."""
    from bce_grad.host_backend.dsl import ops

    n = te.var("n", "int64")
    x, y = te.placeholder((n,), "float32", "x"), te.placeholder((n,), "float32", "y")
    assert ops._is_arithmetic_result(build(x, y)) is quiet


def _vector_loop(asm: str) -> list[str]:
    """The smallest loop (a backward jump to a label) whose body divides ymm vectors."""
    lines = asm.splitlines()
    labels, loops = {}, []
    for index, line in enumerate(lines):
        label = re.match(r"^(\.LBB\S+):", line)
        if label:
            labels[label.group(1)] = index
        jump = re.match(r"^\s+j\w+\s+(\.LBB\S+)", line)
        if jump and labels.get(jump.group(1), index) < index:
            body = [x.strip() for x in lines[labels[jump.group(1)]:index + 1]
                    if x.startswith("\t") and not x.strip().startswith((".", "#"))]
            if any("vdivps" in x and "ymm" in x for x in body):
                loops.append(body)
    return min(loops, key=len) if loops else []


@pytest.mark.skipif(not targets.host_triple().startswith("x86_64"), reason="x86 assembly")
def test_bfloat16_operator_loop_is_lean_on_avx2(tmp_path, monkeypatch):

    from bce_grad.host_backend.build import kernel_meta_at
    from impl.dynamic.binary_cross_entropy_grad import binary_cross_entropy_grad

    monkeypatch.setenv("BCE_GRAD_MCPU", "haswell")
    captured = capture_source(monkeypatch, "asm")
    desc = {"shape": [-1], "range": [(2, None)], "dtype": "bfloat16", "format": "ND"}
    with kernel_meta_at(tmp_path):
        binary_cross_entropy_grad(desc, desc, desc, desc, dict(desc), "mean", "bf16_loop")
    loop = _vector_loop(captured["asm"])
    assert loop, "no vectorised loop with vdivps on ymm"
    text = "\n".join(loop)
    assert "vpminsd" in text and "vpminud" in text, "the quiet-NaN minimums are gone"
    assert "vcmpordps" not in text and "vblendvps" not in text, "a NaN compare and blend"
    assert not re.search(r"\b(i?div[lq])\b", text), "an integer division per chunk"
    assert "(%rsp)" not in text and "(%rbp)" not in text, "stack spills in the loop"
    assert len(loop) <= LOOP_BUDGET, f"{len(loop)} instructions per 32 values"
