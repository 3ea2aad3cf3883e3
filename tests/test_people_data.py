"""The training scenes' renderer (convert/people_data.py; numpy and OpenCV only): every kind of scene,
the draped flags among them, comes out as a size x size RGB picture, deterministic per seed."""
import numpy as np

from convert.people_data import _draped_flag, render_background


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
