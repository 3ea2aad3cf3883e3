"""Rebuilds the README pictures from the project's own commands.

    python scripts/readme-figures.py          # docs/images/astronaut.jpg, methods.jpg and people.jpg
    python scripts/readme-figures.py --eg1800 # also build/eg1800-test.png (never committed: EG1800 is research-only)

astronaut.jpg tiles input | alpha | composite exactly as the Quick start command writes them;
methods.jpg shows input | LDN | LDN+GF | LDN+FB (+ guided upsampling) of the paper's network
(fdm-128), the mattes that python -m matting.evaluate scores, on the shipped public-domain examples.
people.jpg shows input | fdm-128 | the default network on a close portrait and on two scenes made
here from the public-domain portraits (cut out by OpenCV's GrabCut, which neither network had a hand
in): a group in front of a text banner and one person small in the corner of a tiled hall. No photo of EG1800 or
CCP is ever drawn.
"""
import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "matting" / "examples"
EXAMPLE = EXAMPLES / "astronaut.jpg"
IMAGES = ROOT / "docs" / "images"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--eg1800", action="store_true", help="also draw the EG1800 comparison into build/ (needs ../shared)")
    # the values python -m matting.evaluate tuned on the validation list for the shipped weights
    parser.add_argument("--gf-radius", type=int, default=16, help="classic guided filter radius (default: %(default)s)")
    parser.add_argument("--gf-eps", type=float, default=1e-3, help="classic guided filter eps (default: %(default)s)")
    args = parser.parse_args()
    IMAGES.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as out:
        subprocess.run([sys.executable, "-m", "matting.infer", str(EXAMPLE), "-o", out, "--compile-now"], check=True, cwd=ROOT)
        tiles = [cv2.imread(str(EXAMPLE)), cv2.imread(str(Path(out) / "astronaut.alpha.png")),
                 cv2.imread(str(Path(out) / "astronaut.composite.png"))]
    row = np.concatenate([cv2.resize(t, (320, 320), interpolation=cv2.INTER_AREA) for t in tiles], axis=1)
    cv2.imwrite(str(IMAGES / "astronaut.jpg"), row, [cv2.IMWRITE_JPEG_QUALITY, 88])
    sys.path.insert(0, str(ROOT))
    from matting.api import Matter
    from matting.evaluate import comparison_figure, mattes

    matter, rows = Matter("fdm-128"), []  # the paper's methods: its network, with and without the FB
    for path in sorted(EXAMPLES.glob("*.jpg")):
        image = cv2.imread(str(path))
        result = mattes(matter, image, args.gf_radius, args.gf_eps)
        rows.append([image, result["LDN"], result["LDN+GF"], result["LDN+FB+GU"]])
    comparison_figure(rows, IMAGES / "methods.png", height=256)
    figure = cv2.imread(str(IMAGES / "methods.png"))
    cv2.imwrite(str(IMAGES / "methods.jpg"), figure, [cv2.IMWRITE_JPEG_QUALITY, 88])
    (IMAGES / "methods.png").unlink()
    people_figure(IMAGES / "people.jpg")
    if args.eg1800:
        (ROOT / "build").mkdir(exist_ok=True)
        subprocess.run([sys.executable, "-m", "matting.evaluate", "--limit", "3", "--gf-radius", str(args.gf_radius),
                        "--gf-eps", str(args.gf_eps), "--figure", str(ROOT / "build" / "eg1800-test.png")], check=True, cwd=ROOT)


def grabcut_cutout(image):
    """(image, soft alpha) of the person in a centred portrait by GrabCut from a generous rectangle."""
    h, w = image.shape[:2]
    mask = np.zeros((h, w), np.uint8)
    models = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.grabCut(image, mask, (w // 20, h // 10, w - w // 10, h - h // 10), *models, 6, cv2.GC_INIT_WITH_RECT)
    hard = np.isin(mask, (cv2.GC_FGD, cv2.GC_PR_FGD)).astype(np.float32)
    return image, cv2.GaussianBlur(hard, (0, 0), 1.5)


def paste(scene, person, alpha, height, left, bottom):
    """Pastes a cut-out `height` pixels high with its bottom-left corner at (left, bottom)."""
    scale = height / person.shape[0]
    size = (max(1, round(person.shape[1] * scale)), height)
    person, alpha = cv2.resize(person, size, interpolation=cv2.INTER_AREA), cv2.resize(alpha, size, interpolation=cv2.INTER_AREA)
    y0, x0 = bottom - height, left
    region = scene[y0:bottom, x0:x0 + size[0]]
    a = alpha[: region.shape[0], : region.shape[1], None]
    region[:] = np.round(a * person[: region.shape[0], : region.shape[1]] + (1 - a) * region).astype(np.uint8)


def banner_wall(h, w):
    scene = np.zeros((h, w, 3), np.uint8)
    scene[:] = np.linspace(70, 150, h, dtype=np.float32)[:, None, None] * np.array([0.9, 0.8, 0.7], np.float32)
    cv2.rectangle(scene, (0, h // 12), (w, h // 2), (40, 40, 170), -1)
    cv2.putText(scene, "WELCOME", (w // 30, h // 3), cv2.FONT_HERSHEY_TRIPLEX, w / 260, (245, 245, 245), max(2, w // 120), cv2.LINE_AA)
    return scene


def tiled_hall(h, w):
    scene = np.full((h, w, 3), (175, 185, 195), np.uint8)
    horizon = int(h * 0.55)
    cv2.fillPoly(scene, [np.array([[0, h], [w, h], [w * 4 // 5, horizon], [w // 5, horizon]], np.int32)], (110, 130, 140))
    for k in range(11):
        cv2.line(scene, (k * w // 10, h), (w // 5 + k * (3 * w // 5) // 10, horizon), (70, 80, 90), 2)
    for y in np.geomspace(horizon + 8, h, 6).astype(int):
        cv2.line(scene, (0, int(y)), (w, int(y)), (70, 80, 90), 2)
    for x in range(w // 10, w, w // 4):
        cv2.rectangle(scene, (x, h // 10), (x + w // 8, horizon - h // 10), (60, 90, 130), -1)
    return scene


def people_figure(path):
    from matting import DEFAULT_WEIGHTS, SHIPPED_WEIGHTS
    from matting.api import Matter

    astronaut, hopper = (grabcut_cutout(cv2.imread(str(EXAMPLES / name))) for name in ("astronaut.jpg", "grace_hopper.jpg"))
    group = banner_wall(480, 640)
    paste(group, *astronaut, 300, 40, 480)
    paste(group, *hopper, 330, 330, 480)
    small = tiled_hall(480, 640)  # someone in the near corner of a wide shot, cut by the frame's bottom edge
    paste(small, *astronaut, 170, 440, 480)
    portrait = cv2.imread(str(EXAMPLES / "grace_hopper.jpg"))
    default = next(name for name, file in SHIPPED_WEIGHTS.items() if file == DEFAULT_WEIGHTS)
    columns = ["fdm-128"] + ([default] if default != "fdm-128" else [n for n in SHIPPED_WEIGHTS if not n.startswith("fdm-128")][:1])
    matters = [Matter(name) for name in columns]
    rows = []
    for scene in (portrait, group, small):
        tiles = [scene] + [cv2.cvtColor(np.round(m.predict(scene) * 255).astype(np.uint8), cv2.COLOR_GRAY2BGR) for m in matters]
        rows.append(np.concatenate([cv2.resize(t, (round(t.shape[1] * 240 / t.shape[0]), 240), interpolation=cv2.INTER_AREA)
                                    for t in tiles], axis=1))
    width = max(r.shape[1] for r in rows)
    rows = [r if r.shape[1] == width else cv2.resize(r, (width, round(r.shape[0] * width / r.shape[1]))) for r in rows]
    header = np.full((28, width, 3), 255, np.uint8)
    for k, label in enumerate(["input"] + columns):
        cv2.putText(header, label, (8 + k * width // (len(columns) + 1), 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.imwrite(str(path), np.concatenate([header, *rows], axis=0), [cv2.IMWRITE_JPEG_QUALITY, 88])


if __name__ == "__main__":
    main()
