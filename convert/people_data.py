"""Training samples that teach "person", not "centre of the frame": EG1800 portraits and CCP full-body
photos, cut out and composited onto real streets (CamVid) and rendered text, signs, shelves and
tiles, zoomed out, cropped at any edge, mosaicked, and frames with nobody at all.

Data folders (default ../shared/data/<name>):
    eg1800/  images/*.jpg, alpha/*.png (soft), masks/*.png (0/255), train.txt, unlisted.txt, test.txt
    ccp/     the same layout; train.txt, val.txt
    camvid/  images/*.jpg street frames, people/*.png (0/255: their few pedestrians and cyclists)

Each photo is decoded once into a uint8 cache (long side CACHE_LONG_SIDE) so that a sample costs a
few resizes and blends. A sample is one of (SAMPLE_KINDS, with their shares):

    photo      one person photo, zoomed in or out around a random point (the person cut at any
               edge), rotated a little, mirrored; borders are never replicated: a zoom-out lands
               the photo on a street or rendered background
    composite  1-3 cut-out people (pasted with their soft alpha, each 20-110 % of the frame high,
               anywhere, partly outside) on a street frame, a rendered background or another
               person photo (whose person stays labelled)
    mosaic     a person photo with a second one pasted smaller, both labelled
    swap       a person photo framed as in `photo` (cut by the frame's edges) whose background is
               replaced, through its soft alpha, by a street frame or a rendered scene: the person
               stays large and cut off by the frame with a flag, banner or shelf right behind;
               the shipped network took flags behind portraits and dark clothes at the frame's
               edge for the wrong side
    nobody     a street frame (its own small pedestrians labelled) or a rendered background: the
               network must be allowed to say "nobody here"

Labels: alpha (soft, float in [0, 1]) and mask = alpha >= 0.5; composites combine them by the
same "over" rule as the pixels.
"""
from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

import cv2
import numpy as np

SHARED_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
CACHE_LONG_SIDE = 384
SAMPLE_KINDS = {"photo": 0.27, "composite": 0.30, "mosaic": 0.10, "swap": 0.15, "nobody": 0.18}
WORDS = ("SALE", "OPEN", "CAFE", "NEWS", "BANK", "EXIT", "STOP", "HOTEL", "PIZZA", "50%", "NEW",
         "MARKET", "BOOKS", "SHOP", "TAXI", "WELCOME", "CONFERENCE", "2026", "SUMMIT", "FASHION")


def read_ids(data_dir: Path, list_name: str) -> list[str]:
    return (Path(data_dir) / list_name).read_text().split()


def _cached(path: Path, build):
    if path.exists():
        with np.load(path, allow_pickle=False) as cached:
            return {k: cached[k] for k in cached.files}
    arrays = build()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)
    return arrays


def _cache_key(*parts) -> str:
    return hashlib.sha1("|".join(str(p) for p in parts).encode()).hexdigest()[:12]


def _fit_long_side(shape, long_side):
    h, w = shape[:2]
    scale = long_side / max(h, w)
    return max(1, round(w * scale)), max(1, round(h * scale))


def load_people(data_dir: Path, list_name: str, cache_dir: Path) -> list[dict]:
    """Person photos of one list: [{"id", "image" (H,W,3 RGB uint8), "alpha" (H,W uint8)}], long side
    CACHE_LONG_SIDE (photos of one folder share one size)."""
    data_dir = Path(data_dir)
    path = Path(cache_dir) / f"people-{data_dir.name}-{Path(list_name).stem}-{CACHE_LONG_SIDE}-{_cache_key(data_dir.resolve(), list_name)}.npz"

    def build():
        ids = read_ids(data_dir, list_name)
        images, alphas = [], []
        for n, image_id in enumerate(ids):
            bgr = cv2.imread(str(data_dir / "images" / f"{image_id}.jpg"), cv2.IMREAD_COLOR)
            alpha = cv2.imread(str(data_dir / "alpha" / f"{image_id}.png"), cv2.IMREAD_GRAYSCALE)
            if bgr is None or alpha is None:
                raise FileNotFoundError(f"{data_dir}: image or alpha missing for id {image_id}")
            size = _fit_long_side(bgr.shape, CACHE_LONG_SIDE)
            if images and size != images[0].shape[1::-1]:
                size = images[0].shape[1::-1]
            images.append(cv2.resize(bgr, size, interpolation=cv2.INTER_AREA)[..., ::-1])
            alphas.append(cv2.resize(alpha, size, interpolation=cv2.INTER_AREA))
            if n % 200 == 0:
                print(f"caching {data_dir.name}/{list_name}: {n}/{len(ids)}", file=sys.stderr, flush=True)
        return {"ids": np.array(ids), "image": np.stack(images), "alpha": np.stack(alphas)}

    arrays = _cached(path, build)
    return [{"id": str(i), "image": im, "alpha": a} for i, im, a in zip(arrays["ids"], arrays["image"], arrays["alpha"])]


def load_streets(data_dir: Path, cache_dir: Path) -> list[dict]:
    """CamVid frames: [{"image" RGB uint8, "alpha" uint8 (its pedestrians, 0/255)}] at full size."""
    data_dir = Path(data_dir)
    path = Path(cache_dir) / f"streets-{data_dir.name}-{_cache_key(data_dir.resolve())}.npz"

    def build():
        names = sorted(p.stem for p in (data_dir / "images").glob("*.jpg"))
        images = [cv2.imread(str(data_dir / "images" / f"{n}.jpg"), cv2.IMREAD_COLOR)[..., ::-1] for n in names]
        people = [cv2.imread(str(data_dir / "people" / f"{n}.png"), cv2.IMREAD_GRAYSCALE) for n in names]
        return {"ids": np.array(names), "image": np.stack(images), "alpha": np.stack(people)}

    arrays = _cached(path, build)
    return [{"id": str(i), "image": im, "alpha": a} for i, im, a in zip(arrays["ids"], arrays["image"], arrays["alpha"])]


def render_background(rng: np.random.Generator, size=CACHE_LONG_SIDE) -> np.ndarray:
    """A size x size RGB uint8 scene of the kind the paper's network mistakes for a person: large
    text on banners, shop signs, shelves of coloured boxes, tiles, over a plain or graded wall; or,
    a third of the time, only the wall (plain, graded, or with soft out-of-focus blobs), so that
    "smooth" does not come to mean "person"."""
    colour = lambda: tuple(int(c) for c in rng.integers(0, 256, 3))
    top, bottom = np.array(colour(), np.float32), np.array(colour(), np.float32)
    if rng.random() < 0.5:  # a gentler gradient: one hue, darker or lighter
        bottom = np.clip(top * rng.uniform(0.5, 1.5), 0, 255)
    ramp = np.linspace(0, 1, size, dtype=np.float32)[:, None, None]
    image = np.ascontiguousarray(np.broadcast_to(top * (1 - ramp) + bottom * ramp, (size, size, 3)).astype(np.uint8))
    if rng.random() < 0.33:
        if rng.random() < 0.5:
            for _ in range(rng.integers(3, 15)):
                centre = tuple(int(v) for v in rng.integers(0, size, 2))
                cv2.circle(image, centre, int(rng.integers(10, 80)), colour(), -1)
            image = cv2.GaussianBlur(image, (0, 0), float(rng.uniform(6, 20)))
        noise = rng.normal(0, rng.uniform(1, 6), image.shape)
        return np.clip(image + noise, 0, 255).astype(np.uint8)
    for _ in range(rng.integers(1, 4)):
        kind = rng.choice(["tiles", "shelves", "banner", "banner", "signs", "stripes", "shapes", "flag", "flag"])
        if kind == "tiles":
            step = int(rng.integers(12, 60))
            for v in range(0, size, step):
                cv2.line(image, (v, 0), (v, size), colour(), int(rng.integers(1, 4)))
                cv2.line(image, (0, v), (size, v), colour(), int(rng.integers(1, 4)))
        elif kind == "shelves":
            step = int(rng.integers(40, 110))
            for y in range(int(rng.integers(0, step)), size, step):
                cv2.rectangle(image, (0, y), (size, y + 6), colour(), -1)
                x = 0
                while x < size:
                    w, h = int(rng.integers(10, 60)), int(rng.integers(15, step - 8))
                    cv2.rectangle(image, (x, y - h), (x + w, y), colour(), -1)
                    x += w + int(rng.integers(0, 6))
        elif kind == "banner":
            y0 = int(rng.integers(0, size - 60))
            cv2.rectangle(image, (0, y0), (size, y0 + int(rng.integers(50, 200))), colour(), -1)
            _text(image, rng, y0 + int(rng.integers(40, 120)), colour(), big=True)
        elif kind == "signs":
            for _ in range(rng.integers(1, 5)):
                x0, y0 = (int(v) for v in rng.integers(0, size - 40, 2))
                w, h = (int(v) for v in rng.integers(40, 200, 2))
                cv2.rectangle(image, (x0, y0), (x0 + w, y0 + h), colour(), -1)
                _text(image, rng, y0 + h * 2 // 3, colour(), big=False, x=x0 + 4)
        elif kind == "flag":  # official portraits stand before draped flags, which the shipped network took for people
            image[:] = _draped_flag(rng, image, colour)
        elif kind == "shapes":  # lights, balloons, dots: round colourful things are not faces
            for _ in range(rng.integers(5, 40)):
                centre = tuple(int(v) for v in rng.integers(0, size, 2))
                axes = tuple(int(v) for v in rng.integers(6, size // 6, 2))
                cv2.ellipse(image, centre, axes, float(rng.uniform(0, 180)), 0, 360, colour(), -1, cv2.LINE_AA)
            if rng.random() < 0.5:
                image[:] = cv2.GaussianBlur(image, (0, 0), float(rng.uniform(2, 14)))
        else:
            step = int(rng.integers(8, 50))
            for x in range(0, size, 2 * step):
                cv2.rectangle(image, (x, 0), (x + step, size), colour(), -1)
    if rng.random() < 0.5:
        image = cv2.GaussianBlur(image, (0, 0), float(rng.uniform(0.5, 2.5)))
    return image


def _draped_flag(rng, image, colour):
    """A striped flag with a starred canton, hung in folds (waved and shaded), over part of the image
    or all of it."""
    size = image.shape[0]
    flag = np.empty_like(image)
    first, second = ((200, 30, 40), (240, 240, 240)) if rng.random() < 0.5 else (colour(), colour())
    step = int(rng.integers(8, 40))
    for y in range(0, size, step):
        flag[y:y + step] = first if (y // step) % 2 == 0 else second
    if rng.random() < 0.7:
        cw, ch = int(size * rng.uniform(0.3, 0.5)), int(size * rng.uniform(0.3, 0.55))
        flag[:ch, :cw] = (40, 50, 120) if rng.random() < 0.6 else colour()
        star = int(rng.integers(8, 20))
        for yy in range(star // 2, ch, star):
            for xx in range(star // 2 + (yy // star % 2) * star // 2, cw, star):
                cv2.circle(flag, (xx, yy), max(1, star // 5), (245, 245, 245), -1)
    if rng.random() < 0.5:
        flag = flag[:, ::-1].copy()
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    period, depth = float(rng.uniform(60, 200)), float(rng.uniform(2, 8))
    phase = float(rng.uniform(0, 2 * np.pi))
    flag = cv2.remap(flag, xs, ys + depth * np.sin(2 * np.pi * xs / period + phase), cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REFLECT)
    shade = 1 - float(rng.uniform(0.1, 0.5)) * (0.5 + 0.5 * np.sin(2 * np.pi * xs / period + phase + 1.0))
    flag = np.clip(flag * shade[..., None], 0, 255).astype(np.uint8)
    if rng.random() < 0.5:  # hung at one side of the scene
        x0 = int(rng.integers(size // 4, 3 * size // 4))
        keep = (xs < x0) if rng.random() < 0.5 else (xs >= size - x0)
        flag = np.where(keep[..., None], flag, image)
    return flag


def _text(image, rng, baseline, colour, big, x=None):
    font = int(rng.choice([cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_TRIPLEX,
                           cv2.FONT_HERSHEY_COMPLEX, cv2.FONT_HERSHEY_PLAIN]))
    words = " ".join(rng.choice(WORDS, size=int(rng.integers(1, 3))))
    scale = float(rng.uniform(2.0, 5.0) if big else rng.uniform(0.8, 2.2))
    x = int(rng.integers(-20, image.shape[1] // 3)) if x is None else x
    cv2.putText(image, words, (x, int(baseline)), font, scale, colour, int(rng.integers(2, 9 if big else 4)), cv2.LINE_AA)


class SampleMaker:
    """Makes augmented (image, alpha) training samples of size x size pixels from the sources."""

    def __init__(self, people: list[dict], streets: list[dict], size: int, rendered: int = 160, seed: int = 0,
                 zoom_bias: float = 1.0, person_p: np.ndarray | None = None):
        """zoom_bias multiplies every photo's zoom. At 1.0 a photo at zoom 1 just covers the crop, so
        with crops wider than the network's inference input (a 3:4 portrait at 256 px long side is
        192 px wide) and zooms of median 1.18, people are trained larger in pixels than the network
        sees them: the shipped weights of 2026-12-07 score better at --size 320 than at 256 (EG1800
        IoU 0.947 against 0.945, CCP 0.914 against 0.900). A bias of 192 / size / 1.18 brings the median
        back (0.85 for 192 px crops, 0.73 for 224).

        person_p: the probability of each person photo being drawn (default: all alike)."""
        self.people, self.streets, self.size, self.zoom_bias = people, streets, size, zoom_bias
        self.person_p = None if person_p is None else np.asarray(person_p, np.float64) / np.sum(person_p)
        if self.person_p is not None and self.person_p.shape != (len(people),):
            raise ValueError(f"person_p holds {self.person_p.size} probabilities for {len(people)} photos")
        rng = np.random.default_rng([seed, 7])
        self.rendered = [render_background(rng) for _ in range(rendered)]
        self.kinds = list(SAMPLE_KINDS)
        self.kind_p = np.array(list(SAMPLE_KINDS.values()))
        self.kind_p /= self.kind_p.sum()

    # -- pieces ------------------------------------------------------------------------------
    def _person(self, rng) -> dict:
        if self.person_p is None:  # the draw every run before person_p made: resumed runs stay exact
            return self.people[rng.integers(len(self.people))]
        return self.people[rng.choice(len(self.people), p=self.person_p)]

    def _warp(self, image, alpha, rng, zoom, angle, centre, flip):
        """The photo scaled by `zoom` (relative to covering the output) and rotated about `centre`
        (in source pixels), landing on the output's centre; pixels outside the photo get alpha -1."""
        s = self.size
        h, w = alpha.shape
        scale = zoom * self.zoom_bias * s / min(h, w)
        matrix = cv2.getRotationMatrix2D(centre, angle, scale)
        matrix[:, 2] += (s / 2 - centre[0], s / 2 - centre[1])
        if flip:
            matrix[0] = -matrix[0]
            matrix[0, 2] += s - 1
        out_image = cv2.warpAffine(image, matrix, (s, s), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        out_alpha = cv2.warpAffine(alpha, matrix, (s, s), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        inside = cv2.warpAffine(np.full((h, w), 255, np.uint8), matrix, (s, s), flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        return out_image.astype(np.float32) / 255, out_alpha.astype(np.float32) / 255, inside.astype(np.float32) / 255

    def _background(self, rng, allow_person=True):
        """A size x size background and its person alpha: a street, a rendered scene, or a person photo."""
        s = self.size
        choice = rng.random()
        if choice < 0.45 or (not allow_person and choice < 0.6):
            frame = self.streets[rng.integers(len(self.streets))]
            return self._random_crop(frame["image"], frame["alpha"], rng)
        if choice < 0.8 or not allow_person:
            scene = self.rendered[rng.integers(len(self.rendered))]
            image, _ = self._random_crop(scene, np.zeros(scene.shape[:2], np.uint8), rng)
            return image, np.zeros((s, s), np.float32)
        person = self._person(rng)
        return self._photo(person, rng, zoom_range=(1.0, 1.6))

    def _random_crop(self, image, alpha, rng):
        s = self.size
        h, w = alpha.shape
        side = int(min(h, w) * rng.uniform(0.5, 1.0))
        y, x = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
        crop = lambda a: cv2.resize(a[y:y + side, x:x + side], (s, s), interpolation=cv2.INTER_AREA)
        image, alpha = crop(image).astype(np.float32) / 255, crop(alpha).astype(np.float32) / 255
        if rng.random() < 0.5:
            image, alpha = image[:, ::-1], alpha[:, ::-1]
        return np.ascontiguousarray(image), np.ascontiguousarray(alpha)

    def _photo(self, person, rng, zoom_range=(0.7, 2.0)):
        """A person photo zoomed (below 1: smaller than the frame, on a real background), rotated a
        little, mirrored, centred on a random point of the photo (so any edge may cut the person)."""
        h, w = person["alpha"].shape
        zoom = float(np.exp(rng.uniform(np.log(zoom_range[0]), np.log(zoom_range[1]))))
        centre = (float(rng.uniform(0.2, 0.8) * w), float(rng.uniform(0.2, 0.8) * h))
        angle = float(rng.normal(0, 8)) if rng.random() < 0.7 else 0.0
        image, alpha, inside = self._warp(person["image"], person["alpha"], rng, zoom, angle, centre, rng.random() < 0.5)
        if inside.min() < 1.0:  # the photo does not cover the frame: real surroundings around it
            back, back_alpha = self._background(rng, allow_person=False)
            image = image * inside[..., None] + back * (1 - inside[..., None])
            alpha = alpha * inside + back_alpha * (1 - inside)
        return image, alpha

    def _swap_background(self, person, rng):
        """The person photo as `_photo` frames it (filling the frame), over a new background: the
        photo's own background goes wherever its alpha says so; people in the new one stay labelled."""
        image, alpha = self._photo(person, rng, zoom_range=(1.0, 1.8))
        back, back_alpha = self._background(rng, allow_person=False)
        keep = alpha[..., None]
        return image * keep + back * (1 - keep), alpha + back_alpha * (1 - alpha)

    def _paste_cutout(self, image, alpha, person, rng):
        """Pastes a person cut out by its soft alpha: height 20-110 % of the frame, anywhere."""
        s = self.size
        a = person["alpha"]
        rows, cols = np.nonzero(a > 25)
        if rows.size == 0:
            return image, alpha
        y0, y1, x0, x1 = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
        height = rng.uniform(0.2, 1.1) * s
        scale = height / (y1 - y0)
        w, h = max(2, int((x1 - x0) * scale)), max(2, int((y1 - y0) * scale))
        if w > 2 * s:
            return image, alpha
        fg = cv2.resize(person["image"][y0:y1, x0:x1], (w, h), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
        fa = cv2.resize(a[y0:y1, x0:x1], (w, h), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
        if rng.random() < 0.5:
            fg, fa = fg[:, ::-1], fa[:, ::-1]
        fg = _jitter_colour(fg, rng, strength=0.5)
        top = int(rng.integers(-h // 3, s - h // 2)) if h < s else int(rng.integers(-h // 3, 1))
        left = int(rng.integers(-w // 3, s - w // 2 + 1))
        ty0, tx0 = max(top, 0), max(left, 0)
        ty1, tx1 = min(top + h, s), min(left + w, s)
        if ty1 <= ty0 or tx1 <= tx0:
            return image, alpha
        sy, sx = ty0 - top, tx0 - left
        piece_a = fa[sy: sy + ty1 - ty0, sx: sx + tx1 - tx0, None]
        region = image[ty0:ty1, tx0:tx1]
        region[...] = fg[sy: sy + ty1 - ty0, sx: sx + tx1 - tx0] * piece_a + region * (1 - piece_a)
        label = alpha[ty0:ty1, tx0:tx1]
        label[...] = piece_a[..., 0] + label * (1 - piece_a[..., 0])
        return image, alpha

    # -- kinds -------------------------------------------------------------------------------
    def make(self, rng: np.random.Generator):
        """Returns (image H x W x 3 float32 RGB in [0, 1], alpha H x W float32 in [0, 1])."""
        kind = self.kinds[rng.choice(len(self.kinds), p=self.kind_p)]
        if kind == "photo":
            image, alpha = self._photo(self._person(rng), rng)
        elif kind == "composite":
            image, alpha = self._background(rng)
            image, alpha = image.copy(), alpha.copy()
            for _ in range(rng.integers(1, 4)):
                image, alpha = self._paste_cutout(image, alpha, self._person(rng), rng)
        elif kind == "mosaic":
            image, alpha = self._photo(self._person(rng), rng, zoom_range=(0.8, 1.6))
            small_image, small_alpha = self._photo(self._person(rng), rng, zoom_range=(0.9, 1.3))
            side = int(self.size * rng.uniform(0.3, 0.6))
            y, x = (int(v) for v in rng.integers(0, self.size - side + 1, 2))
            image[y:y + side, x:x + side] = cv2.resize(small_image, (side, side), interpolation=cv2.INTER_AREA)
            alpha[y:y + side, x:x + side] = cv2.resize(small_alpha, (side, side), interpolation=cv2.INTER_AREA)
        elif kind == "swap":
            image, alpha = self._swap_background(self._person(rng), rng)
        else:
            image, alpha = self._background(rng, allow_person=False)
        image = _jitter_colour(image, rng)
        if rng.random() < 0.25:
            image = cv2.GaussianBlur(image, (0, 0), float(rng.uniform(0.3, 1.5)))
        if rng.random() < 0.2:
            image = image + rng.normal(0, rng.uniform(0.005, 0.04), image.shape).astype(np.float32)
        if rng.random() < 0.05:
            image = np.repeat(image.mean(2, keepdims=True), 3, 2)
        return np.clip(image, 0, 1).astype(np.float32), np.clip(alpha, 0, 1).astype(np.float32)

    def batch(self, rng: np.random.Generator, count: int):
        """NCHW float32 images in [0, 1], N1HW float32 alpha, NHW int64 masks (alpha >= 0.5)."""
        samples = [self.make(rng) for _ in range(count)]
        images = np.ascontiguousarray(np.stack([s[0] for s in samples]).transpose(0, 3, 1, 2))
        alphas = np.stack([s[1] for s in samples])[:, None]
        return images, alphas, (alphas[:, 0] >= 0.5).astype(np.int64)


def _jitter_colour(image, rng, strength=1.0):
    gain = 1 + strength * (rng.uniform(0.7, 1.3) * rng.uniform(0.9, 1.1, size=3) - 1)
    contrast = 1 + strength * (rng.uniform(0.7, 1.3) - 1)
    shift = strength * rng.uniform(-0.1, 0.1)
    return np.clip(((image - 0.5) * contrast + 0.5 + shift) * gain, 0, 1).astype(np.float32)


def validation_set(data_dir: Path, list_name: str, cache_dir: Path, long_side: int = 256, multiple: int = 32):
    """A list's photos resized (no augmentation) so the long side is `long_side` and both sides are
    multiples of `multiple`; one array per folder since photos of one folder share one size."""
    people = load_people(data_dir, list_name, cache_dir)
    h, w = people[0]["alpha"].shape
    scale = long_side / max(h, w)
    size = (max(multiple, round(w * scale / multiple) * multiple), max(multiple, round(h * scale / multiple) * multiple))
    resize = lambda a: cv2.resize(a, size, interpolation=cv2.INTER_AREA)
    images = np.stack([resize(p["image"]) for p in people]).astype(np.float32).transpose(0, 3, 1, 2) / 255
    alphas = np.stack([resize(p["alpha"]) for p in people]).astype(np.float32)[:, None] / 255
    return np.ascontiguousarray(images), alphas
