"""Portrait matting from the command line: images, folders, videos and cameras, on the CPU.

The network runs at a small size (the weights file's default, or --size); the matte is brought back
to each image's full resolution by fast guided upsampling (--refine guided), so edges follow the
photo's own detail rather than a blurred enlargement of the small matte.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

EPILOG = """examples:
  python -m matting.infer photo.jpg                      # photo.alpha.png and photo.composite.png beside it
  fdm photo.jpg                                          # the same, as the installed command
  cat photo.jpg | fdm - -t rgba -o - > cutout.png        # stdin to stdout (one output type; PNG)
  python -m matting.infer photos/ -o mattes/ --output-type rgba
  python -m matting.infer photo.jpg --output-type composite --background beach.jpg -o out.png
  python -m matting.infer clip.mp4 --output-type blur --smooth 0.5
  python -m matting.infer --camera 0                     # live window; --no-display to record instead

output names: one input and one output type with -o NAME.png (or .jpg/.webp/.tif; .mp4/.avi for a
video) writes that file; otherwise -o is a folder, and each output is <input name>.<type>.png
(<input name>.<type>.mp4 for videos) in it (default: beside the input; for a folder input, in a
sibling folder <folder>_matte). "-" as the input reads one image from stdin; -o - writes a PNG to stdout.

exit status: 0 all inputs done, 1 some inputs failed (each reported on one line), 2 bad usage
"""
OUTPUT_TYPES = ("alpha", "rgba", "composite", "blur")


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be 1 or more")
    return value


class OneLineParser(argparse.ArgumentParser):
    """Usage errors in one line, like every other error here (argparse would print the whole usage first)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}; see {self.prog} --help\n")


def build_parser(prog: str = "python -m matting.infer") -> argparse.ArgumentParser:
    from matting import DEFAULT_NETWORK, __version__, resolve_weights

    p = OneLineParser(prog=prog, description=__doc__, epilog=EPILOG,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inputs", nargs="*", type=Path,
                   help="image files, folders (their images and videos), video files, or - for an image on stdin")
    p.add_argument("--version", action="version", version=f"%(prog)s (fast-deep-matting) {__version__}")
    p.add_argument("-o", "--output", type=Path,
                   help="a file when it ends in an image or video extension (one input and one output type: "
                        "-t composite -o out.png), else a folder (default: beside each input file; for a folder "
                        "input, a sibling folder named <folder>_matte)")
    p.add_argument("-t", "--output-type", default="alpha,composite",
                   help="comma-separated list of: alpha (8-bit matte), rgba (cut-out PNG), composite (over "
                        "--background), blur (background blurred) (default: %(default)s)")
    p.add_argument("--background", default="#00ff00", help="composite background: #rrggbb, r,g,b or an image file (default: %(default)s)")
    p.add_argument("--size", type=int, help="inference long side in pixels (default: the weights file's own: 256 for "
                                            "fdm-people-256, 128 for fdm-128)")
    p.add_argument("--refine", choices=("guided", "none"), default="guided",
                   help="full-resolution matte: fast guided upsampling or plain bilinear (default: %(default)s)")
    p.add_argument("--threads", type=positive_int,
                   help=f"compute threads (default: all cores, {os.cpu_count()}, for images; half of them for videos, "
                        f"whose decoding and encoding run threads of their own)")
    p.add_argument("--weights", default=DEFAULT_NETWORK, type=resolve_weights,
                   help="a shipped network: fdm-people-256 (sees the whole frame: portraits, full-body photos, groups, "
                        "people small in the frame), fdm-128 (the paper's, for head-and-shoulders portraits only, about "
                        "2x faster) or fdm-128-g32 (fdm-128 twice as wide: more accurate on portraits); or an nnlite "
                        "weights file of either family (default: %(default)s)")
    p.add_argument("--compile-now", action="store_true",
                   help="on a CPU's first run, compile the engine's kernels before the first image (20-40 s) instead "
                        "of running on the slower NumPy paths while they compile in the background")
    p.add_argument("--recursive", action="store_true", help="also process images in sub-folders")
    p.add_argument("--max-pixels", type=float, default=120e6, help="refuse images larger than this (default: %(default).0f)")
    p.add_argument("--json", nargs="?", const="-", metavar="PATH",
                   help="write timings per stage (and video flicker) as JSON to PATH, or stdout without PATH")
    video = p.add_argument_group("video and camera")
    video.add_argument("--camera", metavar="SOURCE",
                       help="read from a camera instead of files: its index (0 is the first), a device path or a "
                            "stream URL (rtsp://...); shown in a window (OpenCV's, or Tk's with the headless OpenCV)")
    video.add_argument("--no-display", action="store_true", help="camera: record to --output instead of showing a window")
    video.add_argument("--frames", type=positive_int, help="stop after this many frames")
    video.add_argument("--smooth", type=float, default=0.0,
                       help="temporal smoothing 0..0.95: weight of the previous frame's small matte (default: %(default)s)")
    return p


class Failure(Exception):
    """One line for the user; the run goes on with the next input."""


def fail(path, what, todo) -> Failure:
    return Failure(f"{path}: {what}; {todo}")


def output_is_file(args, types) -> bool:
    """Whether -o names the output file itself: it ends in an image or video extension (or is "-",
    stdout) and is not an existing folder. A file name where several files would be written is refused."""
    from matting.io import IMAGE_SUFFIXES, VIDEO_SUFFIXES

    out = args.output
    stdin = [s for s in args.inputs if str(s) == "-"]
    if stdin and (len(args.inputs) != 1 or out is None):
        raise Failure("-: an image on stdin is matted alone and needs -o (a file name, a folder, or - for stdout)")
    to_stdout = out is not None and str(out) == "-"
    if out is None or (not to_stdout and (out.is_dir() or out.suffix.lower() not in IMAGE_SUFFIXES | VIDEO_SUFFIXES)):
        return False
    sources = list(args.inputs) + ([None] if args.camera is not None else [])
    if len(sources) != 1 or (sources[0] is not None and sources[0].is_dir()):
        raise Failure(f"-o {out}: names one file, but the inputs would give several; give a folder instead")
    if len(types) != 1:
        raise Failure(f"-o {out}: names one file, but {len(types)} output types were asked ({','.join(types)}); "
                      f"pick one, e.g. -t {types[-1]} -o {out}, or give a folder")
    video_in = sources[0] is None or sources[0].suffix.lower() in VIDEO_SUFFIXES
    if to_stdout:
        if video_in:
            raise Failure("-o -: stdout takes one image; write a video to a file name (.mp4)")
        if args.json == "-":
            raise Failure("-o - and --json without a path both write to stdout; give --json a file name")
        return True
    if video_in != (out.suffix.lower() in VIDEO_SUFFIXES):
        raise Failure(f"-o {out}: a {'video' if video_in else 'image'} input needs a "
                      f"{'video (.mp4)' if video_in else 'image (.png)'} output file name, or a folder")
    return True


def output_types(text: str) -> list[str]:
    types = [t.strip() for t in text.split(",") if t.strip()]
    unknown = [t for t in types if t not in OUTPUT_TYPES]
    if unknown or not types:
        raise Failure(f"--output-type: unknown type {unknown[0] if unknown else text!r}; choose from {', '.join(OUTPUT_TYPES)}")
    return types


def render(matter, kind: str, image, alpha, background):
    """One output picture. alpha is the matte this program just made from image (float32 in [0, 1],
    the image's size), so the alpha and composite outputs go straight to their kernels, skipping
    the checks and copies the public API makes for mattes of unknown origin (2-3 ms a 1080p frame)."""
    import numpy as np

    from matting.api import parse_colour
    from nnlite.ops.alpha_levels import alpha_to_levels
    from nnlite.ops.composite_over import composite_over

    if kind == "alpha":
        return alpha_to_levels(alpha)
    if kind == "rgba":
        return matter.cutout(image, alpha)
    if kind == "composite":
        if not (image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3):
            return matter.composite(image, alpha, background)  # gray, RGBA or 16-bit: converted there
        if isinstance(background, np.ndarray):
            return composite_over(image, alpha, covered(background, *image.shape[:2]))
        return composite_over(image, alpha, np.array(parse_colour(background), np.float32))
    return matter.blur_background(image, alpha)


_covered = {}


def covered(background, height: int, width: int):
    """The background image as 8-bit BGR scaled to cover the frame: made once per frame size, not
    once per frame. Only the latest is kept."""
    import numpy as np

    from matting.api import as_bgr_input, cover, to_bgr_uint8

    if _covered.get("source") is not background or _covered["made"].shape[:2] != (height, width):
        made = cover(to_bgr_uint8(as_bgr_input(background, "bgr")), height, width)
        _covered.update(source=background, made=np.ascontiguousarray(made))
    return _covered["made"]


def image_jobs(args, types):
    """(input path, {type: output path}) for every input, folders expanded (their images and videos),
    and the other files found in folders, which are skipped."""
    from matting.io import IMAGE_SUFFIXES, VIDEO_SUFFIXES, list_media

    jobs, skipped = [], []
    for source in args.inputs:
        if source.is_dir():
            media, others = list_media(source, args.recursive)
            skipped += others
            if not media:
                raise fail(source, "no images or videos in this folder",
                           f"it needs {', '.join(sorted(IMAGE_SUFFIXES | VIDEO_SUFFIXES))} files"
                           + ("" if args.recursive else ", or use --recursive for sub-folders"))
            root = args.output or source.parent / f"{source.name}_matte"
            for item in media:
                rel = item.relative_to(source).with_suffix("")
                suffix = ".mp4" if item.suffix.lower() in VIDEO_SUFFIXES else ".png"
                jobs.append((item, {t: root / rel.parent / f"{rel.name}.{t}{suffix}" for t in types}))
        else:
            if args.output_is_file:
                outs = {types[0]: args.output}
            else:
                folder = args.output if args.output is not None else source.parent
                suffix = ".mp4" if source.suffix.lower() in VIDEO_SUFFIXES else ".png"
                stem = "stdin" if str(source) == "-" else source.stem
                outs = {t: folder / f"{stem}.{t}{suffix}" for t in types}
            jobs.append((source, outs))
    return jobs, skipped


def start_background_compile(args, say):
    """On a CPU's first run (the kernels not in Numba's cache): the NumPy paths for now, the kernels
    compiling in another process (matting/warmup.py). Returns that process's Warmup, or None."""
    import nnlite
    from matting.warmup import Warmup, background_wanted

    if not nnlite.kernels_on() or args.compile_now or not background_wanted():
        return None
    warmup = Warmup()
    if warmup.ready() or not warmup.start(args.weights, args.size):
        return None
    nnlite.use_kernels(False)
    say("first run on this CPU: the engine's kernels compile in the background (about a minute, once); until they are "
        "ready this run uses the slower NumPy paths (--compile-now waits for them instead)")
    return warmup


def kernels_when_ready(matter, say) -> None:
    """Between images and frames: the kernels from here on once the background compile is done."""
    if matter.warmup is not None and matter.warmup.ready():
        import nnlite

        nnlite.use_kernels(True)
        matter.warmup = None
        say("the engine's kernels are ready: using them from here on")


def run_images(args, matter, types, background, say) -> int:
    from matting.io import VIDEO_SUFFIXES, read_image, write_image

    failures = 0
    jobs, skipped = image_jobs(args, types)
    inputs = {p.resolve() for p, _ in jobs if str(p) != "-"}
    for n, (source, outs) in enumerate(jobs, 1):
        try:
            if source.suffix.lower() in VIDEO_SUFFIXES:
                failures += run_video(args, matter, types, background, say, source, outs)
                continue
            for kind, out in outs.items():
                if str(out) == "-":
                    continue
                if out.resolve() in inputs:
                    raise fail(out, "output would overwrite an input", "choose another --output")
                lossless = out.suffix.lower() in (".png", ".tif", ".tiff", ".webp")
                if not lossless and not (out.suffix.lower() in (".jpg", ".jpeg") and kind != "rgba"):
                    raise fail(out, f"cannot store a {kind} image as {out.suffix or 'a file without extension'}", "use a .png output")
            t0 = time.perf_counter()
            image = read_image(source, int(args.max_pixels))
            matter.timings.add("decode", time.perf_counter() - t0)
            kernels_when_ready(matter, say)
            alpha = matter.predict(image)
            for kind, out in outs.items():
                t0 = time.perf_counter()
                picture = render(matter, kind, image, alpha, background)
                t1 = time.perf_counter()
                if str(out) == "-":
                    write_stdout_png(picture)
                else:
                    write_image(out, picture)
                matter.timings.add("compose", t1 - t0)
                matter.timings.add("encode", time.perf_counter() - t1)
            say(f"[{n}/{len(jobs)}] {'stdin' if str(source) == '-' else source} -> "
                + ", ".join('stdout' if str(o) == '-' else str(o) for o in outs.values()))
        except Exception as exc:  # noqa: BLE001 - one bad file must not stop a folder run
            failures += 1
            print(f"error: {one_line(exc)}", file=sys.stderr)
    if len(jobs) > 1 or skipped:
        shown = f" ({', '.join(p.name for p in skipped[:3])}{', ...' if len(skipped) > 3 else ''}: not images or videos)"
        say(f"done {len(jobs) - failures}, failed {failures}, skipped {len(skipped)}" + (shown if skipped else ""))
    return failures


def write_stdout_png(picture) -> None:
    import cv2

    ok, encoded = cv2.imencode(".png", picture)
    if not ok:
        raise Failure("stdout: cannot encode the output as PNG")
    sys.stdout.buffer.write(encoded.tobytes())
    sys.stdout.buffer.flush()


def one_line(exc: Exception) -> str:
    from nnlite.errors import NnliteError

    if isinstance(exc, (Failure, NnliteError)):
        return str(exc)
    if isinstance(exc, MemoryError):
        return "out of memory; use a smaller image or --max-pixels to refuse large ones"
    if isinstance(exc, ModuleNotFoundError) and exc.name:
        package = {"cv2": "opencv-python-headless"}.get(exc.name, exc.name)
        return f"the Python package {package} is missing (import {exc.name} failed); install it: pip install {package}"
    return f"unexpected {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}; please report this"


def run_video(args, matter, types, background, say, source=None, outs=None) -> int:
    """Streams frames from a file or a camera through the network; writes a video per output type, or
    shows a window. Three threads overlap: the reader decodes ahead, this one mattes, the writer
    encodes behind; bounded queues between them keep memory flat however long the video is."""
    import queue
    import threading

    import cv2
    import numpy as np

    from matting.video import AudioPacket, Damaged, open_reader, open_writer
    from nnlite.ops.alpha_levels import mean_abs_difference

    label = source if source is not None else f"camera {args.camera}"
    display = source is None and not args.no_display
    camera = int(args.camera) if source is None and str(args.camera).isdigit() else args.camera
    reader = open_reader(camera if source is None else source, label, args.max_pixels, camera=source is None)
    window = None
    if display:
        from matting.display import open_window

        try:
            window = open_window()
        except Exception:
            reader.close()
            raise
    if outs is None:
        outs = {}
    if not display and not outs:
        for kind in types:
            if args.output_is_file:
                outs[kind] = args.output
            else:
                stem = source.stem if source is not None else f"camera{args.camera if str(args.camera).isdigit() else ''}"
                folder = args.output if args.output is not None else (source.parent if source is not None else Path("."))
                outs[kind] = folder / f"{stem}.{kind}{'.webm' if kind == 'rgba' else '.mp4'}"
    total = reader.frame_count
    decoded, finished, stop = queue.Queue(maxsize=8), queue.Queue(maxsize=8), threading.Event()
    errors, writers, END = [], {}, object()

    def read():
        try:
            for item in reader:
                while not stop.is_set():
                    try:
                        decoded.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
        except Exception as exc:  # noqa: BLE001 - handed to the main thread, which reports it
            errors.append(exc)
        finally:
            decoded.put(END)

    def write():
        last, early_audio = {}, []
        try:
            while True:
                item = finished.get()
                if item is END:
                    return
                what, payload, pts = item
                if errors:
                    continue  # drain: the main thread is stopping
                if what == "audio":
                    if not writers:  # sound decoded ahead of the first matted frame waits for the writers
                        early_audio.append(payload)
                    for writer in writers.values():
                        writer.mux_audio(payload)
                    continue
                pictures = last if what == "repeat" else payload
                for kind, picture in pictures.items():
                    if kind not in writers:
                        writers[kind] = open_writer(outs[kind], kind, picture, reader)
                        for packet in early_audio:
                            writers[kind].mux_audio(packet)
                    t0 = time.perf_counter()
                    writers[kind].write(picture, pts)
                    matter.timings.add("encode", time.perf_counter() - t0)
                last = pictures
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
            while finished.get() is not END:  # keep the main thread from blocking on a full queue
                pass

    # FFmpeg's decoder and encoder run threads of their own: a network on every core fights them
    # (bench.video on 2 cores: 1080p at 15.4 frames/s with 1 compute thread, 11.3 with 2)
    import nnlite

    image_threads = nnlite.get_num_threads()
    video_threads = args.threads or max(1, (os.cpu_count() or 1) // 2)
    nnlite.set_num_threads(video_threads)
    # The network's kernels release the GIL, and each time one returns, the main thread waits for
    # the reader or writer thread to hand the GIL back: up to Python's switch interval (5 ms), many
    # times a frame. Measured: the network's part of a 1080p frame took 4.1 ms alone, 7.8 ms beside a
    # one-thread H.264 encoder at the default interval, 4.3 ms at 0.5 ms.
    switch_interval = sys.getswitchinterval()
    sys.setswitchinterval(0.0005)
    reading = threading.Thread(target=read, name="video-reader", daemon=True)
    writing = threading.Thread(target=write, name="video-writer", daemon=True)
    reading.start()
    if not display:
        writing.start()
    frames, previous_small, previous_alpha, flicker, damaged, dropped_audio = 0, None, None, [], [], []
    t_start = time.time()
    try:
        while args.frames is None or frames < args.frames:
            t0 = time.perf_counter()
            item = decoded.get()
            if item is END or errors:
                break
            matter.timings.add("decode", time.perf_counter() - t0)
            if isinstance(item, AudioPacket):
                if not display:
                    finished.put(("audio", item.packet, None))
                continue
            if isinstance(item, Damaged):
                damaged.append(item.index + 1)
                if frames and not display:
                    finished.put(("repeat", None, item.pts))
                continue
            frame = item.image
            kernels_when_ready(matter, say)
            small, rgb01, _ = matter.predict_small(frame)
            if previous_small is not None and args.smooth > 0:
                small = args.smooth * previous_small + (1 - args.smooth) * small
            previous_small = small
            t0 = time.perf_counter()
            alpha = matter.upsample(small, rgb01, frame)
            matter.timings.add("refine", time.perf_counter() - t0)
            if previous_alpha is not None:
                flicker.append(mean_abs_difference(alpha, previous_alpha))
            previous_alpha = alpha
            frames += 1
            t0 = time.perf_counter()
            pictures = {kind: render(matter, kind, frame, alpha, background) for kind in types}
            matter.timings.add("compose", time.perf_counter() - t0)
            if display:
                picture = next(iter(pictures.values()))
                picture = cv2.cvtColor(picture, cv2.COLOR_GRAY2BGR) if picture.ndim == 2 else picture[..., :3].copy()
                rate = frames / max(time.time() - t_start, 1e-6)
                cv2.putText(picture, f"{rate:.1f} fps", (10, 30), cv2.FONT_HERSHEY_SIMPLEX, 1, (255, 255, 255), 2)
                window.show(picture, f"{rate:.1f} frames/s (q or Esc to stop)")
                if window.closed:
                    break
                continue
            t0 = time.perf_counter()
            finished.put(("frame", pictures, item.pts))
            matter.timings.add("encoder_wait", time.perf_counter() - t0)
            if frames % 10 == 0:
                rate = frames / max(time.time() - t_start, 1e-6)
                eta = f", ETA {(total - frames) / rate:.0f} s" if total > frames else ""
                print(f"\r{label}: frame {frames}{'/' + str(total) if total else ''}, {rate:.1f} frames/s{eta}   ",
                      end="", file=sys.stderr, flush=True)
        stop.set()
        if not display:
            finished.put(END)
            writing.join()
        if errors:
            raise errors[0]
        if frames == 0:
            raise fail(label, "no frames could be read", "check that the video is not empty or damaged")
        if not display:
            rate = frames / max(time.time() - t_start, 1e-6)
            print(f"\r{label}: {frames} frames, {rate:.1f} frames/s", file=sys.stderr)
        dropped_audio = [("the OpenCV fallback writes no sound: pip install av" if w.backend == "opencv" else
                          "the output's container cannot hold the input's audio codec: try .mkv")
                         for w in writers.values() if w.audio_dropped or (w.backend == "opencv" and source is not None)]
        for kind in list(writers):
            writers.pop(kind).finish()
    finally:
        stop.set()
        if writing.is_alive():
            finished.put(END)
            writing.join()
        for writer in writers.values():  # interrupted or failed: no half-written video is left behind
            writer.abandon()
        while reading.is_alive():  # let the reader see the stop and end before its container closes
            try:
                decoded.get(timeout=0.1)
            except queue.Empty:
                pass
        reader.close()
        nnlite.set_num_threads(image_threads)
        sys.setswitchinterval(switch_interval)
        if window is not None:
            window.close()
    matter.video = {"frames": frames, "flicker_mean_abs_alpha_change": float(np.mean(flicker)) if flicker else 0.0,
                    "damaged_frames": damaged, "backend": "pyav" if type(reader).__name__ == "PyAVReader" else "opencv",
                    "window": window.backend if window is not None else None, "threads": video_threads,
                    "outputs": {k: str(v) for k, v in outs.items()}}
    say(f"{label}: {frames} frames -> {', '.join(str(o) for o in outs.values())}")
    if damaged:
        shown = ", ".join(str(n) for n in damaged[:10]) + (", ..." if len(damaged) > 10 else "")
        say(f"warning: {label}: {len(damaged)} damaged frame(s) could not be decoded (frame {shown}); "
            f"each was replaced by the frame before it to keep the timing")
    if dropped_audio:
        say(f"warning: {label}: the sound was not copied ({dropped_audio[0]})")
    return 0


def console() -> None:
    """The installed command `fdm`: the same as python -m matting.infer."""
    sys.exit(main(prog="fdm"))


def main(argv=None, prog: str = "python -m matting.infer") -> int:
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    if not args.inputs and args.camera is None:
        parser.error("give image/video paths or --camera INDEX")
    say = lambda msg: print(msg, file=sys.stderr)
    t_start = time.perf_counter()
    # OpenCV's and FFmpeg's own warnings ("can't open camera by index", "No JPEG data found") would print
    # before our one line that says the same with what to do; a user can still ask for them.
    os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
    from matting.io import VIDEO_SUFFIXES

    if args.camera is not None or any(Path(p).suffix.lower() in VIDEO_SUFFIXES for p in args.inputs):
        # Between two kernels OpenMP's idle workers spin, on the cores FFmpeg's decoder and encoder
        # threads need (bench.video, 1080p, 2 threads: 17.3 frames/s spinning, 25.5 passive); set
        # before the first parallel kernel starts them. Photos keep spinning workers: a 256 px
        # network call is 1.5-2 ms faster with them at 2 threads.
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        import cv2

        from matting.api import Matter, parse_colour
        from matting.io import read_image

        types = output_types(args.output_type)
        args.output_is_file = output_is_file(args, types)
        if not 0 <= args.smooth < 1:
            raise Failure(f"--smooth {args.smooth}: must be in [0, 1); try 0.5")
        if args.size is not None and not 16 <= args.size <= 4096:
            raise Failure(f"--size {args.size}: must be between 16 and 4096; leave it out to use the size the weights were trained for")
        background = args.background
        if "composite" in types:
            if Path(background).suffix and not background.startswith("#"):
                background = read_image(Path(background), int(args.max_pixels))
            else:
                parse_colour(background)
        t0 = time.perf_counter()
        matter = Matter(args.weights, size=args.size, refine=args.refine, threads=args.threads)
        load_seconds = time.perf_counter() - t0
        matter.video = None
        matter.warmup = start_background_compile(args, say)
        from nnlite._jit import CompileWatch

        compiles = CompileWatch(lambda name: say("compiling the engine's kernels for this CPU: first run only, "
                                                 "about a minute; later runs load them from Numba's cache"))
        try:
            failures = run_video(args, matter, types, background, say) if args.camera is not None else \
                run_images(args, matter, types, background, say)
        finally:
            compiles.close()
        if compiles.kernels:
            say(f"compiled {len(compiles.kernels)} kernels in {compiles.seconds:.1f} s (cached for the next runs)")
    except Exception as exc:  # noqa: BLE001 - the CLI turns every error into one line
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    if args.json:
        record = {"size": matter.size, "refine": matter.refine, "threads": args.threads or os.cpu_count(), "load_s": load_seconds,
                  "total_s": time.perf_counter() - t_start,
                  "stages_ms": {k: v * 1e3 for k, v in matter.timings.stages.items() if isinstance(v, float)}}
        if matter.video:
            record["video"] = matter.video
        text = json.dumps(record, indent=1)
        if args.json == "-":
            print(text)
        else:
            Path(args.json).write_text(text + "\n")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
