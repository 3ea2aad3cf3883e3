"""Rebuilds the README pictures from the project's own commands.

    python scripts/readme-figures.py          # docs/images/astronaut.jpg and methods.jpg
    python scripts/readme-figures.py --eg1800 # also build/eg1800-test.png (never committed: EG1800 is research-only)

astronaut.jpg tiles input | alpha | composite exactly as the Quick start command writes them;
methods.jpg shows input | LDN | LDN+GF | LDN+FB (+ guided upsampling), the mattes that
python -m matting.evaluate scores, on the shipped public-domain examples.
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
        subprocess.run([sys.executable, "-m", "matting.infer", str(EXAMPLE), "-o", out], check=True, cwd=ROOT)
        tiles = [cv2.imread(str(EXAMPLE)), cv2.imread(str(Path(out) / "astronaut.alpha.png")),
                 cv2.imread(str(Path(out) / "astronaut.composite.png"))]
    row = np.concatenate([cv2.resize(t, (320, 320), interpolation=cv2.INTER_AREA) for t in tiles], axis=1)
    cv2.imwrite(str(IMAGES / "astronaut.jpg"), row, [cv2.IMWRITE_JPEG_QUALITY, 88])
    sys.path.insert(0, str(ROOT))
    from matting.api import Matter
    from matting.evaluate import comparison_figure, mattes

    matter, rows = Matter(), []
    for path in sorted(EXAMPLES.glob("*.jpg")):
        image = cv2.imread(str(path))
        result = mattes(matter, image, args.gf_radius, args.gf_eps)
        rows.append([image, result["LDN"], result["LDN+GF"], result["LDN+FB+GU"]])
    comparison_figure(rows, IMAGES / "methods.png", height=256)
    figure = cv2.imread(str(IMAGES / "methods.png"))
    cv2.imwrite(str(IMAGES / "methods.jpg"), figure, [cv2.IMWRITE_JPEG_QUALITY, 88])
    (IMAGES / "methods.png").unlink()
    if args.eg1800:
        (ROOT / "build").mkdir(exist_ok=True)
        subprocess.run([sys.executable, "-m", "matting.evaluate", "--limit", "3", "--gf-radius", str(args.gf_radius),
                        "--gf-eps", str(args.gf_eps), "--figure", str(ROOT / "build" / "eg1800-test.png")], check=True, cwd=ROOT)


if __name__ == "__main__":
    main()
