"""The bfloat16 pair layout (``host_backend.schedule.pairs``): the plain chunk's bits, no shuffles.

A full bfloat16 chunk reads and writes 32-bit words and computes the even and the odd
elements of each word as two float32 vectors. Its results must equal, bit for bit, those
of the plain chunk (pair layout off) for every value class (NaN with any payload, inf,
subnormals, signed zeros, rounding ties), on rank-1 and rank-2 kernels with even and odd
rows, with row and column broadcasts and with arrays that start 2 bytes past a 4-byte
boundary; only the sign of a NaN where two NaNs met may differ (both stay 0x7fc0 or
0xffc0), as it may between any two instruction orders. Built for an AVX2 CPU, its vector loop must hold no widening or narrowing
shuffle (``vpmovzxwd``, ``vpackusdw``, ``vpermq``), which the plain chunk needs.
"""
from __future__ import annotations

import re

import ml_dtypes
import numpy as np
import pytest

from bce_grad.host_backend import targets
from bce_grad.host_backend.build import kernel_meta_at
from bce_grad.host_backend.launch import Kernel
from bce_grad.host_backend.schedule import pairs
from testcases.backend.dsl_harness import capture_source
from testcases.backend.test_bfloat16_store import _vector_loop

BF16 = ml_dtypes.bfloat16
#: Shuffles the plain AVX2 chunk widens bfloat16 with, and narrows it back with.
SHUFFLES = ("vpmovzxwd", "vpackusdw", "vpermq")


def _build(tmp_path, name: str, shapes: dict, weight: bool, plain: bool, monkeypatch):
    """The dynamic operator for these input shapes (-1 where x's dim is), with or without pairs."""

    from impl.dynamic.binary_cross_entropy_grad import binary_cross_entropy_grad

    if plain:
        monkeypatch.setattr(pairs, "pair_chunk", lambda *args, **kwargs: None)
    captured = capture_source(monkeypatch, "asm")

    def desc(shape):
        return {"shape": list(shape), "range": [(1, 1) if d == 1 else (2, None) for d in shape],
                "dtype": "bfloat16", "format": "ND"}

    x = desc(shapes["x"])
    with kernel_meta_at(tmp_path / name):
        binary_cross_entropy_grad(x, desc(shapes["y"]), desc(shapes["grad_output"]),
                                  desc(shapes["x"]) if weight else None, dict(x), "none", name)
    monkeypatch.undo()
    return Kernel(tmp_path / name / f"{name}.json"), captured["asm"]


def _special_values(rng, size: int) -> np.ndarray:
    """bfloat16 bits of every class, shuffled among ordinary values of the op's range."""
    specials = np.array([0x7FC0, 0xFFC0, 0x7F81, 0xFFFF, 0x7FFF, 0x7F80, 0xFF80, 0x0000, 0x8000,
                         0x0001, 0x807F, 0x3F80, 0xBF80, 0x7F7F, 0xFF7F, 0x3F00], np.uint16)
    bits = rng.uniform(-1.5, 1.5, size).astype(np.float32).astype(BF16).view(np.uint16)
    picks = rng.random(size) < 0.2
    bits[picks] = rng.choice(specials, int(picks.sum()))
    return bits.view(BF16)


def _offset_copy(array: np.ndarray) -> np.ndarray:
    """``array`` copied to an address 2 bytes past a 4-byte boundary (words straddle it)."""
    raw = np.empty(array.size + 3, BF16)
    shift = 1 if raw.ctypes.data % 4 == 0 else 0
    view = raw[shift:shift + array.size].reshape(array.shape)
    view[...] = array
    assert view.ctypes.data % 4 == 2
    return view


CASES = {
    "flat": {"x": (-1,), "y": (-1,), "grad_output": (-1,)},
    "rows": {"x": (-1, -1), "y": (-1, -1), "grad_output": (-1, -1)},
    "row_bcast": {"x": (-1, -1), "y": (-1, -1), "grad_output": (1, -1)},
    "col_bcast": {"x": (-1, -1), "y": (-1, -1), "grad_output": (-1, 1)},
}
SHAPES = {"flat": [(4099,), (64,), (96,)], "rows": [(5, 70), (7, 33), (300, 66)],
          "row_bcast": [(5, 70), (4, 33)], "col_bcast": [(5, 70), (3, 33)]}


@pytest.mark.parametrize("weight", [False, True])
@pytest.mark.parametrize("case", list(CASES))
def test_pair_layout_matches_the_plain_chunk_bit_for_bit(case, weight, tmp_path, monkeypatch):
    shapes = CASES[case]
    real, used = pairs.pair_chunk, []

    def spy(*args, **kwargs):
        chunk = real(*args, **kwargs)
        used.append(chunk is not None)
        return chunk

    monkeypatch.setattr(pairs, "pair_chunk", spy)
    paired, _ = _build(tmp_path, f"pairs_{case}", shapes, weight, False, monkeypatch)
    assert any(used), "the pair layout was not used: this would compare plain with plain"
    plain, _ = _build(tmp_path, f"plain_{case}", shapes, weight, True, monkeypatch)
    rng = np.random.default_rng(12)
    for shape in SHAPES[case]:
        def sized(pattern):
            return tuple(1 if p == 1 else d for p, d in zip(pattern, shape))

        arrays = [_special_values(rng, int(np.prod(sized(shapes[k])))).reshape(sized(shapes[k]))
                  for k in ("x", "y", "grad_output")]
        if weight:
            arrays.append(_special_values(rng, int(np.prod(shape))).reshape(shape))
        for place in (np.ascontiguousarray, _offset_copy):
            placed = [place(a) for a in arrays]
            got, want = _offset_copy(np.zeros(shape, BF16)), np.zeros(shape, BF16)
            with np.errstate(all="ignore"):
                paired([*placed, got])
                plain([*placed, want])
            got_bits, want_bits = got.view(np.uint16), want.view(np.uint16)
            # Where two NaNs meet (two NaN inputs, or one and the default NaN of 0 * inf), x86
            # passes on its first operand's and LLVM may commute a product: such a NaN's sign
            # is no kernel's to keep. Both stay canonical.
            nans = np.isnan(got.astype(np.float32))
            assert np.array_equal(nans, np.isnan(want.astype(np.float32))), (case, shape)
            bad = np.flatnonzero((got_bits != want_bits) & ~nans)
            assert bad.size == 0, (case, shape, place.__name__, bad[:8])
            assert set(np.unique(got_bits[nans]).tolist()) <= {0x7FC0, 0xFFC0}


@pytest.mark.skipif(not targets.host_triple().startswith("x86_64"), reason="x86 assembly")
def test_avx2_bfloat16_loop_has_no_shuffles(tmp_path, monkeypatch):
    monkeypatch.setenv("BCE_GRAD_MCPU", "haswell")
    shapes = CASES["flat"]
    _, plain_asm = _build(tmp_path, "plain_asm", shapes, True, True, monkeypatch)
    monkeypatch.setenv("BCE_GRAD_MCPU", "haswell")
    _, paired_asm = _build(tmp_path, "pairs_asm", shapes, True, False, monkeypatch)
    plain_loop, paired_loop = _vector_loop(plain_asm), _vector_loop(paired_asm)
    assert plain_loop and paired_loop, "no vectorised loop with vdivps on ymm"
    assert any(s in "\n".join(plain_loop) for s in SHUFFLES), "the plain chunk changed: recheck"
    text = "\n".join(paired_loop)
    assert not [s for s in SHUFFLES if re.search(rf"\b{s}\b", text)], "the pair layout shuffles"
    assert "vpslld" in text and "vpminud" in text
    assert "(%rsp)" not in text, "stack spills in the pair loop"
