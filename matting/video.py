"""Video files and cameras: frames in with their timestamps, finished files out.

Two backends, one interface:
- PyAV (FFmpeg's libraries inside its wheels; `pip install ".[video]"`), used for files whenever it
  is installed: H.264 (yuv420p, which browsers and phones play) in .mp4/.mkv/.mov, VP9 in .webm,
  transparent video as VP9 with alpha (.webm) or ProRes 4444 (.mov), the input's audio copied
  packet for packet, every frame's own timestamp kept (variable frame rates stay variable), the
  rotation a phone recorded applied to the pixels.
- OpenCV (always there), the fallback: MPEG-4 part 2 in .mp4, MJPEG in .avi, no audio, no alpha,
  frames at a constant rate. Cameras are always read through OpenCV.

A reader yields, in file order: Frame (a decoded picture), Damaged (a frame whose data would not
decode: the caller decides what to write in its place) and AudioPacket (for the writer to mux as
it is). Writers write under a temporary name in the output's folder; `finish()` renames the
finished file into place and `abandon()` deletes it, so no half-written video is ever left.
"""
from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from matting.api import InputError
from nnlite.ops.yuv420 import bgr_to_yuv420, gray_to_yuv420

ALPHA_VIDEO_SUFFIXES = {".webm": "VP9 with alpha", ".mov": "ProRes 4444"}


def have_pyav() -> bool:
    try:
        import av  # noqa: F401
    except ImportError:
        return False
    return True


@dataclass
class Frame:
    image: np.ndarray  # H x W x 3 BGR uint8
    pts: float | None  # seconds from the start, as the file says; None when it does not say
    index: int


@dataclass
class Damaged:
    pts: float | None
    index: int


@dataclass
class AudioPacket:
    packet: object  # an av.Packet of the input's audio stream


class VideoError(InputError):
    """A video cannot be opened, read or written."""


# ---------------------------------------------------------------------------------------------
# readers


class OpenCVReader:
    def __init__(self, source, label, camera: bool = False):
        import cv2

        self.label = label
        self.capture = cv2.VideoCapture(source if isinstance(source, int) else str(source))
        if not self.capture.isOpened():
            if isinstance(source, int):
                raise VideoError(f"{label}: no camera found at this index; check that a camera is connected, or try --camera 1")
            if camera:
                raise VideoError(f"{label}: cannot open this camera stream; check the URL or path")
            raise VideoError(f"{label}: cannot open this video; use an MP4/AVI file that plays elsewhere")
        self.is_camera = camera  # a live source: timestamps are the time of capture
        self.width = int(self.capture.get(cv2.CAP_PROP_FRAME_WIDTH))
        self.height = int(self.capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
        self.fps = self.capture.get(cv2.CAP_PROP_FPS) or 25.0
        self.frame_count = 0 if self.is_camera else int(self.capture.get(cv2.CAP_PROP_FRAME_COUNT))
        self.audio = None
        self.time_base = Fraction(1, 1000)

    def __iter__(self):
        import cv2

        index, started, failures = 0, time.perf_counter(), 0
        while True:
            ok, image = self.capture.read()
            if not ok:
                # a damaged frame inside a file reads as a failure, and the frames after it are still good
                if self.is_camera or index >= self.frame_count or failures >= MAX_DAMAGED_FRAMES:
                    return
                failures += 1
                yield Damaged(None, index)
            else:
                pts = time.perf_counter() - started if self.is_camera else self.capture.get(cv2.CAP_PROP_POS_MSEC) / 1000
                yield Frame(image, pts, index)
            index += 1

    def close(self):
        self.capture.release()


MAX_DAMAGED_FRAMES = 1000  # beyond this many undecodable frames a file is not worth going on with


class PyAVReader:
    def __init__(self, path, label):
        import av

        self.label = label
        try:
            self.container = av.open(str(path))
        except (av.error.FFmpegError, OSError, ValueError) as exc:
            raise VideoError(f"{label}: cannot open this video ({first_line(exc)}); use a file that plays elsewhere") from None
        if not self.container.streams.video:
            self.container.close()
            raise VideoError(f"{label}: no video stream in this file; give a video file")
        self.stream = self.container.streams.video[0]
        self.stream.thread_type = "AUTO"  # FFmpeg's own decoding threads
        context = self.stream.codec_context
        self.width, self.height = context.width, context.height
        rate = self.stream.average_rate or self.stream.guessed_rate or Fraction(25)
        self.fps = float(rate)
        self.frame_count = self.stream.frames or 0
        self.time_base = self.stream.time_base or Fraction(1, 1000)
        self.audio = self.container.streams.audio[0] if self.container.streams.audio else None
        self.is_camera = False

    def __iter__(self):
        import av

        streams = [self.stream] + ([self.audio] if self.audio is not None else [])
        index, failures, start = 0, 0, None
        for packet in self.container.demux(*streams):
            if packet.stream.type == "audio":
                if packet.dts is not None:
                    yield AudioPacket(packet)
                continue
            try:
                frames = packet.decode()
            except av.error.FFmpegError:
                if failures >= MAX_DAMAGED_FRAMES:
                    return
                failures += 1
                yield Damaged(None if packet.pts is None else float(packet.pts * self.time_base), index)
                index += 1
                continue
            for frame in frames:
                rotation = getattr(frame, "rotation", 0) or 0
                image = frame.to_ndarray(format="bgr24")
                if rotation:  # the display matrix says how to turn the stored picture upright
                    image = np.ascontiguousarray(np.rot90(image, k=round(rotation / 90) % 4))
                if start is None and frame.pts is not None:
                    start = frame.pts
                pts = None if frame.pts is None else float((frame.pts - (start or 0)) * frame.time_base)
                yield Frame(image, pts, index)
                index += 1

    def close(self):
        self.container.close()


def open_reader(source, label, max_pixels: float, camera: bool = False):
    """A reader for a file (PyAV when installed, else OpenCV) or a camera: an index, a URL or a device
    path, always through OpenCV (which reads V4L2, DirectShow, AVFoundation and network streams)."""
    reader = PyAVReader(source, label) if not camera and have_pyav() else OpenCVReader(source, label, camera)
    if reader.width * reader.height > max_pixels:
        reader.close()
        raise VideoError(f"{label}: frames of {reader.width}x{reader.height} are larger than the {max_pixels / 1e6:.0f} MP "
                         f"limit; downscale the video first or raise --max-pixels")
    return reader


def first_line(exc) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:160] if text else type(exc).__name__


# ---------------------------------------------------------------------------------------------
# writers


class _TemporaryOutput:
    """The output's temporary name beside it, made readable like any new file, and its fate."""

    def __init__(self, path: Path):
        from matting.io import new_file_mode

        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
        except OSError as exc:
            raise VideoError(f"{path}: cannot write here ({exc.strerror}); choose another --output") from None
        os.close(fd)
        os.chmod(name, new_file_mode())
        self.tmp = name

    def finish(self):
        if os.path.getsize(self.tmp) == 0:  # OpenCV's writer does not raise when it cannot write
            self.abandon()
            raise VideoError(f"{self.path}: the video writer wrote nothing (disk full or no encoder?); check free space, or use .avi")
        try:
            os.replace(self.tmp, self.path)
        except OSError as exc:
            self.abandon()
            raise VideoError(f"{self.path}: cannot write ({exc.strerror}); choose another --output") from None

    def abandon(self):
        if os.path.exists(self.tmp):
            os.unlink(self.tmp)


class OpenCVWriter:
    backend = "opencv"

    def __init__(self, path: Path, kind: str, width: int, height: int, fps: float, time_base=None, audio=None):
        import cv2

        if kind == "rgba":
            raise VideoError(f"{path}: a transparent video needs PyAV (pip install \"fast-deep-matting[video]\"); "
                             f"or use --output-type composite, blur or alpha")
        self.out = _TemporaryOutput(path)
        fourcc = cv2.VideoWriter_fourcc(*("MJPG" if path.suffix.lower() == ".avi" else "mp4v"))
        self.writer = cv2.VideoWriter(self.out.tmp, fourcc, fps, (width, height))
        if not self.writer.isOpened():
            self.out.abandon()
            raise VideoError(f"{path}: cannot open a video writer for this format; use an .mp4 or .avi output")
        self.audio_dropped = audio is not None

    def write(self, picture: np.ndarray, pts):
        import cv2

        self.writer.write(cv2.cvtColor(picture, cv2.COLOR_GRAY2BGR) if picture.ndim == 2 else picture)

    def mux_audio(self, packet):
        pass

    def finish(self):
        self.writer.release()
        self.out.finish()

    def abandon(self):
        self.writer.release()
        self.out.abandon()


class PyAVWriter:
    """H.264 / VP9 / ProRes by extension and output type; frames carry their own timestamps."""

    backend = "pyav"

    def __init__(self, path: Path, kind: str, width: int, height: int, fps: float, time_base=None, audio=None):
        import av

        suffix = path.suffix.lower()
        if kind == "rgba" and suffix not in ALPHA_VIDEO_SUFFIXES:
            raise VideoError(f"{path}: {suffix or 'this'} video cannot hold transparency; write .webm (VP9 with alpha) "
                             f"or .mov (ProRes 4444)")
        self.out = _TemporaryOutput(path)
        self.time_base = Fraction(time_base) if time_base else Fraction(1, 1000)
        self.fps = Fraction(fps).limit_denominator(1001) if fps else Fraction(25)
        # yuv420p halves chroma: its sides must be even, so an odd last row or column is dropped
        self.width, self.height = (width, height) if kind == "rgba" and suffix == ".mov" else (width // 2 * 2, height // 2 * 2)
        try:
            self.container = av.open(self.out.tmp, "w", format={".webm": "webm", ".mov": "mov", ".mkv": "matroska",
                                                                ".avi": "avi"}.get(suffix, "mp4"))
            if kind == "rgba" and suffix == ".mov":
                codec, pix_fmt, options = "prores_ks", "yuva444p10le", {"profile": "4", "vendor": "apl0"}
            elif suffix == ".webm":
                codec, pix_fmt, options = "libvpx-vp9", "yuva420p" if kind == "rgba" else "yuv420p", \
                    {"crf": "32", "b": "0", "deadline": "realtime", "cpu-used": "8", "row-mt": "1"}
            elif suffix == ".avi":
                codec, pix_fmt, options = "mjpeg", "yuvj420p", {"q": "3"}
            else:
                codec, pix_fmt, options = "libx264", "yuv420p", {"crf": "20", "preset": "veryfast"}
            self.stream = self.container.add_stream(codec, rate=self.fps, options=options)
            self.stream.width, self.stream.height, self.stream.pix_fmt = self.width, self.height, pix_fmt
            self.stream.time_base = self.stream.codec_context.time_base = self.time_base
            self.stream.thread_type = "AUTO"
            self.audio_in, self.audio_out = audio, None
            if audio is not None:
                try:
                    self.audio_out = self.container.add_stream_from_template(audio)
                except (av.error.FFmpegError, ValueError):
                    self.audio_out = None  # a codec this container cannot hold: the video goes without sound
            self.audio_dropped = audio is not None and self.audio_out is None
        except av.error.FFmpegError as exc:
            self.out.abandon()
            raise VideoError(f"{path}: cannot make a {suffix} video here ({first_line(exc)}); use .mp4") from None
        self.format = {3: "bgr24", 4: "bgra"}
        self.last_pts = None

    def write(self, picture: np.ndarray, pts):
        import av

        picture = np.ascontiguousarray(picture[: self.height, : self.width])
        if self.stream.pix_fmt == "yuv420p" and (picture.ndim == 2 or picture.shape[2] == 3):
            # converted here, not by FFmpeg: swscale's packed-BGR path cost 8-12 ms a 1080p frame
            planes = gray_to_yuv420(picture) if picture.ndim == 2 else bgr_to_yuv420(picture)
            frame = av.VideoFrame.from_ndarray(planes, format="yuv420p")
        elif picture.ndim == 2:
            frame = av.VideoFrame.from_ndarray(picture, format="gray")
        else:
            frame = av.VideoFrame.from_ndarray(picture, format=self.format[picture.shape[2]])
        ticks = None if pts is None else round(pts / self.time_base)
        if ticks is None or (self.last_pts is not None and ticks <= self.last_pts):
            step = max(1, round(1 / (self.fps * self.time_base)))
            ticks = 0 if self.last_pts is None else self.last_pts + step
        frame.pts, frame.time_base, self.last_pts = ticks, self.time_base, ticks
        self._mux(self.stream.encode(frame))

    def mux_audio(self, packet):
        if self.audio_out is None:
            return
        packet.stream = self.audio_out
        self.container.mux(packet)

    def _mux(self, packets):
        try:
            self.container.mux(packets)
        except OSError as exc:
            raise VideoError(f"{self.out.path}: cannot write ({exc.strerror}); free some space or choose another --output") from None

    def finish(self):
        try:
            self._mux(self.stream.encode(None))
            self.container.close()
        except Exception:
            self.abandon()
            raise
        self.out.finish()

    def abandon(self):
        try:
            self.container.close()
        except Exception:  # noqa: BLE001 - already failing; the file is deleted next
            pass
        self.out.abandon()


def open_writer(path: Path, kind: str, picture: np.ndarray, reader, backend: str | None = None):
    """A writer for one output type, sized to its first picture, at the reader's rate and time base,
    with the reader's audio. backend: "pyav" or "opencv" (default: PyAV when installed)."""
    use_pyav = (backend or ("pyav" if have_pyav() else "opencv")) == "pyav"
    cls = PyAVWriter if use_pyav else OpenCVWriter
    return cls(path, kind, picture.shape[1], picture.shape[0], reader.fps, reader.time_base, reader.audio)
