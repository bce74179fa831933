"""The golden itself, against values computed by hand."""
from __future__ import annotations

import numpy as np
import pytest

from bce_grad.golden import binary_cross_entropy_grad_golden as golden


def test_hand_computed_values():
    x = np.array([0.5, 0.25, 0.9])
    y = np.array([1.0, 0.0, 0.9])
    g = np.array([2.0, 1.0, 3.0])
    w = np.array([1.0, 3.0, 1.0])
    # 2 * (0.5 - 1) / 0.25 = -4 ; 3 * 0.25 / 0.1875 = 4 ; x == y gives 0
    np.testing.assert_allclose(golden(x, y, g, w, "sum"), [-4.0, 4.0, 0.0])
    np.testing.assert_allclose(golden(x, y, g, w, "none"), [-4.0, 4.0, 0.0])
    np.testing.assert_allclose(golden(x, y, g, w, "mean"), [-4.0 / 3, 4.0 / 3, 0.0])


def test_eps_clamps_the_denominator():
    out = golden(np.array([0.0, 1.0]), np.array([1.0, 0.0]), np.array([1.0, 1.0]), None, "none")
    np.testing.assert_allclose(out, [-1e12, 1e12])


def test_broadcast_and_empty():
    out = golden(np.full((2, 3), 0.5), np.zeros(3), np.array(1.0), None, "mean")
    np.testing.assert_allclose(out, np.full((2, 3), 2.0 / 6))
    assert golden(np.zeros((2, 0)), np.zeros((2, 0)), np.zeros(()), None, "mean").shape == (2, 0)


def test_fp16_compute_underflows_eps():
    out = golden(np.array([0.0, 1.0], np.float16), np.array([0.0, 1.0], np.float16),
                 np.ones(2, np.float16), None, "none", compute_dtype="float16")
    assert np.isnan(out).all()


def test_bad_reduction():
    with pytest.raises(ValueError, match="reduction"):
        golden(np.ones(1), np.ones(1), np.ones(1), None, "avg")
