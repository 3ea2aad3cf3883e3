"""resize_area_to_planes: Numba kernel, NumPy fallback and the float64 reference agree (1e-5) on odd
sizes, integer and non-integer factors and 4-channel images; the result is OpenCV's INTER_AREA before
its rounding to 8 bits (within half a level); bad arguments are one-line ShapeErrors."""
import cv2
import numpy as np
import pytest

from nnlite import ShapeError
from nnlite.ops import resize_area as module
from nnlite.ops.resize_area import area_weights, resize_area_to_planes, resize_area_to_planes_reference


@pytest.mark.parametrize("shape,size", [((1, 1, 3), (1, 1)), ((7, 13, 3), (7, 13)), ((97, 61, 3), (12, 9)),
                                        ((480, 640, 3), (192, 256)), ((1080, 1920, 3), (144, 256)),
                                        ((64, 64, 4), (32, 16)), ((300, 5, 3), (7, 2))])
def test_kernel_fallback_and_reference_agree(rng, shape, size, monkeypatch):
    image = rng.integers(0, 256, shape, dtype=np.uint8)
    order = (2, 1, 0, 3) if shape[2] == 4 else (2, 1, 0)
    want = resize_area_to_planes_reference(image, *size, order)
    assert np.abs(resize_area_to_planes(image, *size, order) - want).max() <= 1e-5
    monkeypatch.setattr(module, "kernels_on", lambda: False)
    assert np.abs(resize_area_to_planes(image, *size, order) - want).max() <= 1e-5


@pytest.mark.parametrize("shape,size", [((97, 61), (12, 9)), ((480, 640), (192, 256)), ((1080, 1920), (144, 256)),
                                        ((200, 300), (100, 150))])
def test_is_opencv_inter_area_before_rounding(rng, shape, size):
    # a smooth image: OpenCV's integer-factor path and its generic path both round to 8 bits
    image = cv2.GaussianBlur(rng.integers(0, 256, (*shape, 3), dtype=np.uint8), (0, 0), 3)
    ours = resize_area_to_planes(image, *size, (0, 1, 2)).transpose(1, 2, 0) * 255
    theirs = cv2.resize(image, size[::-1], interpolation=cv2.INTER_AREA).astype(np.float32)
    assert np.abs(ours - theirs).max() <= 0.5 + 1e-3


def test_weights_average_and_stay_inside():
    for size_in, size_out in ((1920, 256), (1080, 144), (7, 7), (5, 2), (641, 3)):
        start, weights = area_weights(size_in, size_out)
        np.testing.assert_allclose(weights.sum(axis=1), 1, atol=1e-6)
        assert start.min() >= 0 and start.max() + weights.shape[1] <= size_in


def test_predict_small_uses_it():
    from matting.api import Matter

    image = np.random.default_rng(1).integers(0, 256, (300, 400, 3), dtype=np.uint8)
    matter = Matter("fdm-128")
    _, rgb01, _ = matter.predict_small(image)
    h, w = rgb01.shape[:2]
    np.testing.assert_allclose(rgb01, resize_area_to_planes_reference(image, h, w, (2, 1, 0)).transpose(1, 2, 0), atol=1e-5)


@pytest.mark.parametrize("args,message", [
    ((np.zeros((4, 4), np.uint8), 2, 2), "H x W x 3 or 4 uint8"),
    ((np.zeros((4, 4, 3), np.float32), 2, 2), "H x W x 3 or 4 uint8"),
    ((np.zeros((4, 4, 3), np.uint8), 5, 2), "only shrinks"),
    ((np.zeros((4, 4, 3), np.uint8), 2, 2, (0, 3)), "must name channels"),
])
def test_bad_arguments(args, message):
    with pytest.raises(ShapeError, match=message):
        resize_area_to_planes(*args)
