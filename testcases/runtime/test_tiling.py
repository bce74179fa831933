"""The C++ host tiling against the Python reference (canonical_pattern + the operator's cof)."""
from __future__ import annotations

import numpy as np
import pytest

from bce_grad.host_backend.dsl.classify import canonical_pattern
from bce_grad.host_backend.errors import OpError
from impl.dynamic.binary_cross_entropy_grad import binary_cross_entropy_grad_tiling

CASES = 4000


def _python_tiling(shapes, reduction):
    inputs = [{"shape": list(s)} for s in shapes]
    scalars = binary_cross_entropy_grad_tiling(inputs, [], {"reduction": reduction},
                                               {"reduce_mean_cof_dtype": "float32"})
    return [tuple(p) for p in canonical_pattern(shapes)], scalars.get("cof")


def _random_shapes(rng):
    """x, y, grad_output[, weight]: mostly broadcastable to x, sometimes arbitrary."""
    rank = int(rng.integers(0, 9))
    dims = [1, 1, 2, 3, 4, 7] + ([0] if rng.random() < 0.05 else [])
    x = tuple(int(rng.choice(dims)) for _ in range(rank))
    shapes = [x]
    for _ in range(int(rng.integers(2, 4))):
        if rng.random() < 0.1:  # the tiling itself does not require broadcasting
            shapes.append(tuple(int(rng.choice(dims)) for _ in range(int(rng.integers(0, 9)))))
            continue
        keep = int(rng.integers(0, rank + 1))
        tail = x[rank - keep:]
        shapes.append(tuple(1 if rng.random() < 0.4 else d for d in tail))
    return shapes


def _bits(cof):
    return None if cof is None else int(np.float32(cof).view(np.uint32))


def test_tiling_cof_bits_match_python_and_cann_on_random_wide_shapes(runtime_library):
    """Ranks 0-8 with dims up to 4096: the C++ and Python tilings give the same float32 bits,
    those of CANN's 1.0f / d0 / d1 / ... (numpy float32, in order), held exactly in a double."""
    from bce_grad.golden import mean_coefficient
    from bce_grad.runtime import load_library, tiling

    lib = load_library(runtime_library)
    rng = np.random.default_rng(15)
    differs = 0
    for _ in range(CASES):
        x = tuple(int(d) for d in rng.integers(1, 4097, int(rng.integers(0, 9))))
        while np.prod(x, dtype=object) > np.iinfo(np.int64).max:  # refused: test_tiling_overflow
            x = x[1:]
        shapes = [x, x[1:], tuple(1 for _ in x)]
        got = tiling(shapes, "mean", lib)[1]
        want = _python_tiling(shapes, "mean")[1]
        assert float(np.float32(got)) == got, (x, got)  # a float32 value, no double residue
        assert _bits(got) == _bits(want) == _bits(mean_coefficient(x, "tiling")), x
        differs += _bits(got) != _bits(mean_coefficient(x, "constant"))
    assert differs > CASES // 10  # the grid does reach shapes where CANN's two paths differ


def test_tiling_matches_python_on_random_shapes(runtime_library):
    from bce_grad.runtime import load_library, tiling

    lib = load_library(runtime_library)
    rng = np.random.default_rng(20261127)
    seen_ranks = set()
    for _ in range(CASES):
        shapes = _random_shapes(rng)
        for reduction in ("mean", "none", "sum"):
            got = tiling(shapes, reduction, lib)
            want = _python_tiling(shapes, reduction)
            assert got == want, (shapes, reduction)
        seen_ranks.add(len(got[0][0]))
    assert seen_ranks >= set(range(1, 6))  # the grid reached deep canonical ranks


def _f32(value):
    return float(np.float32(value))


@pytest.mark.parametrize("shapes, pattern, cof", [
    ([(4, 5, 6), (1, 5, 6), (4, 5, 6)], [(4, 30), (1, 30), (4, 30)],
     _f32(np.float32(np.float32(1 / 4) / 5) / 6)),
    ([(2, 3), (3,), ()], [(2, 3), (1, 3), (1, 1)], _f32(np.float32(0.5) / np.float32(3))),
    # CANN's 1.0f / 7 / 11, one ulp above float32(1 / 77)
    ([(7, 11), (7, 11), (7, 11)], [(77,), (77,), (77,)],
     _f32(np.nextafter(np.float32(1 / 77), np.float32(1)))),
    ([(), (), ()], [(1,), (1,), (1,)], 1.0),
    ([(2, 0), (1, 0), (2, 1)], [(2, 0), (1, 0), (2, 1)], 0.0),
])
def test_tiling_examples(runtime_library, shapes, pattern, cof):
    from bce_grad.runtime import load_library, tiling

    assert tiling(shapes, "mean", load_library(runtime_library)) == (pattern, cof)


def test_tiling_refuses_bad_arguments(runtime_library):
    from bce_grad.runtime import load_library, tiling

    lib = load_library(runtime_library)
    with pytest.raises(OpError, match=r"^\[E80012\] In op, the num of dimensions of "
                                      r"input/output\[y\] should be in the range of \[0, 8\], but "
                                      r"actually is \[9\]\.$"):
        tiling([(2,), (1,) * 9, (2,)], "mean", lib)
    with pytest.raises(OpError, match=r"^\[E80002\] In op, the dim value\[x\] should more than "
                                      r"\[0\], but actually is \[-3\] \(shape \[2, -3\]\)\.$"):
        tiling([(2, -3), (2,), (2,)], "mean", lib)
    with pytest.raises(OpError, match=r"\[E80009\].*reduction.*actually is \[7\]"):
        tiling([(2,), (2,), (2,)], 7, lib)
