"""bgr_to_yuv420 / gray_to_yuv420: the Numba kernels equal their NumPy references exactly; both stay
within 2 levels of FFmpeg's own conversion (swscale through PyAV, the path they replace) on smooth
images and within 1 on flat colours; bad arguments are one-line ShapeErrors."""
import cv2
import numpy as np
import pytest

from nnlite import ShapeError
from nnlite.ops import yuv420 as module
from nnlite.ops.yuv420 import bgr_to_yuv420, bgr_to_yuv420_reference, gray_to_yuv420, gray_to_yuv420_reference


@pytest.mark.parametrize("shape", [(2, 2), (6, 14), (300, 8), (62, 98)])
def test_kernels_equal_their_references(rng, shape):
    image = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
    image[0, 0], image[-1, -1] = 0, 255
    np.testing.assert_array_equal(bgr_to_yuv420(image), bgr_to_yuv420_reference(image))
    gray = rng.integers(0, 256, shape, dtype=np.uint8)
    np.testing.assert_array_equal(gray_to_yuv420(gray), gray_to_yuv420_reference(gray))


def test_numpy_path_is_the_reference(rng, monkeypatch):
    image = rng.integers(0, 256, (8, 10, 3), dtype=np.uint8)
    monkeypatch.setattr(module, "kernels_on", lambda: False)
    np.testing.assert_array_equal(bgr_to_yuv420(image), bgr_to_yuv420_reference(image))


def swscale(picture, fmt):
    av = pytest.importorskip("av")
    return av.VideoFrame.from_ndarray(picture, format=fmt).reformat(format="yuv420p").to_ndarray()


def test_close_to_ffmpegs_conversion(rng):
    image = cv2.GaussianBlur(rng.integers(0, 256, (96, 128, 3), dtype=np.uint8), (0, 0), 4)
    image = cv2.normalize(image, None, 0, 255, cv2.NORM_MINMAX)  # use the whole range
    ours, theirs = bgr_to_yuv420(image).astype(int), swscale(image, "bgr24").astype(int)
    assert np.abs(ours - theirs).max() <= 2
    assert np.abs(ours - theirs).mean() <= 0.6
    gray = image[..., 1].copy()
    assert np.abs(gray_to_yuv420(gray).astype(int) - swscale(gray, "gray").astype(int)).max() <= 1
    for colour in ((0, 0, 0), (255, 255, 255), (0, 255, 0), (255, 0, 0), (0, 0, 255), (40, 120, 200)):
        flat = np.empty((4, 6, 3), np.uint8)
        flat[:] = colour
        assert np.abs(bgr_to_yuv420(flat).astype(int) - swscale(flat, "bgr24").astype(int)).max() <= 1, colour


@pytest.mark.parametrize("function,image,message", [
    (bgr_to_yuv420, np.zeros((4, 4), np.uint8), "H x W x 3 uint8"),
    (bgr_to_yuv420, np.zeros((4, 4, 3), np.float32), "H x W x 3 uint8"),
    (bgr_to_yuv420, np.zeros((5, 4, 3), np.uint8), "even"),
    (gray_to_yuv420, np.zeros((4, 4, 3), np.uint8), "H x W uint8"),
    (gray_to_yuv420, np.zeros((4, 3), np.uint8), "even"),
])
def test_bad_arguments(function, image, message):
    with pytest.raises(ShapeError, match=message):
        function(image)
