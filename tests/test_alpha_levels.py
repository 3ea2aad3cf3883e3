"""alpha_to_levels equals np.round(clip(alpha) * 255) exactly, ties and out-of-range values included;
mean_abs_difference equals the float64 mean within 1e-6 relative; bad arguments are ShapeErrors."""
import numpy as np
import pytest

from nnlite import ShapeError
from nnlite.ops import alpha_levels as module
from nnlite.ops.alpha_levels import (alpha_to_levels, alpha_to_levels_reference, mean_abs_difference,
                                     mean_abs_difference_reference)


@pytest.mark.parametrize("shape", [(1, 1), (7, 13), (300, 5), (61, 97)])
def test_levels_match_the_reference(rng, shape, monkeypatch):
    alpha = rng.uniform(-0.2, 1.2, shape).astype(np.float32)
    alpha.flat[::3] = (rng.integers(0, 255, alpha.flat[::3].size) + 0.5) / np.float32(255)  # near ties
    alpha.flat[1::5] = 0.5
    want = alpha_to_levels_reference(alpha)
    np.testing.assert_array_equal(alpha_to_levels(alpha), want)
    assert want.min() == 0 and want.max() == 255 or shape == (1, 1)
    monkeypatch.setattr(module, "kernels_on", lambda: False)
    np.testing.assert_array_equal(alpha_to_levels(alpha), want)


@pytest.mark.parametrize("shape", [(1, 1), (7, 13), (1080, 1920)])
def test_mean_abs_difference(rng, shape):
    a, b = rng.random(shape, dtype=np.float32), rng.random(shape, dtype=np.float32)
    want = mean_abs_difference_reference(a, b)
    assert mean_abs_difference(a, b) == pytest.approx(want, rel=1e-6)
    assert mean_abs_difference(a, a) == 0.0


def test_bad_arguments():
    with pytest.raises(ShapeError, match="H x W float32"):
        alpha_to_levels(np.zeros((4, 4), np.float64))
    with pytest.raises(ShapeError, match="must match"):
        mean_abs_difference(np.zeros((4, 4), np.float32), np.zeros((4, 5), np.float32))
