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
    assert result.returncode != 0
    assert result.stderr.strip().count("\n") == 0 and "threads 0" in result.stderr
    assert not any(tmp_path.iterdir())
