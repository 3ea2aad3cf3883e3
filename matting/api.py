"""Python API: `Matter().predict(image)` -> alpha matte at the image's own resolution.

    from matting import Matter
    m = Matter()                       # shipped weights, inference size from the weights file
    alpha = m.predict(bgr_uint8)       # H x W float32 in [0, 1]
    rgba = m.cutout(bgr_uint8, alpha)  # H x W x 4 uint8 (BGRA, for cv2.imwrite)
    out = m.composite(bgr_uint8, alpha, background="#00ff00")
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import cv2
import numpy as np

import nnlite
from matting import DEFAULT_WEIGHTS, resolve_weights
from matting.networks import open_network
from matting.refine import GUIDED_EPS, GUIDED_RADIUS, guided_upsample, to_gray01
from nnlite.errors import NnliteError
from nnlite.ops.alpha_levels import alpha_to_levels
from nnlite.ops.composite_over import composite_over
from nnlite.ops.resize_area import resize_area_to_planes

REFINE_MODES = ("guided", "none")


class InputError(NnliteError, ValueError):
    """An input image the matter cannot use (wrong dtype, channels or size)."""


def network_size(height: int, width: int, long_side: int, multiple: int = 2) -> tuple[int, int]:
    """(h, w) with the longer side about long_side, aspect kept, both multiples of `multiple` (the
    weights file's size_multiple: 2 for the paper's net, which halves and doubles; 32 for the
    encoder-decoder, whose skip levels then line up exactly)."""
    scale = long_side / max(height, width)
    rounded = lambda v: max(multiple, int(round(v * scale / multiple)) * multiple)
    return rounded(height), rounded(width)


def to_bgr_uint8(image: np.ndarray) -> np.ndarray:
    """Accepts gray, BGR, BGRA, uint8 or uint16 (as cv2.imread(..., IMREAD_UNCHANGED) gives) -> BGR uint8."""
    if not isinstance(image, np.ndarray) or image.ndim not in (2, 3) or image.size == 0:
        raise InputError(f"expected an H x W (gray) or H x W x 3/4 image array, got {getattr(image, 'shape', type(image).__name__)}")
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    elif image.dtype in (np.float32, np.float64):
        top = float(np.nanmax(image))
        if top > 1.0 + 1e-3:  # 0..255 floats would clip to an almost white picture and a garbage matte
            raise InputError(f"float image with values up to {top:.4g}: float images must be in [0, 1]; "
                             f"divide by 255, or pass the uint8 image")
        image = (np.clip(np.nan_to_num(image), 0, 1) * 255 + 0.5).astype(np.uint8)
    elif image.dtype != np.uint8:
        raise InputError(f"unsupported pixel type {image.dtype}; use 8- or 16-bit images")
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    if image.shape[2] == 1:
        return cv2.cvtColor(image[..., 0], cv2.COLOR_GRAY2BGR)
    if image.shape[2] != 3:
        raise InputError(f"expected 1, 3 or 4 channels, got {image.shape[2]}")
    return image


CHANNEL_ORDERS = ("bgr", "rgb")


def as_bgr_input(image, channels: str):
    """A caller's image as the BGR(A) array the matter works on: numpy arrays in `channels` order
    ("bgr", as cv2.imread gives, or "rgb", as PIL, imageio and matplotlib give), or a PIL.Image."""
    if channels not in CHANNEL_ORDERS:
        raise InputError(f"channels {channels!r}: use 'bgr' (OpenCV) or 'rgb' (PIL, imageio)")
    if type(image).__module__.startswith("PIL."):
        has_alpha = image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info)
        image, channels = np.asarray(image.convert("RGBA" if has_alpha else "RGB")), "rgb"
    if channels == "rgb" and isinstance(image, np.ndarray) and image.ndim == 3 and image.shape[2] in (3, 4):
        return image[..., [2, 1, 0, 3][: image.shape[2]]]
    return image


def in_channel_order(picture: np.ndarray, channels: str) -> np.ndarray:
    """A BGR(A) result in the caller's channel order."""
    return np.ascontiguousarray(picture[..., [2, 1, 0, 3][: picture.shape[2]]]) if channels == "rgb" and picture.ndim == 3 else picture


def own_alpha(image: np.ndarray):
    """The input's own alpha channel as float32 in [0, 1] (a PNG cut-out), or None."""
    if image.ndim != 3 or image.shape[2] != 4:
        return None
    scale = 1 / 65535 if image.dtype == np.uint16 else 1 / 255 if image.dtype == np.uint8 else 1.0
    return np.clip(image[..., 3].astype(np.float32) * np.float32(scale), 0, 1)


def cover(background: np.ndarray, height: int, width: int) -> np.ndarray:
    """The background scaled to cover height x width, aspect kept, centre-cropped (never stretched)."""
    bh, bw = background.shape[:2]
    if (bh, bw) == (height, width):
        return background
    scale = max(height / bh, width / bw)
    sw, sh = max(width, int(np.ceil(bw * scale))), max(height, int(np.ceil(bh * scale)))
    scaled = cv2.resize(background, (sw, sh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    y0, x0 = (sh - height) // 2, (sw - width) // 2
    return scaled[y0:y0 + height, x0:x0 + width]


def parse_colour(text: str) -> tuple[int, int, int]:
    """'#rrggbb' or 'r,g,b' -> BGR tuple."""
    text = text.strip()
    try:
        if text.startswith("#") and len(text) == 7:
            r, g, b = (int(text[i: i + 2], 16) for i in (1, 3, 5))
        else:
            r, g, b = (int(v) for v in text.split(","))
        if not all(0 <= v <= 255 for v in (r, g, b)):
            raise ValueError
    except ValueError:
        raise InputError(f"background colour {text!r} is not #rrggbb or r,g,b (0-255)") from None
    return b, g, r


@dataclass
class Timings:
    stages: dict = field(default_factory=dict)

    def add(self, stage: str, seconds: float):
        self.stages[stage] = self.stages.get(stage, 0.0) + seconds


def as_alpha(alpha, shape) -> np.ndarray:
    """An alpha matte of the image's height x width as float32 in [0, 1]: float alpha is taken as
    it is (clipped), uint8 alpha (as read from a PNG) is divided by 255."""
    if not isinstance(alpha, np.ndarray) or alpha.ndim != 2:
        raise InputError(f"alpha: expected an H x W array, got {getattr(alpha, 'shape', type(alpha).__name__)}")
    if alpha.shape != tuple(shape):
        raise InputError(f"alpha: {alpha.shape[0]}x{alpha.shape[1]} is not the image's {shape[0]}x{shape[1]}; "
                         f"use the matte predict() returned for this image")
    if alpha.dtype == np.uint8:
        return alpha.astype(np.float32) * np.float32(1 / 255)
    if alpha.dtype not in (np.float32, np.float64):
        raise InputError(f"alpha: unsupported type {alpha.dtype}; use float in [0, 1] or uint8 in [0, 255]")
    return np.clip(alpha, 0, 1).astype(np.float32, copy=False)


class Matter:
    """Alpha mattes of photos of people: `Matter(weights).predict(image)`.

    weights: a shipped network's name (matting.SHIPPED_WEIGHTS) or an nnlite weights file of either
    network family. size: the network's input long side (default: the size the weights were trained
    for). refine: "guided" carries the small matte to full resolution along the image's edges,
    "none" enlarges it bilinearly. threads: compute threads (default: Numba's, all cores).
    One Matter may be shared by threads: its network runs one call at a time.
    """

    def __init__(self, weights=DEFAULT_WEIGHTS, size: int | None = None, refine: str = "guided", threads: int | None = None,
                 guided_radius: int = GUIDED_RADIUS, guided_eps: float = GUIDED_EPS):
        if size is not None and not (isinstance(size, (int, np.integer)) and 16 <= size <= 4096):
            raise InputError(f"inference size {size!r}: must be an integer from 16 to 4096; leave it out for the weights' own")
        if threads is not None and not (isinstance(threads, (int, np.integer)) and threads >= 1):
            raise InputError(f"threads {threads!r}: must be an integer >= 1; leave it out for all cores")
        self.network = open_network(resolve_weights(weights))
        self._network_lock = threading.Lock()
        self.size = int(size or self.network.attrs["inference_size"])
        if refine not in REFINE_MODES:
            raise InputError(f"refine mode {refine!r} is not one of {', '.join(REFINE_MODES)}")
        self.refine = refine
        self.guided_radius, self.guided_eps = guided_radius, guided_eps
        if threads:
            nnlite.set_num_threads(threads)
        self.timings = Timings()

    def predict_small(self, image_bgr: np.ndarray, channels: str = "bgr"):
        """-> (alpha at the network size, the network-size RGB image in [0, 1], scores S_B/S_F)."""
        t0 = time.perf_counter()
        image_bgr = to_bgr_uint8(as_bgr_input(image_bgr, channels))
        h, w = network_size(*image_bgr.shape[:2], self.size, int(self.network.attrs.get("size_multiple", 2)))
        if h <= image_bgr.shape[0] and w <= image_bgr.shape[1]:
            batch = resize_area_to_planes(image_bgr, h, w, (2, 1, 0))[None]
            rgb01 = batch[0].transpose(1, 2, 0)
        else:  # a photo smaller than the network's input is enlarged
            small = cv2.resize(image_bgr, (w, h), interpolation=cv2.INTER_LINEAR)
            rgb01 = small[..., ::-1].astype(np.float32) * np.float32(1 / 255)
            batch = np.ascontiguousarray(rgb01.transpose(2, 0, 1)[None])
        self.timings.add("preprocess", time.perf_counter() - t0)
        # the network's buffers are reused by every call (they are planned once per input size), so
        # two threads in forward() at once would write each other's activations: one at a time,
        # the results copied out before the next call may start
        with self._network_lock:
            out = self.network.forward(batch, self.timings.stages)
            return out["alpha"][0, 0].copy(), rgb01, out["scores"][0].copy()

    def predict(self, image, channels: str = "bgr") -> np.ndarray:
        """Alpha matte, H x W float32 in [0, 1], at the input image's own size.

        image: H x W (gray) or H x W x 3/4, uint8, uint16 or float in [0, 1], in `channels` order
        ("bgr" as cv2.imread gives; "rgb" as PIL / imageio give), or a PIL.Image. An image with its
        own alpha channel (a PNG cut-out) keeps it: the matte is multiplied by it.
        """
        image = as_bgr_input(image, channels)
        image_bgr = to_bgr_uint8(image)
        alpha_small, rgb01_small, _ = self.predict_small(image_bgr)
        t0 = time.perf_counter()
        alpha = self.upsample(alpha_small, rgb01_small, image_bgr)
        given = own_alpha(image)
        if given is not None:
            alpha *= given
        self.timings.add("refine", time.perf_counter() - t0)
        return alpha

    def upsample(self, alpha_small, rgb01_small, image_bgr):
        h, w = image_bgr.shape[:2]
        if self.refine == "none" or (h, w) == alpha_small.shape:
            return np.clip(cv2.resize(alpha_small, (w, h), interpolation=cv2.INTER_LINEAR), 0, 1)
        return guided_upsample(alpha_small, to_gray01(rgb01_small), image_bgr, self.guided_radius, self.guided_eps)

    @staticmethod
    def cutout(image, alpha: np.ndarray, channels: str = "bgr") -> np.ndarray:
        """The image with the matte as its alpha channel: H x W x 4 uint8 (BGRA, or RGBA for channels="rgb")."""
        bgra = cv2.cvtColor(to_bgr_uint8(as_bgr_input(image, channels)), cv2.COLOR_BGR2BGRA)
        bgra[..., 3] = alpha_to_levels(as_alpha(alpha, bgra.shape[:2]))
        return in_channel_order(bgra, channels)

    @staticmethod
    def composite(image, alpha: np.ndarray, background="#00ff00", channels: str = "bgr") -> np.ndarray:
        """alpha * image + (1 - alpha) * background, uint8 in the image's channel order. background:
        '#rrggbb' or 'r,g,b' text, a colour tuple in `channels` order, or an image (in `channels`
        order or a PIL.Image) scaled to cover the photo and centre-cropped, never stretched."""
        image_bgr = to_bgr_uint8(as_bgr_input(image, channels))
        h, w = image_bgr.shape[:2]
        alpha = as_alpha(alpha, (h, w))
        if isinstance(background, np.ndarray) or type(background).__module__.startswith("PIL."):
            back = cover(to_bgr_uint8(as_bgr_input(background, channels)), h, w)
        else:
            colour = parse_colour(background) if isinstance(background, str) else tuple(background)
            colour = colour[::-1] if channels == "rgb" and not isinstance(background, str) else colour
            back = np.array(colour, np.float32)
        out = composite_over(image_bgr, np.ascontiguousarray(alpha, np.float32), back)
        return in_channel_order(out, channels)

    @staticmethod
    def blur_background(image, alpha: np.ndarray, strength: float = 0.03, channels: str = "bgr") -> np.ndarray:
        """The photo with its background blurred (Gaussian, sigma = strength x the long side)."""
        image_bgr = to_bgr_uint8(as_bgr_input(image, channels))
        sigma = max(1.0, strength * max(image_bgr.shape[:2]))
        blurred = cv2.GaussianBlur(image_bgr, (0, 0), sigma)
        return in_channel_order(Matter.composite(image_bgr, alpha, blurred), channels)
