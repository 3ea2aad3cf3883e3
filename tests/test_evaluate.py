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


def make_set(root, masks):
    import cv2

    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    rng = np.random.default_rng(0)
    for name, mask in masks.items():
        cv2.imwrite(str(root / "images" / f"{name}.png"), rng.integers(0, 255, mask.shape + (3,), dtype=np.uint8))
        cv2.imwrite(str(root / "masks" / f"{name}.png"), mask.astype(np.uint8) * 255)
    return root


def test_score_set_counts_the_failures(tmp_path):
    """A stand-in matter that answers all-person: the image whose mask is full scores IoU 1, the one
    whose mask is a quarter scores 0.25 and counts as a failure (IoU < 0.8); the mask stands in for alpha."""
    from matting.evaluate import parse_set, score_set

    quarter = np.zeros((40, 40), bool)
    quarter[:20, :20] = True
    folder = make_set(tmp_path / "mine", {"full": np.ones((40, 40), bool), "quarter": quarter})

    class AllPerson:
        def predict(self, image):
            return np.ones(image.shape[:2], np.float32)

    name, folder, ids = parse_set(f"mine={folder}")
    r = score_set(AllPerson(), folder, ids)
    assert name == "mine" and r["images"] == 2
    assert r["iou"] == (1.0 + 0.25) / 2 and r["failure_share"] == 0.5
    assert r["mse"] == (0.0 + 0.75) / 2
    assert [(m["id"], m["iou"]) for m in r["per_image"]] == [("full", 1.0), ("quarter", 0.25)]


def test_worst_lists_the_lowest_iou_images_under_their_set(tmp_path, capsys):
    import json

    from matting.evaluate import main

    # fdm-128 on noise: whichever images score lowest, --worst 1 must name the lowest of the JSON's scores
    empty_mask = np.zeros((60, 40), bool)
    empty_mask[:4, :4] = True
    folder = make_set(tmp_path / "mine", {"a": np.ones((60, 40), bool), "b": empty_mask, "c": np.ones((60, 40), bool)})
    out = tmp_path / "r.json"
    main(["--weights", "fdm-128", "--set", f"mine={folder}", "--worst", "1", "--json", str(out)])
    scores = json.loads(out.read_text())["sets"]["mine"]["per_image"]
    lowest = min(scores, key=lambda m: m["iou"])
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].startswith("mine") and len(lines) == 3
    assert lines[2].split()[:2] == [lowest["id"], f"{lowest['iou']:.4f}"]


def test_worst_is_refused_without_sets_or_below_zero(capsys):
    import pytest

    from matting.evaluate import main

    for argv in (["--worst", "2"], ["--set", "eg1800", "--worst", "-1"]):
        with pytest.raises(SystemExit) as stop:
            main(argv)
        assert stop.value.code == 2
    assert "--worst" in capsys.readouterr().err


def test_sets_mode_prints_a_row_per_set(tmp_path, capsys):
    import json

    from matting.evaluate import main

    folder = make_set(tmp_path / "mine", {"a": np.ones((60, 40), bool)})
    out = tmp_path / "r.json"
    main(["--weights", "fdm-128", "--set", f"mine={folder}", "--json", str(out)])
    assert json.loads(out.read_text())["sets"]["mine"]["images"] == 1
    assert capsys.readouterr().out.splitlines()[-1].startswith("mine")


def test_sets_mode_scores_the_clis_default_network_unless_told(tmp_path):
    import json

    from matting import DEFAULT_WEIGHTS
    from matting.evaluate import main

    folder = make_set(tmp_path / "mine", {"a": np.ones((60, 40), bool)})
    out = tmp_path / "r.json"
    main(["--set", f"mine={folder}", "--json", str(out)])
    assert json.loads(out.read_text())["weights"] == str(DEFAULT_WEIGHTS)


def test_comparison_figure_rows_of_other_aspect_ratios_fill_the_width(tmp_path):
    import cv2

    from matting.evaluate import comparison_figure

    square = [np.full((64, 64, 3), 90, np.uint8), np.full((64, 64), 0.5, np.float32)]
    tall = [np.full((80, 40, 3), 90, np.uint8), np.full((80, 40), 0.5, np.float32)]
    comparison_figure([square, tall], tmp_path / "f.png", height=32)
    figure = cv2.imread(str(tmp_path / "f.png"))
    assert figure.shape[1] == 64 and figure.shape[0] == 32 + 64
    assert figure.max() < 200  # no white padding anywhere: no blank panel
