"""max_pool2d, concat, softmax, resize_bilinear, box_filter, batch-norm folding vs references and torch."""
import numpy as np
import pytest
from conftest import assert_close

from nnlite import ShapeError
from nnlite._jit import USE_NUMBA
from nnlite.ops import box_filter, concat, fold_batch_norm, max_pool2d, resize_bilinear, softmax
from nnlite.ops.batch_norm import batch_norm_reference
from nnlite.ops.box_filter import _box_filter_numpy, box_filter_reference
from nnlite.ops.concat import concat_reference
from nnlite.ops.conv2d import conv2d_reference
from nnlite.ops.max_pool2d import _max_pool2d_numpy, max_pool2d_reference
from nnlite.ops.resize_bilinear import _resize_bilinear_numpy, resize_bilinear_reference, source_coordinates
from nnlite.ops.softmax import _softmax_numpy, softmax_reference

SIZES = [(1, 1), (2, 3), (5, 5), (7, 4), (16, 12), (33, 17)]
size_id = lambda s: f"{s[0]}x{s[1]}"


def grid(h, w, channels=2, batch=1):
    """Distinct values 1..N, so a wrong neighbour or border is visible."""
    return np.arange(1, batch * channels * h * w + 1, dtype=np.float32).reshape(batch, channels, h, w)


# ---- exp_float32 (the vectorisable exp of the sigmoid and the softmaxes) ----
@pytest.mark.skipif(not USE_NUMBA, reason="an inline Numba function; the NumPy paths call np.exp")
def test_exp_float32_within_4e7_relative_of_float64_exp(rng):
    from nnlite.ops.exp import _exp_array_kernel, exp_float32_reference

    x = np.concatenate([np.linspace(-120, 120, 480_001), rng.standard_normal(100_000) * 10,
                        [0.0, -0.0, 1e-8, -1e-8, 88.3, 88.4, -87.3, -87.4, 1e30, -1e30]]).astype(np.float32)
    got = _exp_array_kernel(x, np.empty_like(x))
    want = exp_float32_reference(x).astype(np.float64)
    relative = np.abs(got - want) / want
    assert np.all(np.isfinite(got)) and np.all(got > 0)
    assert relative.max() <= 4e-7, f"max relative error {relative.max():.2e} at x = {x[relative.argmax()]}"
    assert np.all(got[x == 0] == 1.0)


# ---- max_pool2d (exact) ----
@pytest.mark.parametrize("size", SIZES, ids=size_id)
@pytest.mark.parametrize("kernel,stride,padding", [(2, 2, 0), (3, 1, 1), (3, 2, 1), ((2, 3), (1, 2), (1, 0))],
                         ids=["k2s2", "k3s1p1", "k3s2p1", "k2x3-s1x2-p1x0"])
def test_max_pool2d_exact(rng, size, kernel, stride, padding):
    x = rng.standard_normal((2, 3) + size).astype(np.float32)
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
    if size[0] + 2 * (padding if isinstance(padding, int) else padding[0]) < kh or size[1] + 2 * (padding if isinstance(padding, int) else padding[1]) < kw:
        with pytest.raises(ShapeError):
            max_pool2d(x, kernel, stride, padding)
        return
    want = max_pool2d_reference(x, kernel, stride, padding)
    np.testing.assert_array_equal(max_pool2d(x, kernel, stride, padding), want)
    sh, sw = (stride, stride) if isinstance(stride, int) else stride
    ph, pw = (padding, padding) if isinstance(padding, int) else padding
    np.testing.assert_array_equal(_max_pool2d_numpy(x, kh, kw, sh, sw, ph, pw, np.empty_like(want)), want)


def test_max_pool2d_5x5_grid_fixture():
    out = max_pool2d(grid(5, 5, channels=1), 2)
    np.testing.assert_array_equal(out[0, 0], [[7, 9], [17, 19]])


def test_max_pool2d_matches_torch(rng):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((2, 3, 13, 10)).astype(np.float32)
    for args in [(2, 2, 0), (3, 2, 1), (3, 1, 1)]:
        np.testing.assert_array_equal(max_pool2d(x, *args), torch.nn.functional.max_pool2d(torch.from_numpy(x), *args).numpy())


# ---- concat (exact) ----
def test_concat_exact(rng):
    parts = [rng.standard_normal((2, c, 5, 3)).astype(np.float32) for c in (1, 3, 2)]
    np.testing.assert_array_equal(concat(parts), concat_reference(parts))
    with pytest.raises(ShapeError, match="must agree"):
        concat([parts[0], rng.standard_normal((2, 1, 4, 3)).astype(np.float32)])


# ---- softmax ----
@pytest.mark.parametrize("size", SIZES, ids=size_id)
def test_softmax_matches_reference(rng, size):
    x = (rng.standard_normal((2, 3) + size) * 30).astype(np.float32)  # large logits: overflow guard
    want = softmax_reference(x)
    assert_close(softmax(x), want, 1e-6, "softmax")
    assert_close(_softmax_numpy(x, np.empty_like(x)), want, 1e-6, "softmax fallback")
    assert_close(softmax(x).sum(axis=1), np.ones((2,) + size, np.float32), 1e-6, "softmax sums")


def test_softmax_matches_torch(rng):
    torch = pytest.importorskip("torch")
    x = (rng.standard_normal((2, 2, 9, 7)) * 5).astype(np.float32)
    assert_close(softmax(x), torch.softmax(torch.from_numpy(x), 1).numpy(), 1e-6, "softmax vs torch")


# ---- resize_bilinear ----
RESIZES = [((4, 3), dict(scale_factor=2)), ((5, 7), dict(scale_factor=2)), ((6, 4), dict(size=(13, 5))),
           ((9, 9), dict(size=(4, 3))), ((1, 1), dict(size=(3, 2))), ((2, 3), dict(size=(1, 1))),
           ((8, 6), dict(scale_factor=0.5)), ((7, 5), dict(size=(7, 5)))]


@pytest.mark.parametrize("align_corners", [False, True], ids=["half-pixel", "align-corners"])
@pytest.mark.parametrize("size,kwargs", RESIZES, ids=[f"{s[0]}x{s[1]}-{list(k.values())[0]}" for s, k in RESIZES])
def test_resize_bilinear_matches_reference_and_torch(rng, size, kwargs, align_corners):
    x = rng.standard_normal((2, 3) + size).astype(np.float32)
    want = resize_bilinear_reference(x, align_corners=align_corners, **kwargs)
    assert_close(resize_bilinear(x, align_corners=align_corners, **kwargs), want, 1e-5, "resize")
    fy = kwargs.get("scale_factor")
    ho, wo = want.shape[2:]
    y = source_coordinates(size[0], ho, align_corners, fy)
    xx = source_coordinates(size[1], wo, align_corners, fy)
    assert_close(_resize_bilinear_numpy(x, *y, *xx, np.empty_like(want)), want, 1e-5, "resize fallback")
    torch = pytest.importorskip("torch")
    expected = torch.nn.functional.interpolate(torch.from_numpy(x), mode="bilinear", align_corners=align_corners, **kwargs).numpy()
    assert_close(want, expected, 1e-5, "resize reference vs torch")


def test_resize_to_same_size_is_identity(rng):
    x = rng.standard_normal((1, 2, 7, 5)).astype(np.float32)
    for align_corners in (False, True):
        np.testing.assert_allclose(resize_bilinear(x, size=(7, 5), align_corners=align_corners), x, atol=1e-6)


# ---- box_filter ----
@pytest.mark.parametrize("size", SIZES, ids=size_id)
@pytest.mark.parametrize("radius", [0, 1, 2, 4, 20])
def test_box_filter_matches_reference(rng, size, radius):
    x = rng.standard_normal((2, 3) + size).astype(np.float32)
    want = box_filter_reference(x, radius)
    assert_close(box_filter(x, radius), want, 1e-5, "box")
    assert_close(_box_filter_numpy(x, radius, np.empty_like(x)), want, 1e-5, "box fallback")


@pytest.mark.skipif(not USE_NUMBA, reason="calls the Numba kernels directly")
@pytest.mark.parametrize("radius", [0, 1, 2, 4, 6])
def test_both_box_kernels_match_reference(rng, radius):
    """The running-sum kernel and the direct one for small radii, whichever box_filter picks."""
    from nnlite.ops.box_filter import _box_filter_kernel, _box_filter_small_kernel

    for size in SIZES:
        x = rng.standard_normal((2, 3) + size).astype(np.float32)
        want = box_filter_reference(x, radius)
        assert_close(_box_filter_kernel(x, radius, np.empty_like(x)), want, 1e-5, "running sums")
        assert_close(_box_filter_small_kernel(x, radius, np.empty_like(x)), want, 1e-5, "direct")


def test_box_filter_keeps_a_constant():
    x = np.full((1, 2, 13, 9), 0.37, np.float32)
    assert_close(box_filter(x, 3), x, 1e-6, "constant")


def test_box_filter_matches_torch_avg_pool(rng):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((1, 3, 17, 12)).astype(np.float32)
    for r in (1, 2, 3):
        want = torch.nn.functional.avg_pool2d(torch.from_numpy(x), 2 * r + 1, 1, r, count_include_pad=False).numpy()
        assert_close(box_filter(x, r), want, 1e-5, f"box r={r} vs torch")


def test_box_filter_rejects_bad_radius(rng):
    with pytest.raises(ShapeError, match="radius"):
        box_filter(np.zeros((1, 1, 3, 3), np.float32), -1)


# ---- batch norm folding ----
def test_fold_batch_norm_matches_conv_then_bn(rng):
    x = rng.standard_normal((1, 4, 6, 5)).astype(np.float32)
    weight = (rng.standard_normal((3, 4, 3, 3)) / 6).astype(np.float32)
    mean, var = rng.standard_normal(3).astype(np.float32), rng.uniform(0.5, 2, 3).astype(np.float32)
    gamma, beta = rng.uniform(0.5, 1.5, 3).astype(np.float32), rng.standard_normal(3).astype(np.float32)
    want = batch_norm_reference(conv2d_reference(x, weight, None, 1, 1), mean, var, gamma, beta)
    w2, b2 = fold_batch_norm(weight, None, mean, var, gamma, beta)
    assert_close(conv2d_reference(x, w2, b2, 1, 1), want, 1e-5, "folded BN")
