"""End-to-end video: frames/s from the encoded input to the encoded output, as a user runs it.

    python -m bench.video [--sizes 640x480,1280x720,1920x1080] [--threads 1,2] [--frames 300] [--json video.json]
                          [--emulate-avx2]

Makes its own clips (the shipped portrait moving over a textured background, H.264 with PyAV, else
MPEG-4 with OpenCV) in a temporary folder, then runs `python -m matting.infer CLIP -t composite
-o OUT.mp4 --threads N --json` on each, once to warm Numba's cache, then for the figure. frames/s is
frames / (the run's wall time minus its start-up: imports and weights), so it covers decoding,
the network, refinement, compositing and encoding, overlapped as the CLI overlaps them. Also
reports the flicker figure (mean absolute frame-to-frame alpha change) with and without --smooth.
"""
from __future__ import annotations

import os
import sys

if __package__ in (None, ""):  # run as a file (python bench/video.py): make the repository importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import argparse
import json
import subprocess
import tempfile
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from bench.common import (AVX2_ISA_NOTE, configuration, emulating_avx2, print_configuration,
                          rerun_emulating_avx2)
from matting.video import have_pyav

EXAMPLE = Path(__file__).resolve().parent.parent / "matting" / "examples" / "astronaut.jpg"


def make_clip(path: Path, width: int, height: int, frames: int, fps: int = 30) -> Path:
    """The portrait sliding over a textured wall, height 80 % of the frame; H.264 when PyAV is there."""
    side = int(height * 0.8)
    portrait = cv2.resize(cv2.imread(str(EXAMPLE)), (side, side), interpolation=cv2.INTER_AREA)
    rng = np.random.default_rng(0)
    wall = cv2.GaussianBlur(rng.integers(0, 255, (height // 8, width // 8, 3), dtype=np.uint8), (0, 0), 1.5)
    wall = cv2.resize(wall, (width, height), interpolation=cv2.INTER_LINEAR)
    pictures = []
    for i in range(frames):
        canvas = wall.copy()
        x = int((width - side) * (0.5 + 0.4 * np.sin(2 * np.pi * i / max(frames, 1))))
        canvas[height - side:, x:x + side] = portrait
        pictures.append(canvas)
    if have_pyav():
        import av

        with av.open(str(path), "w") as out:
            stream = out.add_stream("libx264", rate=fps, options={"crf": "20", "preset": "veryfast"})
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            for i, canvas in enumerate(pictures):
                frame = av.VideoFrame.from_ndarray(canvas, format="bgr24")
                frame.pts, frame.time_base = i, Fraction(1, fps)
                out.mux(stream.encode(frame))
            out.mux(stream.encode(None))
    else:
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
        for canvas in pictures:
            writer.write(canvas)
        writer.release()
    return path


def run(clip: Path, out: Path, threads: int, extra=()) -> dict:
    record_path = out.with_suffix(".json")
    # --compile-now: a clip that starts on the NumPy paths while the kernels compile elsewhere
    # (a cold cache after an upgrade) would time those paths, not the engine
    command = [sys.executable, "-m", "matting.infer", str(clip), "-t", "composite", "-o", str(out),
               "--threads", str(threads), "--json", str(record_path), "--compile-now", *extra]
    subprocess.run(command, check=True, capture_output=True, text=True)
    record = json.loads(record_path.read_text())
    seconds = record["total_s"] - record["load_s"]
    return {"frames": record["video"]["frames"], "seconds": seconds, "frames_per_s": record["video"]["frames"] / seconds,
            "flicker": record["video"]["flicker_mean_abs_alpha_change"], "backend": record["video"].get("backend"),
            "stages_ms_per_frame": {k: v / record["video"]["frames"] for k, v in record["stages_ms"].items()}}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="640x480,1280x720,1920x1080", help="clip sizes WxH (default: %(default)s)")
    parser.add_argument("--threads", default="1,2", help="compute threads to try (default: %(default)s)")
    parser.add_argument("--frames", type=int, default=300,
                        help="frames per clip (default: %(default)s, 10 s at 30 frames/s; a run's fixed costs, the "
                             "kernels loaded from the cache at the first frame and the encoder's last frames, weigh "
                             "as on a real clip, where 90 frames made them a third of 640x480's time)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--emulate-avx2", action="store_true",
                        help="on an AVX-512 machine, run nnlite's AVX2 code paths (Numba compiled for Haswell with every "
                             "AVX-512 feature off); FFmpeg's own code is not limited")
    args = parser.parse_args(argv)
    if args.emulate_avx2 and not emulating_avx2():
        rerun_emulating_avx2("bench.video", sys.argv[1:] if argv is None else argv)
    sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",")]
    threads = [int(t) for t in args.threads.split(",")]
    config = configuration({"pyav": have_pyav(), "frames_per_clip": args.frames,
                            "isa": AVX2_ISA_NOTE if emulating_avx2() else "native"})
    print_configuration(config)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        warm = make_clip(folder / "warm.mp4", 64, 48, 3)
        run(warm, folder / "warm-out.mp4", 1)  # compiles the kernels (or loads them) outside the figures
        print(f"{'size':>10} {'threads':>7} {'frames/s':>9} {'network ms':>10} {'refine ms':>9} {'compose ms':>10} {'backend':>8}")
        for width, height in sizes:
            clip = make_clip(folder / f"clip-{width}x{height}.mp4", width, height, args.frames)
            for n in threads:
                result = run(clip, folder / f"out-{width}x{height}-{n}.mp4", n)
                stages = result["stages_ms_per_frame"]
                network = sum(stages.get(k, 0) for k in ("network", "feathering", "preprocess"))
                print(f"{width:>5}x{height:<4} {n:>7} {result['frames_per_s']:>9.1f} {network:>10.1f} "
                      f"{stages.get('refine', 0):>9.1f} {stages.get('compose', 0):>10.1f} {result['backend']:>8}")
                rows.append({"width": width, "height": height, "threads": n, **result})
        smooth = run(clip, folder / "smooth.mp4", threads[-1], ["--smooth", "0.5"])
        flicker = {"smooth_0": rows[-1]["flicker"], "smooth_0.5": smooth["flicker"]}
        print(f"# flicker (mean |alpha(t) - alpha(t-1)|) on the last clip: {flicker['smooth_0']:.4f} without smoothing, "
              f"{flicker['smooth_0.5']:.4f} with --smooth 0.5 (the subject moves, so some change is real)")
    if args.json:
        args.json.write_text(json.dumps({"config": config, "rows": rows, "flicker": flicker}, indent=1) + "\n")


if __name__ == "__main__":
    main()
