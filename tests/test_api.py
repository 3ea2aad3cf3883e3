"""The Python API's traps, closed: sizes and thread counts checked, alpha of the wrong size or
type refused or converted, the package's version and Matter discoverable."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import matting
from matting.api import InputError, Matter

EXAMPLE = Path(__file__).resolve().parent.parent / "matting" / "examples" / "astronaut.jpg"


@pytest.mark.parametrize("size", [0, 8, 5000, 128.5])
def test_bad_inference_sizes_are_refused(size):
    with pytest.raises(InputError, match="inference size"):
        Matter(size=size)


@pytest.mark.parametrize("threads", [0, -1])
def test_bad_thread_counts_are_refused(threads):
    with pytest.raises(InputError, match="threads"):
        Matter(threads=threads)


def test_alpha_checks_in_composite_and_cutout():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (30, 20, 3), dtype=np.uint8)
    alpha = rng.random((30, 20)).astype(np.float32)
    as_uint8 = np.round(alpha * 255).astype(np.uint8)
    # a uint8 matte (as read from a PNG) means 0..255: the same picture as its float twin
    got, want = Matter.composite(image, as_uint8, "#00ff00"), Matter.composite(image, as_uint8 / np.float32(255), "#00ff00")
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(Matter.cutout(image, as_uint8)[..., 3], as_uint8)
    with pytest.raises(InputError, match="not the image's 30x20"):
        Matter.composite(image, alpha[:, :10])
    with pytest.raises(InputError, match="H x W"):
        Matter.cutout(image, alpha[..., None])
    with pytest.raises(InputError, match="unsupported type"):
        Matter.composite(image, alpha.astype(np.int32))


def test_package_says_its_version_and_shows_matter():
    assert matting.__version__ and matting.__version__[0].isdigit()
    assert "Matter" in dir(matting)
    assert "predict" in (Matter.__doc__ or "")


def test_cli_refuses_zero_threads_in_one_line(tmp_path):
    result = subprocess.run([sys.executable, "-m", "matting.infer", str(EXAMPLE), "--threads", "0", "-o", str(tmp_path)],
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "--threads: 0 must be 1 or more" in result.stderr
    assert not any(tmp_path.iterdir())


@pytest.fixture(scope="module")
def matter():
    return Matter(size=64, threads=1)


@pytest.fixture(scope="module")
def photo():
    import cv2

    return cv2.resize(cv2.imread(str(EXAMPLE)), (96, 80))


def test_rgb_arrays_and_pil_images_give_the_bgr_result(matter, photo):
    Image = pytest.importorskip("PIL.Image")
    rgb = np.ascontiguousarray(photo[..., ::-1])
    want = matter.predict(photo)
    assert np.abs(matter.predict(photo[..., ::-1].copy()) - want).max() > 1e-3  # the order matters...
    np.testing.assert_array_equal(matter.predict(rgb, channels="rgb"), want)  # ...and is honoured
    np.testing.assert_array_equal(matter.predict(Image.fromarray(rgb)), want)
    composite_rgb = Matter.composite(rgb, want, "#ff0000", channels="rgb")
    np.testing.assert_array_equal(composite_rgb, Matter.composite(photo, want, "#ff0000")[..., ::-1])
    np.testing.assert_array_equal(Matter.cutout(rgb, want, channels="rgb")[..., :3], rgb)
    np.testing.assert_array_equal(Matter.blur_background(rgb, want, channels="rgb"), Matter.blur_background(photo, want)[..., ::-1])
    with pytest.raises(InputError, match="channels 'rgba'"):
        matter.predict(rgb, channels="rgba")


def test_float_images_in_0_255_are_refused_and_in_0_1_accepted(matter, photo):
    with pytest.raises(InputError, match="float images must be in \\[0, 1\\]; divide by 255"):
        matter.predict(photo.astype(np.float32))
    as_float = matter.predict(photo.astype(np.float32) / 255)
    assert np.abs(as_float - matter.predict(photo)).max() < 0.02


def test_an_images_own_alpha_is_kept(matter, photo):
    bgra = np.dstack([photo, np.full(photo.shape[:2], 255, np.uint8)])
    bgra[:, :48, 3] = 0  # the left half was cut away already
    plain, own = matter.predict(photo), matter.predict(bgra)
    assert own[:, :48].max() == 0
    np.testing.assert_allclose(own[:, 48:], plain[:, 48:], atol=1e-6)


def test_background_image_covers_the_photo_without_stretching():
    image = np.zeros((40, 80, 3), np.uint8)
    background = np.zeros((100, 100, 3), np.uint8)
    background[:, :50] = (255, 0, 0)  # left half blue, right half red: a square
    background[:, 50:] = (0, 0, 255)
    out = Matter.composite(image, np.zeros((40, 80), np.float32), background)
    # covered: scaled to 80 x 80 and the middle 40 rows kept; the colour edge stays in the middle, unstretched
    assert (out[:, :39] == (255, 0, 0)).all() and (out[:, 41:] == (0, 0, 255)).all()
    tall = Matter.composite(np.zeros((80, 40, 3), np.uint8), np.zeros((80, 40), np.float32), background)
    assert (tall[:, :19] == (255, 0, 0)).all() and (tall[:, 21:] == (0, 0, 255)).all()
