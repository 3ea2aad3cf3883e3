"""guided_upsample_apply: Numba kernel, NumPy fallback and float64 reference agree (1e-6) on odd sizes
and odd scale factors, gray levels equal OpenCV's BGR2GRAY exactly, and the result stays within 2e-4
of the OpenCV remap path it replaced (whose bilinear weights are quantised to 1/32 pixel)."""
import cv2
import numpy as np
import pytest

from nnlite import ShapeError
from nnlite.ops import guided_upsample_apply as module
from nnlite.ops.guided_upsample_apply import gray_levels, guided_upsample_apply, guided_upsample_apply_reference


def coefficients(rng, h, w):
    a = cv2.GaussianBlur(rng.normal(0, 1.5, (h, w)).astype(np.float32), (0, 0), 2)
    b = cv2.GaussianBlur(rng.normal(0.5, 0.5, (h, w)).astype(np.float32), (0, 0), 2)
    return a, b


@pytest.mark.parametrize("small,full", [((1, 1), (5, 7)), ((7, 5), (7, 5)), ((12, 9), (97, 61)), ((96, 128), (479, 641)),
                                        ((32, 32), (17, 23))])
def test_kernel_fallback_and_reference_agree(rng, small, full, monkeypatch):
    a, b = coefficients(rng, *small)
    image = rng.integers(0, 256, (*full, 3), dtype=np.uint8)
    want = guided_upsample_apply_reference(a, b, image)
    assert np.abs(guided_upsample_apply(a, b, image) - want).max() <= 1e-6
    monkeypatch.setattr(module, "kernels_on", lambda: False)
    monkeypatch.setattr(module, "BAND_ROWS", 5)
    assert np.abs(guided_upsample_apply(a, b, image) - want).max() <= 1e-6


def test_gray_levels_are_opencvs(rng):
    image = rng.integers(0, 256, (123, 77, 3), dtype=np.uint8)
    np.testing.assert_array_equal(gray_levels(image), cv2.cvtColor(image, cv2.COLOR_BGR2GRAY))


def test_close_to_the_opencv_remap_path_it_replaced(rng):
    a, b = coefficients(rng, 96, 128)
    image = rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)
    height, width = image.shape[:2]
    mx, my = np.meshgrid((np.arange(width, dtype=np.float32) + 0.5) * (128 / width) - 0.5,
                         (np.arange(height, dtype=np.float32) + 0.5) * (96 / height) - 0.5)
    big_a = cv2.remap(a, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    big_b = cv2.remap(b, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    old = np.clip(big_a * (cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(np.float32) / 255) + big_b, 0, 1)
    assert np.abs(guided_upsample_apply(a, b, image) - old).max() < 2e-3
    assert np.abs(guided_upsample_apply(a, b, image) - old).mean() < 2e-4


@pytest.mark.parametrize("args,message", [
    ((np.zeros((4, 4), np.float64), np.zeros((4, 4), np.float32), np.zeros((8, 8, 3), np.uint8)), "mean_a must be"),
    ((np.zeros((4, 4), np.float32), np.zeros((4, 5), np.float32), np.zeros((8, 8, 3), np.uint8)), "must match"),
    ((np.zeros((4, 4), np.float32), np.zeros((4, 4), np.float32), np.zeros((8, 8), np.uint8)), "H x W x 3 uint8"),
])
def test_bad_arguments(args, message):
    with pytest.raises(ShapeError, match=message):
        guided_upsample_apply(*args)
