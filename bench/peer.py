"""The peer, measured here: MediaPipe Selfie Segmentation against our networks on the same photos,
quality per set (the measures of python -m matting.evaluate) and time per photo, side by side.

MediaPipe's selfie model (Apache 2.0) ships inside the mediapipe wheel up to 0.10.14, for its legacy
"solutions" API; later releases fetch models at run time, which this machine cannot. It pins its
own OpenCV build, so give it a virtual environment of its own:

    python3 -m venv .venv-peer && . .venv-peer/bin/activate
    pip install mediapipe==0.10.14 && pip install -e .
    python -m bench.peer --set eg1800 --set ccp

Both engines run on one core (the process is pinned to it): MediaPipe's legacy graph has no thread
setting, so pinning is what makes the two comparable. Quality: each engine at its own default size
(MediaPipe's general model takes 256x256), matte at the photo's full resolution, IoU against the
hand-made mask, MSE / SAD / Grad against the soft alpha. Time: the engines interleaved photo by
photo, from the decoded BGR photo to the full-resolution matte, and on a 256x256 frame.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a file: python bench/peer.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import cv2
import numpy as np

from bench.common import configuration, print_configuration, summary
from matting import Matter, resolve_weights
from matting.evaluate import FAILURE_IOU, load_example, metrics, parse_set

INSTALL_HINT = ("pip install mediapipe==0.10.14 in a virtual environment of its own (the last release whose wheel "
                "carries the selfie model), then pip install -e . there; see python -m bench.peer --help")


class MediaPipeSelfie:
    """MediaPipe Selfie Segmentation, general model (256x256): BGR photo -> matte at its size."""

    name = "mediapipe"

    def __init__(self):
        try:
            import mediapipe
            solution = mediapipe.solutions.selfie_segmentation
        except (ImportError, AttributeError) as error:
            raise SystemExit(f"error: MediaPipe's selfie segmentation is not available ({error}); {INSTALL_HINT}") from None
        self.version = mediapipe.__version__
        try:
            self.segmenter = solution.SelfieSegmentation(model_selection=0)
        except Exception as error:  # a release without the bundled model file
            raise SystemExit(f"error: mediapipe {self.version} cannot load its selfie model ({error}); {INSTALL_HINT}") from None

    def predict(self, bgr: np.ndarray) -> np.ndarray:
        mask = self.segmenter.process(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)).segmentation_mask
        return np.clip(mask, 0.0, 1.0)


class Ours:
    def __init__(self, weights: str):
        self.name = weights
        self.matter = Matter(resolve_weights(weights), threads=1)

    def predict(self, bgr: np.ndarray) -> np.ndarray:
        return self.matter.predict(bgr)


def pin_to_one_core() -> str:
    if not hasattr(os, "sched_setaffinity"):
        return "not pinned (no sched_setaffinity here)"
    core = max(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {core})
    return f"pinned to CPU {core}"


def score(engines: list, folder: Path, ids: list[str]) -> dict:
    totals = {e.name: {} for e in engines}
    failures = {e.name: 0 for e in engines}
    for n, image_id in enumerate(ids, 1):
        image, truth, mask = load_example(folder, image_id)
        for engine in engines:
            m = metrics(engine.predict(image), truth, mask)
            failures[engine.name] += m["iou"] < FAILURE_IOU
            for key, value in m.items():
                totals[engine.name][key] = totals[engine.name].get(key, 0.0) + value
        if n % 25 == 0:
            print(f"#   {n}/{len(ids)}", file=sys.stderr, flush=True)
    return {name: {**{k: v / len(ids) for k, v in t.items()}, "failure_share": failures[name] / len(ids),
                   "images": len(ids)} for name, t in totals.items()}


def interleaved_ms(engines: list, images: list[np.ndarray], rounds: int) -> dict:
    for engine in engines:  # warm-up: kernels, graphs, buffers for these sizes
        engine.predict(images[0])
    times = {e.name: [] for e in engines}
    for _ in range(rounds):
        for image in images:
            for engine in engines:
                t0 = time.perf_counter()
                engine.predict(image)
                times[engine.name].append(time.perf_counter() - t0)
    return {name: summary(t) for name, t in times.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", action="append", dest="sets",
                        help="eg1800 (test.txt), ccp (val.txt), or NAME=FOLDER[:LIST] as in python -m matting.evaluate "
                             "(repeatable; default: eg1800 and ccp)")
    parser.add_argument("--weights", action="append",
                        help="our network(s) to compare (repeatable; default: fdm-people-256 and fdm-128)")
    parser.add_argument("--limit", type=int, help="score only the first N ids of each set")
    parser.add_argument("--timing-photos", type=int, default=20, help="photos of the first set timed (default: %(default)s)")
    parser.add_argument("--rounds", type=int, default=3, help="timed passes over them (default: %(default)s)")
    parser.add_argument("--json", type=Path, help="write the record here")
    args = parser.parse_args(argv)

    peer = MediaPipeSelfie()
    pinned = pin_to_one_core()
    engines = [peer] + [Ours(w) for w in (args.weights or ["fdm-people-256", "fdm-128"])]
    config = configuration({"mediapipe": peer.version, "affinity": pinned})
    print_configuration(config)
    sets = [parse_set(s) for s in (args.sets or ["eg1800", "ccp"])]
    record = {"configuration": config, "sets": {}, "time_ms": {}}

    header = f"{'set':<10} {'engine':<16} {'IoU':>6} {'MSE':>7} {'SAD':>7} {'Grad':>7} {'IoU<0.8':>8}"
    print(header)
    for name, folder, ids in sets:
        ids = ids[:args.limit]
        results = score(engines, folder, ids)
        record["sets"][name] = results
        for engine, r in results.items():
            print(f"{name:<10} {engine:<16} {r['iou']:6.3f} {r['mse']:7.4f} {r['sad']:7.1f} {1000 * r['grad']:7.2f} "
                  f"{100 * r['failure_share']:7.1f}%", flush=True)

    name, folder, ids = sets[0]
    photos = [load_example(folder, i)[0] for i in ids[:args.timing_photos]]
    frames = [cv2.resize(p, (256, 256), interpolation=cv2.INTER_AREA) for p in photos]
    print(f"# time per call, median ms over {args.rounds} interleaved passes, one core ({pinned}); ratio to MediaPipe")
    for label, images in ((f"{name} photo {photos[0].shape[1]}x{photos[0].shape[0]}", photos), ("frame 256x256", frames)):
        timing = interleaved_ms(engines, images, args.rounds)
        record["time_ms"][label] = timing
        base = timing[peer.name]["median_ms"]
        for engine, t in timing.items():
            print(f"{label:<24} {engine:<16} median {t['median_ms']:7.2f}  min {t['min_ms']:7.2f}  x{t['median_ms'] / base:5.2f}")
    if args.json:
        args.json.write_text(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
