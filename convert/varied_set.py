"""A synthetic stand-in for "varied photos of people", to choose between networks: groups of cut-out
people at any size on streets and rendered scenes (banners, shelves, tiles), people in front of a
replaced background, zoomed photos cut at any edge, and frames with nobody in them.

The validation lists (CCP val.txt, EG1800 unlisted.txt) are whole photos framed as their datasets
frame them; what users also send (several people, people small in the frame, busy backgrounds) is
scored nowhere here. This set is made from the validation lists' people only (never a training or
test photo) by the training's own sample maker (convert/people_data.py), with a fixed seed, and
written as a folder that `python -m matting.evaluate --set` reads:

    python -m convert.varied_set --out ~/.cache/fdm/varied      # about 20 s
    python -m matting.evaluate --weights fdm-people-256 --set varied=$HOME/.cache/fdm/varied

Its backgrounds are the training's (CamVid frames, rendered scenes) and its people are pasted, so it
is a proxy for model selection, not a figure to report: the data is for research use, and the folder
stays out of the repository.
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

import cv2
import numpy as np

from convert.people_data import SHARED_DATA, SampleMaker, load_people, load_streets

# "photo" framings zoom in and out (people cut by the edges, or small on real surroundings)
KINDS = {"composite": 0.45, "swap": 0.2, "photo": 0.25, "nobody": 0.1}


def write_varied_set(out: Path, data_root: Path, cache: Path, count: int = 200, size: int = 384, seed: int = 2026) -> None:
    people = (load_people(data_root / "eg1800", "unlisted.txt", cache)
              + load_people(data_root / "ccp", "val.txt", cache))
    maker = SampleMaker(people, load_streets(data_root / "camvid", cache), size, seed=seed)
    maker.kinds, maker.kind_p = list(KINDS), np.array(list(KINDS.values())) / sum(KINDS.values())
    for sub in ("images", "alpha", "masks"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    ids = []
    for n in range(count):
        image, alpha = maker.make(np.random.default_rng([seed, n]))
        image_id = f"{n:04d}"
        bgr = np.round(image[..., ::-1] * 255).astype(np.uint8)
        alpha8 = np.round(alpha * 255).astype(np.uint8)
        for path, picture in ((out / "images" / f"{image_id}.png", bgr), (out / "alpha" / f"{image_id}.png", alpha8),
                              (out / "masks" / f"{image_id}.png", np.where(alpha8 >= 128, 255, 0).astype(np.uint8))):
            tmp = path.with_name(path.stem + ".tmp.png")
            cv2.imwrite(str(tmp), picture)
            os.replace(tmp, path)
        ids.append(image_id)
    (out / "ids.txt").write_text("\n".join(ids) + "\n")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="folder to write images/, alpha/, masks/ and ids.txt into")
    parser.add_argument("--data-root", type=Path, default=SHARED_DATA,
                        help="folder holding eg1800/, ccp/ and camvid/ (default: %(default)s)")
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "fdm", help="decoded-data cache (default: %(default)s)")
    parser.add_argument("--count", type=int, default=200, help="pictures to make (default: %(default)s)")
    parser.add_argument("--size", type=int, default=384, help="side of the square pictures (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=2026, help="(default: %(default)s)")
    args = parser.parse_args(argv)
    if args.count < 1 or args.size < 32:
        parser.error("--count must be at least 1 and --size at least 32")
    for name in ("eg1800", "ccp", "camvid"):
        if not (args.data_root / name).is_dir():
            parser.error(f"{args.data_root / name} is not a folder; pass --data-root with eg1800/, ccp/ and camvid/")
    write_varied_set(args.out, args.data_root, args.cache, args.count, args.size, args.seed)
    print(f"wrote {args.count} pictures to {args.out}; score with python -m matting.evaluate --set varied={args.out}")


if __name__ == "__main__":
    main()
