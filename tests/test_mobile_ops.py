"""The ops of the encoder-decoder (depthwise and pointwise convs, residual adds, resize + skip add,
global average pool, channel scaling, activations) against their NumPy references, their NumPy
fallbacks and torch: 1e-5 relative for the convs, 1e-6 for the rest (float32 sums in another order)."""
import numpy as np
import pytest

from nnlite import ShapeError
from nnlite._jit import USE_NUMBA
from nnlite.ops._checks import as_window
from nnlite.ops.activation import ACTIVATION_CODES, activation, activation_numpy, activation_reference
from nnlite.ops.add import add, add_reference
from nnlite.ops.channel_scale import channel_scale, channel_scale_reference
from nnlite.ops.depthwise_conv2d import (_depthwise_numpy, depthwise_conv2d, depthwise_conv2d_padded,
                                         depthwise_conv2d_reference)
from nnlite.ops.global_avg_pool import global_avg_pool, global_avg_pool_reference
from nnlite.ops.multiply import multiply, multiply_reference
from nnlite.ops.pointwise_conv2d import _pointwise_numpy, pointwise_conv2d, pointwise_conv2d_padded, pointwise_conv2d_reference
from nnlite.ops.resize_bilinear_add import resize_bilinear_add, resize_bilinear_add_reference

ACTIVATIONS = list(ACTIVATION_CODES)


def assert_relative(got, want, rtol, what=""):
    """max |got - want| <= rtol * max(1, max |want|), naming the worst element."""
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    assert np.all(np.isfinite(got)), f"{what}: non-finite values"
    diff = np.abs(got.astype(np.float64) - want)
    limit = rtol * max(1.0, float(np.abs(want).max(initial=0)))
    worst = np.unravel_index(np.argmax(diff), diff.shape) if diff.size else ()
    assert diff.max(initial=0) <= limit, f"{what}: max abs diff {diff.max():.3g} at {worst} > {limit:.3g}"


def rand(rng, *shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


# ---- depthwise conv ----
# (N, C, H, W, kernel, stride, padding, dilation)
DEPTHWISE_CASES = [
    (1, 16, 9, 7, 3, 1, 1, 1),      # odd sizes
    (2, 24, 11, 13, 3, 2, 1, 1),    # stride 2, odd input, batch 2
    (1, 8, 10, 9, 5, 2, 2, 1),      # 5x5 stride 2
    (1, 40, 8, 8, 5, 1, 2, 1),      # 5x5 stride 1
    (1, 5, 6, 7, 3, 1, 2, 2),       # dilation 2
    (1, 3, 1, 1, 3, 1, 1, 1),       # 1x1 spatial
    (1, 4, 1, 1, 3, 2, 1, 1),       # 1x1 spatial, stride 2
    (1, 128, 5, 4, 3, 1, 1, 1),     # many channels
    (1, 6, 7, 5, 3, 2, 1, 2),       # stride 2 dilated (the general kernel)
    (1, 16, 12, 10, 3, 2, 1, 1),    # stride 2, even padded width: the split-plane flat run
    (2, 8, 7, 6, 3, 2, 1, 1),       # the same with an odd height and batch 2
    (1, 8, 70, 66, 3, 1, 1, 1),     # rows longer than one flat-run step: row by row
    (1, 8, 9, 130, 3, 2, 1, 1),     # stride 2 with long rows: the split-plane flat run too
    (1, 8, 9, 129, 3, 2, 1, 1),     # the same with an odd padded width (the half-rows' last odd value zero)
]
case_id = lambda c: "n{}-c{}-{}x{}-k{}-s{}-p{}-d{}".format(*c)


@pytest.mark.parametrize("case", DEPTHWISE_CASES, ids=case_id)
@pytest.mark.parametrize("act", ACTIVATIONS)
def test_depthwise_matches_reference_and_fallback(rng, case, act):
    n, c, h, w, k, s, p, d = case
    x, weight, bias = rand(rng, n, c, h, w), rand(rng, c, 1, k, k, scale=0.3), rand(rng, c)
    want = depthwise_conv2d_reference(x, weight, bias, s, p, d, act)
    assert_relative(depthwise_conv2d(x, weight, bias, s, p, d, act), want, 1e-5, "depthwise")
    xpad = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    out = np.empty_like(want)
    _depthwise_numpy(xpad, 0, weight, bias, 0, 0, s, s, d, d, want.shape[2], want.shape[3], act, out)
    assert_relative(out, want, 1e-5, "depthwise numpy fallback")


@pytest.mark.parametrize("width", [11, 12], ids=["odd-pitch", "even-pitch"])
@pytest.mark.parametrize("stride", [1, 2])
def test_depthwise_reads_a_window_of_a_bordered_buffer(rng, width, stride):
    """Channels 3..10 of a buffer with a 2-pixel zero border (the window starts at an odd column),
    written into a slot of another buffer."""
    x = rand(rng, 1, 8, 9, width)
    buffer = np.zeros((1, 12, 13, width + 4), np.float32)
    buffer[:, 3:11, 2:11, 2:2 + width] = x
    weight, bias = rand(rng, 8, 1, 3, 3), rand(rng, 8)
    want = depthwise_conv2d_reference(x, weight, bias, stride, 1, 1, "relu")
    target = np.full((1, 20) + tuple(n + 2 for n in want.shape[2:]), np.nan, np.float32)  # NaN: a stray write shows
    out = target[:, 5:13, 1:-1, 1:-1]
    depthwise_conv2d_padded(buffer, weight, bias, (1, 1), want.shape[2:], stride, 1, "relu", out, first_channel=3)
    assert_relative(out, want, 1e-5)
    assert np.isnan(target[:, :5]).all() and np.isnan(target[:, 13:]).all() and np.isnan(target[:, 5:13, 0]).all()
    assert np.isnan(target[:, 5:13, -1]).all() and np.isnan(target[:, 5:13, :, 0]).all() and np.isnan(target[:, 5:13, :, -1]).all()


def test_depthwise_matches_torch(rng):
    torch = pytest.importorskip("torch")
    import torch.nn.functional as F

    for n, c, h, w, k, s, p, d in DEPTHWISE_CASES:
        x, weight, bias = rand(rng, n, c, h, w), rand(rng, c, 1, k, k, scale=0.3), rand(rng, c)
        want = F.hardswish(F.conv2d(*map(torch.from_numpy, (x, weight, bias)), s, p, d, c)).numpy()
        assert_relative(depthwise_conv2d(x, weight, bias, s, p, d, "hardswish"), want, 1e-5, case_id((n, c, h, w, k, s, p, d)))


def test_depthwise_errors(rng):
    with pytest.raises(ShapeError):
        depthwise_conv2d(rand(rng, 1, 4, 5, 5), rand(rng, 3, 1, 3, 3))  # one filter per channel
    with pytest.raises(ShapeError):
        depthwise_conv2d(rand(rng, 1, 4, 5, 5), rand(rng, 4, 2, 3, 3))  # not C x 1 x R x S
    with pytest.raises(ShapeError):
        depthwise_conv2d(rand(rng, 1, 4, 5, 5), rand(rng, 4, 1, 3, 3), activation="gelu")


# ---- pointwise conv ----
# (N, C, H, W, K): 1x1 spatial (the small path), rows shorter than a block, K = 16 + 8, many channels
POINTWISE_CASES = [(1, 16, 9, 7, 64), (2, 64, 13, 11, 16), (1, 24, 1, 1, 8), (1, 40, 3, 3, 13), (1, 96, 8, 8, 24),
                   (1, 7, 33, 35, 5), (1, 200, 4, 5, 40), (1, 3, 2, 9, 2), (2, 16, 16, 16, 16),
                   # wide rows: blocks of 16 pixels in pairs and fours, a last channel block of 4 or 8
                   (1, 12, 5, 70, 3), (2, 8, 4, 17, 2), (1, 10, 3, 50, 20), (1, 6, 6, 40, 8), (1, 32, 3, 33, 24)]


@pytest.mark.parametrize("case", POINTWISE_CASES, ids=lambda c: "n{}-{}to{}-{}x{}".format(c[0], c[1], c[4], c[2], c[3]))
@pytest.mark.parametrize("act", ACTIVATIONS)
@pytest.mark.parametrize("residual", [False, True], ids=["plain", "residual"])
def test_pointwise_matches_reference_and_fallback(rng, case, act, residual):
    n, c, h, w, k = case
    x, weight, bias = rand(rng, n, c, h, w), rand(rng, k, c, 1, 1, scale=1 / np.sqrt(c)), rand(rng, k)
    skip = rand(rng, n, k, h, w) if residual else None
    want = pointwise_conv2d_reference(x, weight, bias, skip, act)
    assert_relative(pointwise_conv2d(x, weight, bias, skip, act), want, 1e-5, "pointwise")
    out = np.empty_like(want)
    _pointwise_numpy(x, 0, 0, 0, h, w, weight, bias, skip, act, out)
    assert_relative(out, want, 1e-5, "pointwise numpy fallback")


def test_pointwise_windows_of_bordered_buffers(rng):
    """Input: channels 2..17 of a buffer with a 1-pixel border (the border columns are computed and
    thrown away); output and residual: slots of other bordered buffers; nothing outside the slot written."""
    x, skip = rand(rng, 1, 16, 6, 20), rand(rng, 1, 24, 6, 20)
    source = np.zeros((1, 20, 8, 22), np.float32)
    source[:, 2:18, 1:7, 1:21] = x
    skip_buffer = np.zeros((1, 30, 10, 24), np.float32)
    skip_buffer[:, 4:28, 2:8, 2:22] = skip
    target = np.full((1, 26, 8, 22), np.nan, np.float32)
    out = target[:, 1:25, 1:7, 1:21]
    weight, bias = rand(rng, 24, 16, 1, 1, scale=0.25), rand(rng, 24)
    pointwise_conv2d_padded(source, weight, bias, (1, 1), (6, 20), skip_buffer[:, 4:28, 2:8, 2:22], "relu", out, first_channel=2)
    assert_relative(out, pointwise_conv2d_reference(x, weight, bias, skip, "relu"), 1e-5)
    assert np.isnan(target[:, 0]).all() and np.isnan(target[:, 25]).all() and np.isnan(target[:, 1:25, 0]).all()
    assert np.isnan(target[:, 1:25, 1:7, 0]).all() and np.isnan(target[:, 1:25, 1:7, 21]).all()


def test_pointwise_matches_torch(rng):
    torch = pytest.importorskip("torch")
    import torch.nn.functional as F

    for n, c, h, w, k in POINTWISE_CASES:
        x, weight, bias, skip = rand(rng, n, c, h, w), rand(rng, k, c, 1, 1, scale=1 / np.sqrt(c)), rand(rng, k), rand(rng, n, k, h, w)
        want = F.relu(F.conv2d(*map(torch.from_numpy, (x, weight, bias))) + torch.from_numpy(skip)).numpy()
        assert_relative(pointwise_conv2d(x, weight, bias, skip, "relu"), want, 1e-5, f"{c}->{k}")


# ---- elementwise ops, pooling, gates, resize + add ----
SHAPES = [(1, 3, 5, 7), (2, 16, 1, 1), (1, 40, 13, 9), (1, 1, 33, 17)]


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("act", ACTIVATIONS)
def test_activation_add_and_channel_scale(rng, shape, act):
    a, b, gate = rand(rng, *shape, scale=3), rand(rng, *shape), rand(rng, shape[0], shape[1], 1, 1, scale=3)
    assert_relative(activation(a, act), activation_reference(a, act), 1e-6, "activation")
    assert_relative(activation_numpy(a, act, np.empty_like(a)), activation_reference(a, act), 1e-6, "activation numpy")
    assert_relative(add(a, b, act), add_reference(a, b, act), 1e-6, "add")
    assert_relative(channel_scale(a, gate, act), channel_scale_reference(a, gate, act), 1e-6, "channel_scale")
    assert_relative(multiply(a, b), multiply_reference(a, b), 1e-6, "multiply")
    assert_relative(multiply(a, b[:, :1]), multiply_reference(a, b[:, :1]), 1e-6, "multiply broadcast")
    assert_relative(global_avg_pool(a), global_avg_pool_reference(a), 1e-6, "global_avg_pool")


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_normalise_channels_in_a_bordered_buffer(rng, shape):
    from nnlite.ops.normalise_channels import _normalise_channels_numpy, normalise_channels, normalise_channels_reference

    n, c, h, w = shape
    x = rand(rng, *shape)
    mean, std = rng.uniform(0.2, 0.6, c).astype(np.float32), rng.uniform(0.1, 0.3, c).astype(np.float32)
    inv_std = (1 / std).astype(np.float32)
    want = normalise_channels_reference(x, mean, inv_std)
    assert_relative(want, (x - mean[None, :, None, None]) / std[None, :, None, None], 1e-6, "reference vs (x - mean) / std")
    buffer = np.zeros((n, c + 2, h + 2, w + 2), np.float32)  # a slot of a graph buffer: channels 1.., border 1
    got = normalise_channels(x, mean, inv_std, out=buffer[:, 1:c + 1, 1:-1, 1:-1])
    assert_relative(got, want, 1e-6, "normalise_channels")
    assert not buffer[:, 0].any() and not buffer[:, c + 1].any() and not buffer[:, :, 0].any() and not buffer[:, :, :, -1].any()
    assert_relative(_normalise_channels_numpy(x, mean, inv_std, np.empty_like(x)), want, 1e-6, "normalise_channels numpy")


def test_normalise_channels_matches_torch(rng):
    torch = pytest.importorskip("torch")
    from nnlite.ops.normalise_channels import normalise_channels

    x = rand(rng, 2, 3, 17, 33)
    mean, std = np.array([0.485, 0.456, 0.406], np.float32), np.array([0.229, 0.224, 0.225], np.float32)
    want = (torch.from_numpy(x) - torch.from_numpy(mean)[None, :, None, None]) / torch.from_numpy(std)[None, :, None, None]
    assert_relative(normalise_channels(x, mean, (1 / std).astype(np.float32)), want.numpy(), 1e-6, "normalise_channels vs torch")


def test_in_place_add_and_scale(rng):
    a, b, gate = rand(rng, 1, 4, 6, 5), rand(rng, 1, 4, 6, 5), rand(rng, 1, 4, 1, 1)
    want_add, want_scale = add_reference(a, b, "relu"), channel_scale_reference(b, gate)
    add(a, b, "relu", out=a)
    channel_scale(b, gate, out=b)
    assert_relative(a, want_add, 1e-6)
    assert_relative(b, want_scale, 1e-6)


@pytest.mark.parametrize("sizes", [(4, 4, 8, 8), (3, 5, 5, 9), (1, 1, 2, 2), (5, 3, 10, 6), (8, 8, 16, 16), (7, 6, 7, 6)],
                         ids=lambda s: "{}x{}-to-{}x{}".format(*s))
@pytest.mark.parametrize("act", ["none", "relu", "hardswish"])
def test_resize_bilinear_add(rng, sizes, act):
    h, w, hh, ww = sizes
    x, skip = rand(rng, 2, 6, h, w), rand(rng, 2, 6, hh, ww)
    want = resize_bilinear_add_reference(x, skip, act)
    assert_relative(resize_bilinear_add(x, skip, act), want, 1e-6, "resize_bilinear_add")
    resize_bilinear_add(x, skip, act, out=skip)  # accumulated in place
    assert_relative(skip, want, 1e-6, "in place")


@pytest.mark.parametrize("sizes", [(4, 4, 8, 8), (5, 3, 10, 6), (3, 5, 7, 11)], ids=lambda s: "{}x{}-to-{}x{}".format(*s))
def test_resize_without_a_skip_writes_a_window_of_a_bordered_buffer(rng, sizes):
    """ResizeBilinearAddPlan with skip None: the plain resize, into a slot (channels 1..3, border 2)."""
    from nnlite.ops.resize_bilinear import resize_bilinear_reference
    from nnlite.ops.resize_bilinear_add import ResizeBilinearAddPlan

    h, w, hh, ww = sizes
    x = rand(rng, 2, 3, h, w)
    buffer = np.zeros((2, 5, hh + 4, ww + 4), np.float32)
    window = buffer[:, 1:4, 2:-2, 2:-2]
    ResizeBilinearAddPlan((h, w), (hh, ww)).run(x, None, window)
    assert_relative(window, resize_bilinear_reference(x, size=(hh, ww)), 1e-6, "resize into a window")
    outside = np.ones(buffer.shape, bool)
    outside[:, 1:4, 2:-2, 2:-2] = False
    assert not buffer[outside].any()


@pytest.mark.parametrize("shape", [(1, 3, 5, 7), (2, 3, 8, 6), (1, 1, 33, 17), (1, 2, 2, 3)], ids=str)
def test_average_pool2x2_in_a_bordered_buffer(rng, shape):
    from nnlite.ops.average_pool2x2 import _average_pool2x2_numpy, average_pool2x2, average_pool2x2_reference

    n, c, h, w = shape
    x = rand(rng, *shape)
    want = average_pool2x2_reference(x)
    assert want.shape == (n, c, h // 2, w // 2)
    np.testing.assert_allclose(want[0, 0, 0, 0], x[0, 0, :2, :2].mean(), rtol=1e-6)
    source = np.zeros((n, c + 1, h + 2, w + 2), np.float32)  # the input as a slot of a graph buffer too
    source[:, 1:, 1:-1, 1:-1] = x
    buffer = np.zeros((n, c + 2, h // 2 + 2, w // 2 + 2), np.float32)
    got = average_pool2x2(source[:, 1:, 1:-1, 1:-1], out=buffer[:, 1:c + 1, 1:-1, 1:-1])
    assert_relative(got, want, 1e-6, "average_pool2x2")
    assert not buffer[:, 0].any() and not buffer[:, c + 1].any() and not buffer[:, :, 0].any() and not buffer[:, :, :, -1].any()
    assert_relative(_average_pool2x2_numpy(x, np.empty_like(want)), want, 1e-6, "average_pool2x2 numpy")
    with pytest.raises(ShapeError):
        average_pool2x2(rand(rng, 1, 1, 1, 4))


def test_average_pool2x2_is_torch_s_half_size_resizes(rng):
    torch = pytest.importorskip("torch")
    import torch.nn.functional as F

    from nnlite.ops.average_pool2x2 import average_pool2x2

    x = rand(rng, 2, 3, 17, 34)
    tx = torch.from_numpy(x)
    assert_relative(average_pool2x2(x), F.avg_pool2d(tx, 2).numpy(), 1e-6, "vs avg_pool2d")
    half = F.interpolate(tx, scale_factor=0.5, mode="bilinear", align_corners=False)
    assert_relative(average_pool2x2(x), half.numpy(), 1e-6, "vs bilinear by 0.5")


def test_small_ops_match_torch(rng):
    torch = pytest.importorskip("torch")
    import torch.nn.functional as F

    a, b, gate = rand(rng, 2, 5, 9, 7, scale=3), rand(rng, 2, 5, 9, 7), rand(rng, 2, 5, 1, 1)
    ta, tb, tg = map(torch.from_numpy, (a, b, gate))
    assert_relative(activation(a, "hardswish"), F.hardswish(ta).numpy(), 1e-6, "hardswish")
    assert_relative(activation(a, "sigmoid"), torch.sigmoid(ta).numpy(), 1e-6, "sigmoid")
    assert_relative(add(a, b, "relu"), F.relu(ta + tb).numpy(), 1e-6, "add")
    assert_relative(global_avg_pool(a), ta.mean((2, 3), keepdim=True).numpy(), 1e-6, "mean")
    assert_relative(channel_scale(a, gate), (ta * torch.sigmoid(tg)).numpy(), 1e-6, "channel_scale")
    coarse = rand(rng, 2, 5, 5, 4)
    want = F.relu(F.interpolate(torch.from_numpy(coarse), size=(9, 7), mode="bilinear", align_corners=False) + tb).numpy()
    assert_relative(resize_bilinear_add(coarse, b, "relu"), want, 1e-6, "resize_bilinear_add")


def test_window_of_a_view_and_errors(rng):
    buffer = np.zeros((2, 10, 8, 9), np.float32)
    assert as_window(buffer[:, 3:7, 2:6, 1:8])[1:] == (3, 2, 1)
    assert as_window(buffer)[1:] == (0, 0, 0)
    with pytest.raises(ShapeError):
        as_window(buffer[:, :, :, ::2])  # strided columns are no window of a buffer
    with pytest.raises(ShapeError):
        add(rand(rng, 1, 2, 3, 3), rand(rng, 1, 2, 3, 4))
    with pytest.raises(ShapeError):
        channel_scale(rand(rng, 1, 2, 3, 3), rand(rng, 1, 3, 1, 1))
    with pytest.raises(ShapeError):
        resize_bilinear_add(rand(rng, 1, 2, 3, 3), rand(rng, 1, 3, 6, 6))


@pytest.mark.skipif(not USE_NUMBA, reason="calls the Numba kernels directly")
def test_depthwise_kernels_directly(rng):
    """Both depthwise kernels on the same shapes, whichever the dispatch would pick."""
    from nnlite.ops.depthwise_conv2d import _depthwise3x3_kernel, _depthwise_rows_kernel

    for n, c, h, w, k, s, p, d in DEPTHWISE_CASES:
        if k != 3:
            continue
        x, weight, bias = rand(rng, n, c, h, w), rand(rng, c, 1, 3, 3), rand(rng, c)
        want = depthwise_conv2d_reference(x, weight, bias, s, p, d, "relu")
        xpad = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
        for kernel in (_depthwise3x3_kernel, _depthwise_rows_kernel):
            out = np.empty_like(want)
            kernel(xpad, 0, 0, 0, weight, bias, s, s, d, d, want.shape[2], want.shape[3], 1, out, 0, 0, 0)
            assert_relative(out, want, 1e-5, kernel.__name__)


@pytest.mark.parametrize("sizes", [(4, 4, 8, 8), (3, 5, 7, 9), (8, 6, 8, 6), (1, 1, 3, 2)], ids=lambda s: "{}x{}-to-{}x{}".format(*s))
def test_resize_softmax2_and_feather_combine(rng, sizes):
    from nnlite.ops.feather_combine import feather_combine, feather_combine_reference
    from nnlite.ops.resize_softmax2 import resize_softmax2, resize_softmax2_reference

    h, w, hh, ww = sizes
    logits = rand(rng, 2, 2, h, w, scale=4)
    scores = resize_softmax2(logits, (hh, ww))
    assert_relative(scores, resize_softmax2_reference(logits, (hh, ww)), 1e-6, "resize_softmax2")
    coefficients = rand(rng, 2, 3, hh, ww)
    assert_relative(feather_combine(coefficients, scores), feather_combine_reference(coefficients, scores), 1e-6, "feather_combine")
    torch = pytest.importorskip("torch")
    import torch.nn.functional as F

    want = torch.softmax(F.interpolate(torch.from_numpy(logits), size=(hh, ww), mode="bilinear", align_corners=False), 1)
    assert_relative(scores, want.numpy(), 1e-6, "resize_softmax2 vs torch")
