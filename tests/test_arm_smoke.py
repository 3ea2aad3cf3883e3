"""The smoke subset run under aarch64 emulation (scripts/test-aarch64.sh, `-m arm`): small sizes, every
kernel against its reference, the shipped model and the CLI. Needs neither torch nor h5py, so it also
runs where Termux has no Numba and no h5py (the NumPy fallback and the .npz weights twin)."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import assert_close

import nnlite
from matting import DEFAULT_WEIGHTS, SHIPPED_WEIGHTS
from nnlite.ops import box_filter, conv2d, max_pool2d, resize_bilinear, softmax
from nnlite.ops.box_filter import box_filter_reference
from nnlite.ops.conv2d import conv2d_reference
from nnlite.ops.max_pool2d import max_pool2d_reference
from nnlite.ops.resize_bilinear import resize_bilinear_reference
from nnlite.ops.softmax import softmax_reference
from nnlite.weights import load_weights

pytestmark = pytest.mark.arm
EXAMPLE = Path(__file__).resolve().parent.parent / "matting" / "examples" / "astronaut.jpg"


def test_runs_on_the_expected_machine():
    """scripts/test-aarch64.sh sets EXPECT_MACHINE=aarch64, so a run that silently used the host fails."""
    import os
    import platform

    expected = os.environ.get("EXPECT_MACHINE", platform.machine())
    assert platform.machine() == expected, f"ran on {platform.machine()} (numba {'on' if nnlite.USE_NUMBA else 'off'}), expected {expected}"


@pytest.mark.parametrize("cin,stride,dilation", [(3, 2, 1), (16, 1, 2), (32, 1, 4), (48, 1, 6), (64, 1, 8), (11, 1, 1)])
def test_conv2d_small(rng, cin, stride, dilation):
    x = rng.standard_normal((1, cin, 11, 9)).astype(np.float32)
    weight = (rng.standard_normal((5, cin, 3, 3)) / np.sqrt(9 * cin)).astype(np.float32)
    bias = rng.standard_normal(5).astype(np.float32)
    assert_close(conv2d(x, weight, bias, stride, dilation, dilation, True),
                 conv2d_reference(x, weight, bias, stride, dilation, dilation, True), 1e-4, "conv2d")


def test_small_ops(rng):
    x = rng.standard_normal((1, 2, 7, 6)).astype(np.float32)
    np.testing.assert_array_equal(max_pool2d(x, 2), max_pool2d_reference(x, 2))
    assert_close(softmax(x), softmax_reference(x), 1e-6, "softmax")
    assert_close(resize_bilinear(x, scale_factor=2), resize_bilinear_reference(x, scale_factor=2), 1e-5, "resize")
    assert_close(box_filter(x, 2), box_filter_reference(x, 2), 1e-5, "box")


def test_mobile_ops_small(rng):
    """The encoder-decoder's ops on small odd shapes, each against its reference."""
    from nnlite.ops.add import add, add_reference
    from nnlite.ops.channel_scale import channel_scale, channel_scale_reference
    from nnlite.ops.depthwise_conv2d import depthwise_conv2d, depthwise_conv2d_reference
    from nnlite.ops.global_avg_pool import global_avg_pool, global_avg_pool_reference
    from nnlite.ops.pointwise_conv2d import pointwise_conv2d, pointwise_conv2d_reference
    from nnlite.ops.resize_bilinear_add import resize_bilinear_add, resize_bilinear_add_reference

    x = rng.standard_normal((1, 24, 11, 9)).astype(np.float32)
    dw, bias = rng.standard_normal((24, 1, 3, 3)).astype(np.float32), rng.standard_normal(24).astype(np.float32)
    for stride in (1, 2):
        assert_close(depthwise_conv2d(x, dw, bias, stride, 1, 1, "hardswish"),
                     depthwise_conv2d_reference(x, dw, bias, stride, 1, 1, "hardswish"), 1e-4, "depthwise")
    pw = (rng.standard_normal((40, 24, 1, 1)) / 5).astype(np.float32)
    skip = rng.standard_normal((1, 40, 11, 9)).astype(np.float32)
    assert_close(pointwise_conv2d(x, pw, None, skip, "relu"), pointwise_conv2d_reference(x, pw, None, skip, "relu"), 1e-4, "pointwise")
    gate = rng.standard_normal((1, 24, 1, 1)).astype(np.float32)
    assert_close(channel_scale(x, gate), channel_scale_reference(x, gate), 1e-6, "channel_scale")
    assert_close(add(x, x, "relu"), add_reference(x, x, "relu"), 1e-6, "add")
    assert_close(global_avg_pool(x), global_avg_pool_reference(x), 1e-6, "mean")
    fine = rng.standard_normal((1, 24, 22, 18)).astype(np.float32)
    assert_close(resize_bilinear_add(x, fine), resize_bilinear_add_reference(x, fine), 1e-5, "resize_bilinear_add")


def test_shipped_weights_load():
    for name, path in SHIPPED_WEIGHTS.items():  # the .npz twins where h5py is missing
        weights = load_weights(path)
        assert weights.attrs["model"] in ("fast-deep-matting", "fdm-encoder-decoder"), name
    assert len(load_weights(SHIPPED_WEIGHTS["fdm-128"]).tensors) == 16
    assert load_weights(DEFAULT_WEIGHTS).attrs["model"] == "fdm-encoder-decoder"


def test_cli_on_the_example(tmp_path):
    subprocess.run([sys.executable, "-m", "matting.infer", str(EXAMPLE), "-o", str(tmp_path), "--size", "64"], check=True)
    assert (tmp_path / "astronaut.alpha.png").stat().st_size > 0 and (tmp_path / "astronaut.composite.png").stat().st_size > 0
