"""convert/varied_set.py writes a folder matting.evaluate scores, the same pictures for the same seed."""
import cv2
import numpy as np
import pytest

pytest.importorskip("torch")  # the tiny data root comes from the training tests, which need torch

from convert import varied_set  # noqa: E402
from matting.evaluate import load_example, parse_set  # noqa: E402
from test_train_encoder_decoder import _data_root  # noqa: E402


def test_varied_set_is_a_folder_evaluate_reads_and_repeats_per_seed(tmp_path):
    root = _data_root(tmp_path)
    for name in ("a", "b"):
        varied_set.main(["--out", str(tmp_path / name), "--data-root", str(root), "--cache", str(tmp_path / "cache"),
                         "--count", "8", "--size", "64"])
    name, folder, ids = parse_set(f"varied={tmp_path / 'a'}:ids.txt")
    assert (name, len(ids)) == ("varied", 8)
    people = 0
    for image_id in ids:
        image, alpha, mask = load_example(folder, image_id)
        assert image.shape == (64, 64, 3) and alpha.shape == mask.shape == (64, 64)
        np.testing.assert_array_equal(mask, alpha >= 0.5)
        people += mask.any()
        again = cv2.imread(str(tmp_path / "b" / "images" / f"{image_id}.png"))
        np.testing.assert_array_equal(image, again)
    assert people > 0
