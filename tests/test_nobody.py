"""A photo with nobody in it gives an almost empty matte: the whole-frame network must be able to say
"nobody here". The scenes are drawn here, not by the training data's renderer (convert/people_data.py),
in the forms the paper's network mistakes for a person: a banner of large text, shop shelves, a tiled
floor, out-of-focus lights. fdm-128 is shown for contrast: it has no global view and fails them."""
import cv2
import numpy as np
import pytest

from matting import SHIPPED_WEIGHTS
from matting.api import Matter

WHOLE_FRAME_NETWORK = "fdm-people-256"


def scenes():
    h, w = 480, 640
    rng = np.random.default_rng(3)
    banner = np.zeros((h, w, 3), np.uint8)
    banner[:] = np.linspace(40, 160, h, dtype=np.float32)[:, None, None] * np.array([1.0, 0.8, 0.6], np.float32)
    cv2.rectangle(banner, (20, 60), (620, 260), (30, 30, 160), -1)
    cv2.putText(banner, "ANNUAL", (40, 150), cv2.FONT_HERSHEY_TRIPLEX, 3.2, (240, 240, 240), 7, cv2.LINE_AA)
    cv2.putText(banner, "MEETING 2026", (40, 240), cv2.FONT_HERSHEY_DUPLEX, 2.4, (0, 220, 255), 6, cv2.LINE_AA)
    cv2.rectangle(banner, (0, 380), (w, h), (60, 50, 45), -1)
    shelves = np.full((h, w, 3), 200, np.uint8)
    for y in range(90, h, 100):
        cv2.rectangle(shelves, (0, y), (w, y + 8), (90, 70, 60), -1)
        x = 5
        while x < w:
            bw, bh = int(rng.integers(20, 70)), int(rng.integers(30, 85))
            cv2.rectangle(shelves, (x, y - bh), (x + bw, y), tuple(int(c) for c in rng.integers(0, 256, 3)), -1)
            x += bw + 3
    floor = np.full((h, w, 3), (180, 190, 200), np.uint8)
    cv2.fillPoly(floor, [np.array([[0, h], [w, h], [w - 120, 260], [120, 260]], np.int32)], (120, 140, 150))
    for k in range(9):
        cv2.line(floor, (int(k * w / 8), h), (int(120 + k * (w - 240) / 8), 260), (80, 90, 100), 2)
    for y in (290, 330, 390, 470):
        cv2.line(floor, (0, y), (w, y), (80, 90, 100), 2)
    cv2.rectangle(floor, (270, 90), (370, 260), (60, 80, 120), -1)
    lights = np.full((h, w, 3), 25, np.uint8)
    for _ in range(25):
        centre = tuple(int(v) for v in rng.integers(0, (w, h)))
        cv2.circle(lights, centre, int(rng.integers(15, 60)), tuple(int(c) for c in rng.integers(60, 256, 3)), -1)
    lights = cv2.GaussianBlur(lights, (0, 0), 12)
    return {"banner": banner, "shelves": shelves, "floor": floor, "lights": lights}


@pytest.fixture(scope="module")
def whole_frame():
    return Matter(WHOLE_FRAME_NETWORK, threads=1)


@pytest.mark.parametrize("scene", sorted(scenes()))
def test_nobody_gives_an_almost_empty_matte(whole_frame, scene):
    alpha = whole_frame.predict(scenes()[scene])
    assert alpha.mean() < 0.05, f"{scene}: mean alpha {alpha.mean():.3f} with nobody in the picture"


def test_the_paper_network_cannot_say_nobody():
    """Why the whole-frame network exists (and that the scenes above are not trivially empty)."""
    paper = Matter("fdm-128", threads=1)
    means = [paper.predict(image).mean() for image in scenes().values()]
    assert max(means) > 0.3
    assert WHOLE_FRAME_NETWORK in SHIPPED_WEIGHTS
