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
    np.testing.assert_allclose(golden(x=x, y=y, grad_output=g, weight=w, reduction="sum"), [-4.0, 4.0, 0.0])
    np.testing.assert_allclose(golden(x=x, y=y, grad_output=g, weight=w, reduction="none"), [-4.0, 4.0, 0.0])
    np.testing.assert_allclose(golden(x=x, y=y, grad_output=g, weight=w, reduction="mean"), [-4.0 / 3, 4.0 / 3, 0.0])


def test_eps_clamps_the_denominator():
    out = golden(x=np.array([0.0, 1.0]), y=np.array([1.0, 0.0]), grad_output=np.array([1.0, 1.0]), weight=None, reduction="none")
    np.testing.assert_allclose(out, [-1e12, 1e12])


def test_broadcast_and_empty():
    out = golden(x=np.full((2, 3), 0.5), y=np.zeros(3), grad_output=np.array(1.0), weight=None, reduction="mean")
    np.testing.assert_allclose(out, np.full((2, 3), 2.0 / 6))
    assert golden(x=np.zeros((2, 0)), y=np.zeros((2, 0)), grad_output=np.zeros(()), weight=None, reduction="mean").shape == (2, 0)


def test_fp16_compute_underflows_eps():
    out = golden(x=np.array([0.0, 1.0], np.float16), y=np.array([0.0, 1.0], np.float16),
                 grad_output=np.ones(2, np.float16), weight=None, reduction="none", compute_dtype="float16")
    assert np.isnan(out).all()


def test_bad_reduction():
    with pytest.raises(ValueError, match="reduction"):
        golden(x=np.ones(1), y=np.ones(1), grad_output=np.ones(1), weight=None, reduction="avg")


def test_the_golden_takes_keywords_only():
    """Positional arrays were read in the operator's order (x, y, grad_output): called in the
    API's order (grad_output, x, y) it silently returned 1.7e12 instead of -6.67."""
    x, y, g = np.array([0.3], np.float32), np.array([1.0], np.float32), np.array([2.0], np.float32)
    with pytest.raises(TypeError):
        golden(g, x, y)
    assert golden(x=x, y=y, grad_output=g, reduction="sum")[0] == pytest.approx(-2 / 0.3)
