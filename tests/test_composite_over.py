"""composite_over: Numba kernel, NumPy fallback and reference agree exactly (uint8 levels) on odd
sizes, for a background image and a colour; bad arguments are one-line ShapeErrors."""
import numpy as np
import pytest

from nnlite import ShapeError
from nnlite.ops import composite_over as module
from nnlite.ops.composite_over import composite_over, composite_over_reference


@pytest.mark.parametrize("shape", [(1, 1), (7, 13), (300, 5), (61, 97)])
@pytest.mark.parametrize("kind", ["image", "colour"])
def test_matches_the_reference_exactly(rng, shape, kind, monkeypatch):
    image = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
    alpha = rng.random(shape, dtype=np.float32)
    alpha.flat[:: 5] = 0.0
    alpha.flat[1:: 7] = 1.0
    alpha.flat[2:: 11] = 0.5  # levels that land on .5 exactly
    background = rng.integers(0, 256, (*shape, 3), dtype=np.uint8) if kind == "image" else (0, 255, 17)
    want = composite_over_reference(image, alpha, background)
    np.testing.assert_array_equal(composite_over(image, alpha, background), want)
    monkeypatch.setattr(module, "kernels_on", lambda: False)  # the NumPy fallback, in bands
    monkeypatch.setattr(module, "BAND_ROWS", 4)
    np.testing.assert_array_equal(composite_over(image, alpha, background), want)


def test_matter_composite_uses_it():
    from matting.api import Matter

    image = np.full((5, 4, 3), 200, np.uint8)
    alpha = np.full((5, 4), 0.25, np.float32)
    np.testing.assert_array_equal(Matter.composite(image, alpha, "#000000"), composite_over_reference(image, alpha, (0, 0, 0)))


@pytest.mark.parametrize("args,message", [
    ((np.zeros((4, 4), np.uint8), np.zeros((4, 4), np.float32), (0, 0, 0)), "image must be H x W x 3 uint8"),
    ((np.zeros((4, 4, 3), np.uint8), np.zeros((4, 5), np.float32), (0, 0, 0)), "alpha must be 4 x 4 float32"),
    ((np.zeros((4, 4, 3), np.uint8), np.zeros((4, 4), np.float32), (0, 0)), "3 values"),
    ((np.zeros((4, 4, 3), np.uint8), np.zeros((4, 4), np.float32), np.zeros((4, 3, 3), np.uint8)), "like the image"),
])
def test_bad_arguments(args, message):
    with pytest.raises(ShapeError, match=message):
        composite_over(*args)

