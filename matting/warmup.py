"""A machine's first run: nnlite's kernels compiled in the background, the first images on the
NumPy paths.

Numba compiles nnlite's kernels for the CPU the first time they are called (20-40 s on 2 cores for
a network and its pre- and post-processing) and loads them from its cache after that (well under
a second). A first photo should not wait that long. So when the kernels are not in the cache yet,
the command line (matting/infer.py) turns them off (nnlite.use_kernels(False)), starts
`python -m matting.warmup` in the background, and goes on with the NumPy paths, about 0.1-0.2 s
per image at 256 px instead of about 0.01 s. The warm-up runs the network and every output type
once on one thread, each kernel compiling into Numba's cache, then writes a marker; the command
line looks for the marker between images and video frames and switches to the kernels when it
is there. `--compile-now` (or FDM_KERNELS=now) compiles in the foreground instead, as before.

The marker's name is a digest of what Numba's cache entries depend on: Numba's and Python's
versions, the CPU and features Numba compiles for, NUMBA_CACHE_DIR, and the source of nnlite and
matting (an edited kernel is compiled again). It lives in the fdm cache folder: FDM_CACHE_DIR, or
~/.cache/fdm. If Numba cannot write its cache at all, the marker still appears and later runs
compile in the foreground, as they would without this module.

    python -m matting.warmup [--weights NAME] [--size N]     (what the command line starts)
"""
from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

LOCK_SECONDS = 600  # a warm-up that has not finished in this long is taken as dead
PACKAGE_ROOT = Path(__file__).resolve().parent.parent


def cache_dir() -> Path:
    return Path(os.environ.get("FDM_CACHE_DIR") or Path.home() / ".cache" / "fdm")


def background_wanted() -> bool:
    """FDM_KERNELS=now compiles in the foreground (tests, benchmarks); anything else: background."""
    return os.environ.get("FDM_KERNELS", "background") != "now"


def kernel_digest() -> str:
    import numba

    import nnlite._jit  # noqa: F401  (sets numba.config.CPU_FEATURES for 512-bit vectors first)
    from llvmlite import binding

    digest = hashlib.sha256()
    for part in (numba.__version__, sys.version, str(numba.config.CPU_NAME), str(numba.config.CPU_FEATURES),
                 binding.get_host_cpu_name(), binding.get_host_cpu_features().flatten(), os.environ.get("NUMBA_CACHE_DIR", "")):
        digest.update(part.encode() + b"\0")
    for package in ("nnlite", "matting"):
        for path in sorted((PACKAGE_ROOT / package).rglob("*.py")):
            digest.update(path.relative_to(PACKAGE_ROOT).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:20]


def marker_path() -> Path:
    return cache_dir() / f"kernels-{kernel_digest()}.ready"


class Warmup:
    """The command line's view of the background compile: start() once, ready() between images."""

    def __init__(self):
        self.marker = marker_path()
        self.lock = self.marker.with_suffix(".lock")

    def ready(self) -> bool:
        return self.marker.exists()

    def running(self) -> bool:
        try:
            return time.time() - self.lock.stat().st_mtime < LOCK_SECONDS
        except OSError:
            return False

    def start(self, weights, size=None) -> bool:
        """Starts `python -m matting.warmup` unless one is running; False if it could not start
        (an unwritable cache folder): the caller then compiles in the foreground."""
        if self.running():
            return True
        try:
            self.lock.parent.mkdir(parents=True, exist_ok=True)
            self.lock.write_text(str(os.getpid()))
            command = [sys.executable, "-m", "matting.warmup", "--weights", str(weights), "--marker", str(self.marker)]
            if size:
                command += ["--size", str(size)]
            with open(self.marker.with_suffix(".log"), "w") as log:
                subprocess.Popen(command, cwd=PACKAGE_ROOT, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                 start_new_session=True, env=dict(os.environ, NUMBA_NUM_THREADS="1"))
            return True
        except OSError:
            return False


def warm_up(weights, size=None) -> None:
    """Every kernel the command line can call, compiled (or loaded) once: the network at its size
    on a landscape and a portrait picture, both refinements, every output type, and the video
    writer's colour conversions."""
    import numpy as np

    from matting.api import Matter
    from nnlite.ops.alpha_levels import mean_abs_difference
    from nnlite.ops.yuv420 import bgr_to_yuv420, gray_to_yuv420

    rng = np.random.default_rng(0)
    for refine in ("guided", "none"):
        matter = Matter(weights, size=size, refine=refine, threads=1)
        for shape in ((480, 640, 3), (640, 480, 3)):
            image = rng.integers(0, 256, shape, dtype=np.uint8)
            alpha = matter.predict(image)
            matter.cutout(image, alpha)
            matter.composite(image, alpha, "#00ff00")
            matter.composite(image, alpha, rng.integers(0, 256, (300, 500, 3), dtype=np.uint8))
            matter.blur_background(image, alpha)
            mean_abs_difference(alpha, alpha)
            bgr_to_yuv420(image)
            gray_to_yuv420(image[..., 0].copy())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", default=None, help="a shipped network's name or a weights file (default: the default network)")
    parser.add_argument("--size", type=int, help="the network's input long side (default: the weights' own)")
    parser.add_argument("--marker", type=Path, help="the marker to write when done (default: this machine's)")
    args = parser.parse_args(argv)
    from matting import DEFAULT_WEIGHTS

    marker = args.marker or marker_path()
    started = time.perf_counter()
    try:
        warm_up(args.weights or DEFAULT_WEIGHTS, args.size)
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.with_suffix(".tmp").write_text(f"kernels compiled in {time.perf_counter() - started:.1f} s\n")
        marker.with_suffix(".tmp").replace(marker)
        print(f"kernels ready in {time.perf_counter() - started:.1f} s: {marker}")
        return 0
    finally:
        marker.with_suffix(".lock").unlink(missing_ok=True)


if __name__ == "__main__":
    sys.exit(main())
