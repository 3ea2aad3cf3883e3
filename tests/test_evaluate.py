"""The evaluation metrics on hand-made mattes whose right answers are known."""
import numpy as np

from matting.evaluate import edge_band, metrics


def square_mask(size=64, lo=16, hi=48):
    mask = np.zeros((size, size), bool)
    mask[lo:hi, lo:hi] = True
    return mask


def test_edge_band_is_the_outline_widened_both_ways():
    band = edge_band(square_mask(), width=4)
    assert band[16, 32] and band[19, 32] and band[12, 32]  # on, 4 inside and 4 outside the top edge
    assert not band[20, 32] and not band[11, 32]
    assert not band[32, 32] and not band[2, 2]  # the centre and the far corner


def test_perfect_matte_scores_zero_error_and_full_iou():
    mask = square_mask()
    m = metrics(mask.astype(np.float32), mask.astype(np.float64), mask)
    assert m["mse"] == m["sad"] == m["grad"] == m["mse_edge"] == 0.0 and m["iou"] == 1.0


def test_edge_error_counts_only_near_the_outline():
    mask = square_mask()
    truth = mask.astype(np.float64)
    far = truth.copy()
    far[30:34, 30:34] = 0.0  # a hole in the middle of the subject: a region error
    band = edge_band(mask, width=4)
    m = metrics(far.astype(np.float32), truth, mask, band)
    assert m["mse"] == 16 / 64 ** 2 and m["mse_edge"] == 0.0
    near = truth.copy()
    near[16, 20:24] = 0.0  # four pixels of the outline itself
    m = metrics(near.astype(np.float32), truth, mask, band)
    assert m["mse"] == m["mse_edge"] == 4 / 64 ** 2
