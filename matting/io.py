"""Reading images and writing outputs safely: every failure is a one-line InputError, and outputs
appear only complete (written under a temporary name, then renamed)."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import cv2
import numpy as np

from matting.api import InputError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pnm"}
VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg"}
MAX_PIXELS = 120_000_000  # a 10000 x 10000 photo fits; beyond, memory for the full-size matte runs out


def read_image(path: Path, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Image as cv2 gives it with IMREAD_UNCHANGED (gray, BGR or BGRA; uint8 or uint16)."""
    if not path.exists():
        raise InputError(f"{path}: no such file; check the path")
    if path.is_dir():
        raise InputError(f"{path}: is a folder; pass the folder itself to process every image in it")
    try:
        data = np.fromfile(str(path), np.uint8)
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror}); check its permissions") from None
    if data.size == 0:
        raise InputError(f"{path}: empty file; it holds no image")
    if data[:3].tobytes() == b"\xff\xd8\xff" and data[-2:].tobytes() != b"\xff\xd9":
        # libjpeg would decode a cut-off JPEG into a half-gray picture with only a warning
        raise InputError(f"{path}: truncated JPEG (no end marker); re-copy or re-export the file")
    header = cv2.imdecode(data, cv2.IMREAD_REDUCED_GRAYSCALE_8) if data.size > 64 * 1024 * 1024 else None
    if header is not None and header.size * 64 > max_pixels:
        raise InputError(f"{path}: image of about {header.size * 64 / 1e6:.0f} megapixels is larger than the "
                         f"{max_pixels / 1e6:.0f} MP limit; downscale it first or raise --max-pixels")
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if image is None:
        raise InputError(f"{path}: not a readable image (unknown format or corrupt data); use a JPEG or PNG file")
    if image.shape[0] * image.shape[1] > max_pixels:
        raise InputError(f"{path}: {image.shape[1]}x{image.shape[0]} is larger than the {max_pixels / 1e6:.0f} MP limit; "
                         f"downscale it first or raise --max-pixels")
    return image


def write_image(path: Path, image: np.ndarray) -> None:
    suffix = path.suffix.lower() or ".png"
    ok, encoded = cv2.imencode(suffix, image)
    if not ok:
        raise InputError(f"{path}: cannot encode an image as {suffix}; use .png or .jpg")
    write_bytes_atomically(path, encoded.tobytes())


def write_bytes_atomically(path: Path, data: bytes) -> None:
    directory = path.parent if str(path.parent) else Path(".")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise InputError(f"{path}: cannot write here ({exc.strerror}); choose another --output") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except OSError as exc:
        os.unlink(tmp)
        raise InputError(f"{path}: cannot write ({exc.strerror}); choose another --output") from None


def list_images(folder: Path, recursive: bool) -> list[Path]:
    pattern = "**/*" if recursive else "*"
    return sorted(p for p in folder.glob(pattern) if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                  and not p.name.startswith("."))
