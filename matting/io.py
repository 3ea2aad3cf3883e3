"""Reading images and writing outputs safely: every failure is a one-line InputError, and outputs
appear only complete (written under a temporary name, then renamed)."""
from __future__ import annotations

import errno
import os
import struct
import tempfile
from pathlib import Path

import cv2
import numpy as np

from matting.api import InputError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pnm"}
VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg"}
MAX_PIXELS = 120_000_000  # a 10000 x 10000 photo fits; beyond, memory for the full-size matte runs out


def new_file_mode() -> int:
    """The mode open() gives a new file under the current umask: our outputs are written as private
    (0600) temporary files and get this mode before the rename. Linux states the umask in
    /proc/self/status; elsewhere it can only be read by setting it, for an instant, which a thread
    creating a file at that moment would see: hence asked at each write, not cached at import."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


def image_header_size(data: bytes):
    """(width, height) as the file's header declares them, read without decoding any pixel; None when
    the format is not one of PNG, JPEG, WebP, BMP, TIFF, PNM or the header is damaged (the decoder then
    decides). Lets a small file that declares a huge picture be refused before it takes gigabytes."""
    try:
        if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR":
            return struct.unpack(">II", data[16:24])
        if data[:3] == b"\xff\xd8\xff":
            return _jpeg_size(data)
        if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
            chunk = data[12:16]
            if chunk == b"VP8 ":
                w, h = struct.unpack("<HH", data[26:30])
                return w & 0x3FFF, h & 0x3FFF
            if chunk == b"VP8L":
                bits = int.from_bytes(data[21:25], "little")
                return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
            if chunk == b"VP8X":
                return int.from_bytes(data[24:27], "little") + 1, int.from_bytes(data[27:30], "little") + 1
        if data[:2] == b"BM":
            w, h = struct.unpack("<ii", data[18:26])
            return abs(w), abs(h)
        if data[:4] in (b"II*\x00", b"MM\x00*"):
            return _tiff_size(data)
        if data[:1] == b"P" and data[1:2] in b"123456":
            fields = data[2:256].split(b"#")[0].split()
            return int(fields[0]), int(fields[1])
    except (struct.error, ValueError, IndexError):
        return None
    return None


def _jpeg_size(data: bytes):
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # a start-of-frame segment
            h, w = struct.unpack(">HH", data[i + 5:i + 9])
            return w, h
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # markers without a length
            i += 2
            continue
        i += 2 + struct.unpack(">H", data[i + 2:i + 4])[0]
    return None


def _tiff_size(data: bytes):
    order = "<" if data[:2] == b"II" else ">"
    offset = struct.unpack(order + "I", data[4:8])[0]
    count = struct.unpack(order + "H", data[offset:offset + 2])[0]
    found = {}
    for k in range(count):
        entry = data[offset + 2 + 12 * k:offset + 14 + 12 * k]
        tag, kind = struct.unpack(order + "HH", entry[:4])
        if tag in (256, 257):
            found[tag] = struct.unpack(order + ("H" if kind == 3 else "I"), entry[8:10] if kind == 3 else entry[8:12])[0]
    return (found[256], found[257]) if len(found) == 2 else None


def read_image(path: Path, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Image as cv2 gives it with IMREAD_UNCHANGED (gray, BGR or BGRA; uint8 or uint16).
    The path "-" reads the encoded image from stdin."""
    if str(path) == "-":
        import sys

        return decode_image(np.frombuffer(sys.stdin.buffer.read(), np.uint8), "stdin", max_pixels)
    if not path.exists():
        raise InputError(f"{path}: no such file; check the path")
    if path.is_dir():
        raise InputError(f"{path}: is a folder; pass the folder itself to process every image in it")
    try:
        data = np.fromfile(str(path), np.uint8)
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror}); check its permissions") from None
    return decode_image(data, path, max_pixels)


def decode_image(data: np.ndarray, path, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Encoded bytes -> image, with every check of read_image; `path` names the source in errors."""
    if data.size == 0:
        raise InputError(f"{path}: empty file; it holds no image")
    if data[:3].tobytes() == b"\xff\xd8\xff" and data[-2:].tobytes() != b"\xff\xd9":
        # libjpeg would decode a cut-off JPEG into a half-gray picture with only a warning
        raise InputError(f"{path}: truncated JPEG (no end marker); re-copy or re-export the file")
    declared = image_header_size(data[:65536].tobytes())
    if declared is not None and declared[0] * declared[1] > max_pixels:
        raise InputError(f"{path}: {declared[0]}x{declared[1]} is larger than the {max_pixels / 1e6:.0f} MP limit; "
                         f"downscale it first or raise --max-pixels")
    if declared is None and data.size > 16 * 1024 * 1024:  # a format whose header we do not parse: look at 1/64
        reduced = cv2.imdecode(data, cv2.IMREAD_REDUCED_GRAYSCALE_8)
        if reduced is not None and reduced.size * 64 > max_pixels:
            raise InputError(f"{path}: image of about {reduced.size * 64 / 1e6:.0f} megapixels is larger than the "
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
        os.chmod(tmp, new_file_mode())
        os.replace(tmp, path)
    except OSError as exc:
        os.unlink(tmp)
        todo = "free some space or choose another --output" if exc.errno == errno.ENOSPC else "choose another --output"
        raise InputError(f"{path}: cannot write ({exc.strerror}); {todo}") from None


def list_media(folder: Path, recursive: bool) -> tuple[list[Path], list[Path]]:
    """(images and videos in the folder, other files skipped); hidden files are not counted."""
    pattern = "**/*" if recursive else "*"
    files = sorted(p for p in folder.glob(pattern) if p.is_file() and not p.name.startswith("."))
    media = [p for p in files if p.suffix.lower() in IMAGE_SUFFIXES | VIDEO_SUFFIXES]
    return media, [p for p in files if p not in media]
