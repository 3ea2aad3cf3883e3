"""Matting quality on labelled sets of photos of people, at the data's full resolution.

    python -m matting.evaluate [--data ../shared/data/eg1800] [--list test.txt] [--json results.json]
    python -m matting.evaluate --weights NAME --set eg1800 --set ccp --set mine=photos/ [--json results.json]

With --set (repeatable), one row per set for the matte the CLI gives (the network's alpha carried up
by guided upsampling): IoU, MSE, SAD, Grad and "IoU<0.8", the share of images whose IoU is below
0.8 (the failures a user notices); --worst N lists each set's N images of lowest IoU under its row,
and --json keeps every image's scores. A set is NAME=FOLDER[:LIST] or a folder alone; the folder holds
images/ID.jpg (or .png), masks/ID.png (0/255) and, optionally, alpha/ID.png (soft; the mask stands
in without it) and LIST, a file of ids (default: every image). Shorthands: eg1800 (EG1800's
test.txt) and ccp (CCP's val.txt) in ../shared/data.

Without --set, the paper's comparison on one set (EG1800's test list by default):

For every image the network runs once at the inference size, and four mattes are scored against the
soft alpha (alpha/NNNNN.png) and the binary mask (masks/NNNNN.png), all at full resolution:

    LDN          the segmentation score S_F, bilinearly enlarged
    LDN+GF       classic guided filter (He et al.) on the enlarged S_F, guided by the full-size gray
                 image; radius and eps tuned on the validation list (unlisted.txt) unless given
    LDN+FB       the feathering block's alpha, bilinearly enlarged (--refine none)
    LDN+FB+GU    the feathering block's alpha carried up by fast guided upsampling (--refine guided,
                 the CLI default)

Metrics, alpha in [0, 1], averaged over images: MSE (paper eq. 10); Grad (eq. 9: mean over pixels of
the L2 norm of the difference of the two alpha gradients, central differences); SAD (sum of absolute
differences, in thousands); IoU of (alpha > 0.5) against the mask; Edge%, the share of the MSE that
comes from pixels within EDGE_BAND_PX pixels of the mask's outline (mse_edge in the JSON). Edge% is
how much of the MSE an edge refiner (the guided filter, the feathering block) can reach at all: the
rest is whole regions the segmentation got wrong.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from matting import DEFAULT_NETWORK, resolve_weights
from matting.api import Matter
from matting.refine import guided_filter, guided_upsample, to_gray01

DEFAULT_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "eg1800"
PAPER_NETWORK = "fdm-128"  # the paper's comparison (LDN, +GF, +FB) is about the paper's network
METHODS = ("LDN", "LDN+GF", "LDN+FB", "LDN+FB+GU")
GF_RADII = (2, 4, 8, 16, 32, 64)
GF_EPS = (1e-4, 1e-3, 1e-2, 1e-1)
EDGE_BAND_PX = 16  # at 600x800: 3 to 4 pixels of a 128 px inference, the blur of one upsampling


def edge_band(mask: np.ndarray, width: int = EDGE_BAND_PX) -> np.ndarray:
    """Pixels within `width` of the boundary between mask and background."""
    inside = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 3)
    outside = cv2.distanceTransform((~mask).astype(np.uint8), cv2.DIST_L2, 3)
    return np.where(mask, inside, outside) <= width


def metrics(alpha: np.ndarray, truth: np.ndarray, mask: np.ndarray, band: np.ndarray | None = None) -> dict:
    diff = alpha.astype(np.float64) - truth
    band = edge_band(mask) if band is None else band
    squared = diff ** 2
    gy, gx = np.gradient(alpha.astype(np.float64))
    ty, tx = np.gradient(truth)
    fg = alpha > 0.5
    union = np.logical_or(fg, mask).sum()
    return {"mse": float(np.mean(squared)), "grad": float(np.mean(np.hypot(gx - tx, gy - ty))),
            "sad": float(np.abs(diff).sum() / 1000), "iou": float(np.logical_and(fg, mask).sum() / union) if union else 1.0,
            "mse_edge": float(squared[band].sum() / squared.size)}


IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
SHARED_DATA = DEFAULT_DATA.parent
STANDARD_SETS = {"eg1800": (SHARED_DATA / "eg1800", "test.txt"), "ccp": (SHARED_DATA / "ccp", "val.txt")}
FAILURE_IOU = 0.8


def load_example(data: Path, image_id: str):
    """(BGR image, soft alpha in [0, 1] float64, bool mask); the mask stands in for a missing alpha."""
    image = None
    for suffix in IMAGE_SUFFIXES:
        if (data / "images" / f"{image_id}{suffix}").is_file():
            image = cv2.imread(str(data / "images" / f"{image_id}{suffix}"), cv2.IMREAD_COLOR)
            break
    mask = cv2.imread(str(data / "masks" / f"{image_id}.png"), cv2.IMREAD_GRAYSCALE)
    alpha = cv2.imread(str(data / "alpha" / f"{image_id}.png"), cv2.IMREAD_GRAYSCALE) if (data / "alpha").is_dir() else mask
    if image is None or alpha is None or mask is None:
        raise FileNotFoundError(f"{data}: image, alpha or mask missing for id {image_id}")
    if mask.shape != image.shape[:2] or alpha.shape != image.shape[:2]:
        raise ValueError(f"{data}: the mask or alpha of id {image_id} is not the size of its image")
    return image, alpha.astype(np.float64) / 255, mask > 127


def parse_set(text: str) -> tuple[str, Path, list[str]]:
    """NAME=FOLDER[:LIST], FOLDER or a shorthand -> (name, folder, ids)."""
    if text in STANDARD_SETS:
        name, (folder, list_name) = text, STANDARD_SETS[text]
    else:
        name, _, rest = text.rpartition("=")
        folder_text, _, list_name = rest.partition(":")
        folder = Path(folder_text)
        name = name or folder.name
    if not (folder / "images").is_dir() or not (folder / "masks").is_dir():
        raise SystemExit(f"error: {folder}: a set needs images/ and masks/ folders; see python -m matting.evaluate --help")
    if list_name:
        if not (folder / list_name).is_file():
            raise SystemExit(f"error: {folder / list_name}: no such id list")
        ids = (folder / list_name).read_text().split()
    else:
        ids = sorted(p.stem for p in (folder / "images").iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not ids:
        raise SystemExit(f"error: {folder}: no images to score")
    return name, folder, ids


def score_set(matter: Matter, folder: Path, ids: list[str], limit: int | None = None) -> dict:
    """Mean IoU, MSE, SAD, Grad of the CLI's matte over a set, the share of images with IoU < 0.8,
    and each image's scores ("per_image", in id order)."""
    totals, failures, per_image, ids = {}, 0, [], ids[:limit]
    for image_id in ids:
        image, truth, mask = load_example(folder, image_id)
        m = metrics(matter.predict(image), truth, mask)
        per_image.append(dict(m, id=image_id))
        failures += m["iou"] < FAILURE_IOU
        for key, value in m.items():
            totals[key] = totals.get(key, 0.0) + value
    result = {key: value / len(ids) for key, value in totals.items()}
    result.update(images=len(ids), failure_share=failures / len(ids), per_image=per_image)
    return result


def evaluate_sets(args) -> None:
    matter = Matter(args.weights, size=args.size)
    record = {"weights": str(args.weights), "size": matter.size, "sets": {}}
    print(f"{'set':<16} {'images':>6} {'IoU':>7} {'MSE':>8} {'SAD(k)':>8} {'Grad':>9} {'IoU<0.8':>8}   (size {matter.size})")
    for text in args.set:
        name, folder, ids = parse_set(text)
        t0 = time.time()
        r = score_set(matter, folder, ids, args.limit)
        record["sets"][name] = dict(r, folder=str(folder), seconds=time.time() - t0)
        print(f"{name:<16} {r['images']:>6} {r['iou']:7.4f} {r['mse']:8.5f} {r['sad']:8.2f} {r['grad']:9.2e} {100 * r['failure_share']:7.1f}%",
              flush=True)
        for m in sorted(r["per_image"], key=lambda m: m["iou"])[:args.worst]:
            print(f"  {m['id']:<14} {'':>6} {m['iou']:7.4f} {m['mse']:8.5f} {m['sad']:8.2f} {m['grad']:9.2e}", flush=True)
    if args.json:
        tmp = args.json.with_name(args.json.name + ".tmp")
        tmp.write_text(json.dumps(record, indent=1))
        os.replace(tmp, args.json)


def mattes(matter: Matter, image: np.ndarray, gf_radius: int, gf_eps: float) -> dict:
    h, w = image.shape[:2]
    alpha_small, rgb01_small, scores = matter.predict_small(image)
    gray_full = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(np.float32) / 255
    enlarge = lambda plane: np.clip(cv2.resize(plane, (w, h), interpolation=cv2.INTER_LINEAR), 0, 1)
    s_f = enlarge(scores[1])
    return {"LDN": s_f,
            "LDN+GF": guided_filter(gray_full, s_f, gf_radius, gf_eps),
            "LDN+FB": enlarge(alpha_small),
            "LDN+FB+GU": guided_upsample(alpha_small, to_gray01(rgb01_small), image, matter.guided_radius, matter.guided_eps)}


def tune_guided_filter(matter: Matter, data: Path, ids: list[str]) -> tuple[int, float]:
    """Grid search of the classic guided filter's (radius, eps) by MSE on the validation ids."""
    scores = {(r, e): 0.0 for r in GF_RADII for e in GF_EPS}
    for image_id in ids:
        image, truth, _ = load_example(data, image_id)
        _, _, s = matter.predict_small(image)
        h, w = image.shape[:2]
        s_f = np.clip(cv2.resize(s[1], (w, h), interpolation=cv2.INTER_LINEAR), 0, 1)
        gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(np.float32) / 255
        for (r, e) in scores:
            scores[(r, e)] += float(np.mean((guided_filter(gray, s_f, r, e) - truth) ** 2))
    return min(scores, key=scores.get)


def comparison_figure(rows: list[list[np.ndarray]], path: Path, height: int = 240) -> None:
    """rows of [image, LDN, LDN+GF, LDN+FB...] -> one PNG, mattes shown as gray images."""
    lines = []
    for row in rows:
        tiles = []
        for tile in row:
            tile = tile if tile.ndim == 3 else cv2.cvtColor(np.round(tile * 255).astype(np.uint8), cv2.COLOR_GRAY2BGR)
            tiles.append(cv2.resize(tile, (tile.shape[1] * height // tile.shape[0], height), interpolation=cv2.INTER_AREA))
        lines.append(np.concatenate(tiles, axis=1))
    width = max(line.shape[1] for line in lines)  # a narrower row (taller photos) is scaled up to the full width:
    lines = [line if line.shape[1] == width else  # padding would leave a blank panel at its end
             cv2.resize(line, (width, round(line.shape[0] * width / line.shape[1])), interpolation=cv2.INTER_LINEAR)
             for line in lines]
    tmp = path.with_name(path.name + ".tmp.png")
    cv2.imwrite(str(tmp), np.concatenate(lines, axis=0))
    os.replace(tmp, path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="labelled portrait folder (default: %(default)s)")
    parser.add_argument("--list", default="test.txt", help="id list inside --data to score (default: %(default)s)")
    parser.add_argument("--validation-list", default="unlisted.txt", help="ids for tuning the guided filter (default: %(default)s)")
    parser.add_argument("--weights", type=resolve_weights,
                        help=f"shipped network name or nnlite weights file (default: with --set, the CLI's "
                             f"{DEFAULT_NETWORK}; without, the paper's {PAPER_NETWORK})")
    parser.add_argument("--size", type=int, default=None, help="inference long side (default: from the weights file)")
    parser.add_argument("--gf-radius", type=int, help="classic guided filter radius (default: tuned)")
    parser.add_argument("--gf-eps", type=float, help="classic guided filter eps (default: tuned)")
    parser.add_argument("--limit", type=int, help="score only the first N ids")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--figure", type=Path, help="write an input | LDN | LDN+GF | LDN+FB picture of the first 3 ids")
    parser.add_argument("--set", action="append",
                        help="score this set (NAME=FOLDER[:LIST], a folder, eg1800 or ccp; repeatable): one row per set")
    parser.add_argument("--worst", type=int, default=0, metavar="N",
                        help="with --set: under each set's row, its N images of lowest IoU, to look at "
                             "(every image's scores are in --json's per_image)")
    args = parser.parse_args(argv)
    if args.worst < 0:
        parser.error("--worst takes a number of images, 0 or more")
    if args.worst and not args.set:
        parser.error("--worst lists images of the sets given by --set")
    if args.set:
        args.weights = args.weights or resolve_weights(DEFAULT_NETWORK)
        return evaluate_sets(args)
    args.weights = args.weights or resolve_weights(PAPER_NETWORK)

    data = args.data
    if not (data / args.list).is_file():
        sys.exit(f"error: {data / args.list}: no such id list; pass --data with the EG1800 folder")
    ids = (data / args.list).read_text().split()[: args.limit]
    matter = Matter(args.weights, size=args.size)
    if args.gf_radius is None or args.gf_eps is None:
        val_ids = (data / args.validation_list).read_text().split()
        print(f"tuning the guided filter on {len(val_ids)} ids of {args.validation_list} ...", file=sys.stderr, flush=True)
        args.gf_radius, args.gf_eps = tune_guided_filter(matter, data, val_ids)
    print(f"guided filter radius {args.gf_radius}, eps {args.gf_eps}", file=sys.stderr)

    totals = {m: {} for m in METHODS}
    figure_rows, t0 = [], time.time()
    for n, image_id in enumerate(ids, 1):
        image, truth, mask = load_example(data, image_id)
        result = mattes(matter, image, args.gf_radius, args.gf_eps)
        band = edge_band(mask)
        for method, alpha in result.items():
            for key, value in metrics(alpha, truth, mask, band).items():
                totals[method][key] = totals[method].get(key, 0.0) + value
        if len(figure_rows) < 3:
            figure_rows.append([image, result["LDN"], result["LDN+GF"], result["LDN+FB+GU"]])
        if n % 25 == 0 or n == len(ids):
            print(f"{n}/{len(ids)} images, {n / (time.time() - t0):.1f} images/s", file=sys.stderr, flush=True)
    results = {m: {k: v / len(ids) for k, v in totals[m].items()} for m in METHODS}

    print(f"{'method':<11} {'MSE':>8} {'Grad':>9} {'SAD(k)':>8} {'IoU':>7} {'Edge%':>6}   ({len(ids)} images of {args.list}, size {matter.size})")
    for method in METHODS:
        r = results[method]
        print(f"{method:<11} {r['mse']:8.5f} {r['grad']:9.2e} {r['sad']:8.2f} {r['iou']:7.4f} {100 * r['mse_edge'] / max(r['mse'], 1e-12):6.1f}")
    record = {"data": str(data), "list": args.list, "images": len(ids), "size": matter.size, "weights": str(args.weights),
              "guided_filter": {"radius": args.gf_radius, "eps": args.gf_eps}, "results": results}
    if args.json:
        tmp = args.json.with_name(args.json.name + ".tmp")
        tmp.write_text(json.dumps(record, indent=1))
        os.replace(tmp, args.json)
    if args.figure:
        comparison_figure(figure_rows, args.figure)


if __name__ == "__main__":
    main()
