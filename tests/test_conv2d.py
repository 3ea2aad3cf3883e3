import numpy as np
import pytest
from conftest import assert_close

from nnlite import ShapeError
from nnlite._jit import USE_NUMBA, VECTORS_512_BIT
from nnlite.ops.conv2d import (_conv2d_numpy, _conv3x3_wide_kernel, _conv_lanes_kernel, _run_pixels, conv2d, conv2d_padded,
                               conv2d_reference, pack_lanes_weights)

TOL = 1e-4  # float32 sums of up to 576 products of unit-scale values

# (N, C, H, W, K, R, S, stride, padding, dilation)
MODEL_SHAPES = [
    (1, 3, 24, 18, 13, 3, 3, 2, 1, 1),     # initial block conv
    (1, 16, 12, 9, 16, 3, 3, 1, 2, 2),     # dense 1
    (1, 32, 12, 9, 16, 3, 3, 1, 4, 4),     # dense 2
    (1, 48, 12, 9, 16, 3, 3, 1, 6, 6),     # dense 3
    (1, 64, 20, 17, 16, 3, 3, 1, 8, 8),    # dense 4
    (1, 64, 12, 9, 2, 3, 3, 1, 1, 1),      # final conv
    (1, 11, 24, 18, 8, 3, 3, 1, 1, 1),     # feathering hidden
    (1, 8, 24, 18, 3, 3, 3, 1, 1, 1),      # feathering coefficients
]
GENERAL_SHAPES = [
    (2, 5, 7, 6, 7, 3, 3, 1, 1, 1),        # batch 2, odd sizes, K not a multiple of 4
    (1, 4, 1, 1, 5, 3, 3, 1, 1, 1),        # 1x1 image
    (1, 2, 2, 3, 3, 3, 3, 1, 1, 1),        # 2x3 image
    (1, 3, 9, 11, 4, 1, 1, 1, 0, 1),       # 1x1 kernel
    (1, 3, 10, 9, 6, 5, 5, 2, 2, 1),       # 5x5 stride 2
    (1, 4, 11, 13, 3, 3, 2, (2, 1), (1, 0), (1, 2)),  # non-square everything
    (1, 6, 9, 9, 5, 3, 3, 1, 0, 3),        # dilation without padding
    (1, 6, 9, 10, 5, 3, 3, 3, 2, 2),       # stride 3 dilated
]
# shapes the lanes kernel takes (>= 12 output channels, >= 16 output columns): partial channel
# block, a row's last block moved left, several input-channel chunks, other kernel sizes
LANES_SHAPES = [
    (2, 16, 9, 37, 20, 3, 3, 1, 2, 2),     # batch 2, 20 = 16 + 4 channels, 37 = 2 x 16 + 5 columns
    (1, 40, 5, 16, 16, 3, 3, 1, 6, 6),     # 40 = 2.5 chunks of 16 input channels, one block per row
    (1, 3, 16, 40, 13, 3, 3, 2, 1, 1),     # the initial conv's stride-2 rewrite at a lanes width
    (1, 8, 5, 70, 12, 1, 1, 1, 0, 1),      # 1x1 kernel, 70 columns = 5 blocks in two groups
    (1, 3, 7, 18, 16, 5, 5, 1, (2, 3), 1), # 5x5, uneven padding
]

# outputs at least 16 wide with few output channels: the rows kernel's blocks of pixels in fours
# (<= 4 channels) and pairs (5-8), counts of blocks that do not divide, a dilated filter
ROWS_SHAPES = [
    (1, 8, 5, 70, 3, 3, 3, 1, 1, 1),       # the coefficients conv at a width of 4 blocks + 6 columns
    (2, 11, 4, 50, 8, 3, 3, 1, 1, 1),      # the hidden conv, 3 blocks + 2 columns
    (1, 6, 3, 33, 6, 3, 3, 1, 2, 2),       # dilated, 6 channels
    (1, 5, 3, 17, 2, 3, 3, 1, 1, 1),       # 2 channels, one block + 1 column
]


def make_case(rng, n, c, h, w, k, r, s):
    x = rng.standard_normal((n, c, h, w)).astype(np.float32)
    weight = (rng.standard_normal((k, c, r, s)) / np.sqrt(c * r * s)).astype(np.float32)
    bias = rng.standard_normal(k).astype(np.float32)
    return x, weight, bias


def case_id(case):
    n, c, h, w, k, r, s, st, p, d = case
    return f"n{n}-{c}to{k}-{h}x{w}-k{r}x{s}-s{st}-p{p}-d{d}".replace(" ", "")


@pytest.mark.parametrize("case", MODEL_SHAPES + GENERAL_SHAPES + LANES_SHAPES + ROWS_SHAPES, ids=case_id)
@pytest.mark.parametrize("relu", [False, True], ids=["linear", "relu"])
def test_conv2d_matches_reference(rng, case, relu):
    n, c, h, w, k, r, s, stride, padding, dilation = case
    x, weight, bias = make_case(rng, n, c, h, w, k, r, s)
    want = conv2d_reference(x, weight, bias, stride, padding, dilation, relu)
    assert_close(conv2d(x, weight, bias, stride, padding, dilation, relu), want, TOL, "conv2d")


@pytest.mark.parametrize("case", MODEL_SHAPES[:3] + GENERAL_SHAPES[:5], ids=case_id)
def test_numpy_fallback_matches_reference(rng, case):
    n, c, h, w, k, r, s, stride, padding, dilation = case
    x, weight, bias = make_case(rng, n, c, h, w, k, r, s)
    want = conv2d_reference(x, weight, bias, stride, padding, dilation)
    xpad = np.pad(x, ((0, 0), (0, 0), (padding,) * 2, (padding,) * 2)) if isinstance(padding, int) else None
    if xpad is None:
        pytest.skip("fallback called with symmetric padding only here")
    st = (stride, stride) if isinstance(stride, int) else stride
    dl = (dilation, dilation) if isinstance(dilation, int) else dilation
    out = np.empty_like(want)
    _conv2d_numpy(xpad, 0, weight, bias, 0, 0, st[0], st[1], dl[0], dl[1], want.shape[2], want.shape[3], False, out)
    assert_close(out, want, TOL, "conv2d numpy fallback")


needs_numba = pytest.mark.skipif(not USE_NUMBA, reason="Numba kernels disabled")


@needs_numba
@pytest.mark.parametrize("case", [c for c in LANES_SHAPES if c[7] == 1 and c[8] != (2, 3)] + [MODEL_SHAPES[4]], ids=case_id)
def test_lanes_and_wide_kernels_match_reference(rng, case):
    """Both stride-1 kernels on the same shapes, called directly: the dispatcher picks one by CPU
    (the lanes kernel needs AVX-512), and each must be right wherever it is picked."""
    n, c, h, w, k, r, s, _, padding, dilation = case
    x, weight, bias = make_case(rng, n, c, h, w, k, r, s)
    want = conv2d_reference(x, weight, bias, 1, padding, dilation, relu=True)
    xpad = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    ho, wo = want.shape[2:]
    taps = np.array([i * dilation * xpad.shape[3] + j * dilation for i in range(r) for j in range(s)], np.int64)
    lanes_bias = np.zeros(-(-k // 16) * 16, np.float32)
    lanes_bias[:k] = bias
    out = np.full_like(want, np.nan)
    _conv_lanes_kernel(xpad, 0, pack_lanes_weights(weight), taps, lanes_bias, 0, 0, ho, wo, True, out)
    assert_close(out, want, TOL, "lanes kernel")
    if r == s == 3:
        out = np.full_like(want, np.nan)
        _conv3x3_wide_kernel(xpad, 0, weight, bias, 0, 0, dilation, ho, wo, True, out)
        assert_close(out, want, TOL, "wide kernel")
    out = np.full_like(want, np.nan)
    _run_pixels(xpad, 0, weight, bias, 0, 0, (dilation, dilation), ho, wo, True, out)
    assert_close(out, want, TOL, "pixels kernel")


@needs_numba
@pytest.mark.parametrize("case", [MODEL_SHAPES[k] for k in (5, 6, 7)] + [GENERAL_SHAPES[0], (1, 11, 5, 30, 8, 3, 3, 1, 2, 2)],
                         ids=case_id)
def test_pixels_kernel_matches_reference(rng, case):
    """The pixels kernel called directly on thin convs (2, 3, 7, 8 output channels), rows that end
    inside a block, a dilated filter; conv2d must not pick it where one block exceeds the output."""
    n, c, h, w, k, r, s, _, padding, dilation = case
    x, weight, bias = make_case(rng, n, c, h, w, k, r, s)
    want = conv2d_reference(x, weight, bias, 1, padding, dilation, relu=True)
    xpad = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    out = np.full_like(want, np.nan)
    _run_pixels(xpad, 0, weight, bias, 0, 0, (dilation, dilation), want.shape[2], want.shape[3], True, out)
    assert_close(out, want, TOL, "pixels kernel")


@needs_numba
def test_lanes_kernel_is_used_where_it_fits():
    """A guard on the dispatch rule: on an AVX-512 machine the dense-block shapes must not silently
    fall back to the slower wide kernel."""
    from nnlite.ops.conv2d import conv2d_kernel_name as kernel
    assert kernel((16, 64, 3, 3), 1, 8, 64) == ("lanes" if VECTORS_512_BIT else "wide")
    assert kernel((13, 3, 3, 3), 2, 1, 64) == "pixels"
    assert kernel((16, 16, 3, 3), 1, 2, 15) == "wide"
    assert kernel((8, 11, 3, 3), 1, 1, 64) == kernel((3, 8, 3, 3), 1, 1, 64) == "pixels"
    assert kernel((2, 64, 3, 3), 1, 1, 64) == "wide"
    assert kernel((16, 16, 5, 5), 2, 1, 64) == "rows"


def test_delta_kernel_is_identity(rng):
    x = rng.standard_normal((1, 3, 7, 5)).astype(np.float32)
    weight = np.zeros((3, 3, 3, 3), np.float32)
    for c in range(3):
        weight[c, c, 1, 1] = 1.0
    for dilation in (1, 2, 4):
        np.testing.assert_array_equal(conv2d(x, weight, None, padding=dilation, dilation=dilation), x)


@pytest.mark.parametrize("width", [8, 21], ids=["wide-kernel", "lanes-kernel"])
def test_writes_into_a_channel_slice_of_a_bordered_buffer(rng, width):
    """The graph's use: read leading channels of a padded buffer, write a strided slice of another."""
    x, weight, bias = make_case(rng, 1, 16, 10, width, 16, 3, 3)
    border = 8
    buffer = np.zeros((1, 40, 10 + 2 * border, width + 2 * border), np.float32)
    buffer[:, 5:21, border:-border, border:-border] = x
    target = np.full((1, 24, 10, width), np.nan, np.float32)
    conv2d_padded(buffer, weight, bias, (border - 4, border - 4), (10, width), dilation=4, out=target[:, 4:20], first_channel=5)
    assert_close(target[:, 4:20], conv2d_reference(x, weight, bias, 1, 4, 4), TOL, "bordered conv")
    assert np.isnan(target[:, :4]).all() and np.isnan(target[:, 20:]).all()


@pytest.mark.parametrize("case", MODEL_SHAPES, ids=case_id)
def test_conv2d_matches_torch(rng, case):
    torch = pytest.importorskip("torch")
    n, c, h, w, k, r, s, stride, padding, dilation = case
    x, weight, bias = make_case(rng, n, c, h, w, k, r, s)
    want = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(weight), torch.from_numpy(bias),
                                      stride, padding, dilation).numpy()
    assert_close(conv2d(x, weight, bias, stride, padding, dilation), want, TOL, "conv2d vs torch")


def test_bad_arguments_raise_one_line_errors(rng):
    x, weight, bias = make_case(rng, 1, 3, 5, 5, 4, 3, 3)
    with pytest.raises(ShapeError, match="float32"):
        conv2d(x.astype(np.float64), weight, bias)
    with pytest.raises(ShapeError, match="input channels"):
        conv2d(x[:, :2], weight, bias)
    with pytest.raises(ShapeError, match="4-D"):
        conv2d(x[0], weight, bias)
    with pytest.raises(ShapeError, match="bias"):
        conv2d(x, weight, bias[:2])
    with pytest.raises(ShapeError, match="too small"):
        conv2d(x[:, :, :1, :1], weight, bias, padding=0)
    with pytest.raises(ShapeError) as info:
        conv2d(x, weight, bias, out=np.empty((1, 4, 5, 5), np.float32))
    assert "\n" not in str(info.value)
