"""The training scenes' renderer (convert/people_data.py; numpy and OpenCV only): every kind of scene,
the draped flags among them, comes out as a size x size RGB picture, deterministic per seed."""
import numpy as np
import pytest

from convert.people_data import SampleMaker, _draped_flag, render_background


def test_rendered_scenes_are_pictures_and_repeat_per_seed():
    for seed in range(60):  # enough seeds to draw every kind of scene, flags included
        scene = render_background(np.random.default_rng(seed), 96)
        assert scene.shape == (96, 96, 3) and scene.dtype == np.uint8
        np.testing.assert_array_equal(scene, render_background(np.random.default_rng(seed), 96))


def test_draped_flag_has_stripes_and_folds():
    rng = np.random.default_rng(3)
    wall = np.full((128, 128, 3), 128, np.uint8)
    flags = [_draped_flag(rng, wall, lambda: tuple(int(c) for c in rng.integers(0, 256, 3))) for _ in range(12)]
    assert all(f.shape == wall.shape and f.dtype == np.uint8 for f in flags)
    # most cover the wall with something that varies down a column (the stripes), none leaves it untouched
    assert sum(np.abs(np.diff(f[:, -1].astype(int), axis=0)).sum() > 500 for f in flags) >= 6
    assert all((f != wall).any() for f in flags)


def test_swap_replaces_the_photos_own_background_and_keeps_the_person():
    size = 64
    yy, xx = np.mgrid[0:96, 0:96]
    disc = ((yy - 60) ** 2 + (xx - 48) ** 2 < 35 ** 2).astype(np.uint8) * 255
    photo = np.where(disc[..., None] > 0, np.uint8([255, 0, 255]), np.uint8([0, 255, 255]))  # magenta person, cyan wall
    street = {"image": np.full((80, 80, 3), 90, np.uint8), "alpha": np.zeros((80, 80), np.uint8)}
    maker = SampleMaker([{"id": "p", "image": photo, "alpha": disc}], [street], size, rendered=4, seed=0)
    rng = np.random.default_rng(1)
    for _ in range(20):
        image, alpha = maker._swap_background(maker.people[0], rng)
        assert image.shape == (size, size, 3) and alpha.shape == (size, size)
        person, wall = alpha > 0.999, alpha < 0.001
        assert person.any() and wall.any()
        np.testing.assert_allclose(image[person], np.broadcast_to([1, 0, 1], image[person].shape), atol=2e-3)
        cyan = (np.abs(image[wall] - [0, 1, 1]).max(axis=1) < 0.02).mean()
        assert cyan < 0.01, "the photo's own wall shows through the new background"


def test_zoom_bias_scales_the_person_in_pixels():
    # the person fills a square photo but for a thin frame; at zoom 1 about the photo's centre the
    # photo just covers the crop, at zoom bias b its sides are b times as long: b^2 the area
    size = 64
    person = np.zeros((96, 96), np.uint8)
    person[4:-4, 4:-4] = 255
    photo = np.full((96, 96, 3), 200, np.uint8)
    street = {"image": np.full((80, 80, 3), 90, np.uint8), "alpha": np.zeros((80, 80), np.uint8)}
    areas = {}
    for bias in (1.0, 0.5):
        maker = SampleMaker([{"id": "p", "image": photo, "alpha": person}], [street], size, rendered=4, seed=0, zoom_bias=bias)
        _, alpha, inside = maker._warp(photo, person, np.random.default_rng(5), 1.0, 0.0, (47.5, 47.5), False)
        areas[bias] = alpha.sum()
        assert (inside.mean() > 0.95) == (bias == 1.0), "only the biased photo leaves room for surroundings"
    expected = (size * 88 / 96) ** 2
    assert abs(areas[1.0] - expected) < 0.03 * expected
    assert abs(areas[0.5] - expected / 4) < 0.05 * expected / 4


def test_person_p_draws_photos_in_the_given_shares():
    street = {"image": np.full((80, 80, 3), 90, np.uint8), "alpha": np.zeros((80, 80), np.uint8)}
    people = [{"id": str(n), "image": np.zeros((8, 8, 3), np.uint8), "alpha": np.zeros((8, 8), np.uint8)} for n in range(4)]
    maker = SampleMaker(people, [street], 32, rendered=2, person_p=[0.1, 0.1, 0.1, 0.7])
    rng = np.random.default_rng(0)
    drawn = np.bincount([int(maker._person(rng)["id"]) for _ in range(4000)], minlength=4) / 4000
    np.testing.assert_allclose(drawn, [0.1, 0.1, 0.1, 0.7], atol=0.03)
    plain = SampleMaker(people, [street], 32, rendered=2)  # no shares: the draw runs before them made
    assert [plain._person(np.random.default_rng(s))["id"] for s in range(20)] == \
        [people[np.random.default_rng(s).integers(4)]["id"] for s in range(20)]
    with pytest.raises(ValueError, match="3 probabilities for 4 photos"):
        SampleMaker(people, [street], 32, rendered=2, person_p=[1, 1, 1])
