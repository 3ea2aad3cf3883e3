"""EG1800 portraits for training: a decoded cache and the paper's augmentations.

The data folder (default ../shared/data/eg1800) holds images/NNNNN.jpg, masks/NNNNN.png (0/255),
alpha/NNNNN.png (soft pseudo-labels) and the id lists train.txt, test.txt, unlisted.txt.
JPEG decoding and the resize from 600x800 dominate a naive loader, so every image is decoded once
into a small uint8 cache (CACHE_WIDTH x CACHE_HEIGHT, 1.5x the training size so that the largest
zoom never upsamples); augmentation then costs one warpAffine per sample.
"""
from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

import cv2
import numpy as np

DEFAULT_DATA_DIR = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "eg1800"
TRAIN_WIDTH, TRAIN_HEIGHT = 96, 128
CACHE_WIDTH, CACHE_HEIGHT = 144, 192


def read_ids(data_dir: Path, list_name: str) -> list[str]:
    return (Path(data_dir) / list_name).read_text().split()


def _cache_path(data_dir: Path, list_name: str, cache_dir: Path) -> Path:
    key = hashlib.sha1(f"{Path(data_dir).resolve()}|{list_name}|{CACHE_WIDTH}x{CACHE_HEIGHT}".encode()).hexdigest()[:12]
    return Path(cache_dir) / f"eg1800-{Path(list_name).stem}-{CACHE_WIDTH}x{CACHE_HEIGHT}-{key}.npz"


def load_split(data_dir: Path, list_name: str, cache_dir: Path) -> dict[str, np.ndarray]:
    """Returns {"ids", "image" (N,H,W,3 RGB uint8), "alpha" (N,H,W uint8), "mask" (N,H,W uint8 0/1)}."""
    path = _cache_path(data_dir, list_name, cache_dir)
    if path.exists():
        with np.load(path, allow_pickle=False) as cached:
            return {k: cached[k] for k in cached.files}
    ids = read_ids(data_dir, list_name)
    images = np.empty((len(ids), CACHE_HEIGHT, CACHE_WIDTH, 3), np.uint8)
    alphas = np.empty((len(ids), CACHE_HEIGHT, CACHE_WIDTH), np.uint8)
    masks = np.empty((len(ids), CACHE_HEIGHT, CACHE_WIDTH), np.uint8)
    size = (CACHE_WIDTH, CACHE_HEIGHT)
    for n, image_id in enumerate(ids):
        bgr = cv2.imread(str(Path(data_dir) / "images" / f"{image_id}.jpg"), cv2.IMREAD_COLOR)
        alpha = cv2.imread(str(Path(data_dir) / "alpha" / f"{image_id}.png"), cv2.IMREAD_GRAYSCALE)
        mask = cv2.imread(str(Path(data_dir) / "masks" / f"{image_id}.png"), cv2.IMREAD_GRAYSCALE)
        if bgr is None or alpha is None or mask is None:
            raise FileNotFoundError(f"{data_dir}: image, alpha or mask missing for id {image_id}")
        images[n] = cv2.resize(bgr, size, interpolation=cv2.INTER_AREA)[..., ::-1]
        alphas[n] = cv2.resize(alpha, size, interpolation=cv2.INTER_AREA)
        masks[n] = cv2.resize(mask, size, interpolation=cv2.INTER_AREA) > 127
        if n % 200 == 0:
            print(f"caching {list_name}: {n}/{len(ids)}", file=sys.stderr, flush=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, ids=np.array(ids), image=images, alpha=alphas, mask=masks)
    os.replace(tmp, path)
    return {"ids": np.array(ids), "image": images, "alpha": alphas, "mask": masks}


PAPER_SCALES, PAPER_MAX_ANGLE = (0.75, 1.5), 30.0


def augment(image, alpha, mask, rng: np.random.Generator, out_size=(TRAIN_WIDTH, TRAIN_HEIGHT),
            scales=PAPER_SCALES, max_angle=PAPER_MAX_ANGLE):
    """Paper 4.1: random mirror, scale 0.75-1.5, rotation +-30 deg, Gaussian blur; plus colour jitter.

    One affine warp maps the cached image onto the training crop; the crop centre moves randomly
    within the zoomed image so that scale > 1 gives random crops and scale < 1 gives a shrunken
    portrait with replicated borders.
    """
    out_w, out_h = out_size
    h, w = alpha.shape
    scale = rng.uniform(*scales) * out_w / w
    angle = rng.uniform(-max_angle, max_angle)
    centre = (w / 2 + rng.uniform(-0.2, 0.2) * w, h / 2 + rng.uniform(-0.2, 0.2) * h)
    matrix = cv2.getRotationMatrix2D(centre, angle, scale)
    matrix[:, 2] += (out_w / 2 - centre[0], out_h / 2 - centre[1])
    if rng.random() < 0.5:
        matrix[0] = -matrix[0]
        matrix[0, 2] += out_w - 1
    warp = lambda a, interp: cv2.warpAffine(a, matrix, out_size, flags=interp, borderMode=cv2.BORDER_REPLICATE)
    image = warp(image, cv2.INTER_LINEAR).astype(np.float32) / 255.0
    alpha = warp(alpha, cv2.INTER_LINEAR).astype(np.float32) / 255.0
    mask = warp(mask, cv2.INTER_NEAREST).astype(np.int64)
    if rng.random() < 0.3:
        image = cv2.GaussianBlur(image, (0, 0), rng.uniform(0.3, 1.5))
    gain = rng.uniform(0.7, 1.3) * rng.uniform(0.9, 1.1, size=3)
    image = np.clip((image - 0.5) * rng.uniform(0.7, 1.3) + 0.5 + rng.uniform(-0.1, 0.1), 0, 1) * gain
    return np.clip(image, 0.0, 1.0).astype(np.float32), alpha, mask


def augmented_batch(split, indices, rng, scales=PAPER_SCALES, max_angle=PAPER_MAX_ANGLE):
    """Returns NCHW float32 images in [0, 1], N1HW float32 alpha, NHW int64 masks (numpy)."""
    samples = [augment(split["image"][i], split["alpha"][i], split["mask"][i], rng, scales=scales, max_angle=max_angle)
               for i in indices]
    images = np.stack([s[0] for s in samples]).transpose(0, 3, 1, 2)
    alphas = np.stack([s[1] for s in samples])[:, None]
    masks = np.stack([s[2] for s in samples])
    return np.ascontiguousarray(images), alphas, masks


def whole_images(split, size=(TRAIN_WIDTH, TRAIN_HEIGHT)):
    """The split resized (no augmentation) to `size`, for validation: NCHW images in [0, 1]."""
    resize = lambda a: cv2.resize(a, size, interpolation=cv2.INTER_AREA)
    images = np.stack([resize(im) for im in split["image"]]).astype(np.float32).transpose(0, 3, 1, 2) / 255.0
    alphas = np.stack([resize(a) for a in split["alpha"]]).astype(np.float32)[:, None] / 255.0
    masks = np.stack([cv2.resize(m, size, interpolation=cv2.INTER_NEAREST) for m in split["mask"]]).astype(np.int64)
    return np.ascontiguousarray(images), alphas, masks
