"""Rebuilds the README pictures from the project's own commands.

    python scripts/readme-figures.py              # docs/images/astronaut.jpg from the Quick start command
    python scripts/readme-figures.py --eg1800     # also docs/images/eg1800-test.jpg via matting.evaluate --figure

The first tiles input | alpha | composite exactly as `python -m matting.infer` writes them.
"""
import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "matting" / "examples" / "astronaut.jpg"
IMAGES = ROOT / "docs" / "images"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--eg1800", action="store_true", help="also redraw the EG1800 comparison (needs ../shared)")
    args = parser.parse_args()
    IMAGES.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as out:
        subprocess.run([sys.executable, "-m", "matting.infer", str(EXAMPLE), "-o", out], check=True, cwd=ROOT)
        tiles = [cv2.imread(str(EXAMPLE)), cv2.imread(str(Path(out) / "astronaut.alpha.png")),
                 cv2.imread(str(Path(out) / "astronaut.composite.png"))]
    row = np.concatenate([cv2.resize(t, (320, 320), interpolation=cv2.INTER_AREA) for t in tiles], axis=1)
    cv2.imwrite(str(IMAGES / "astronaut.jpg"), row, [cv2.IMWRITE_JPEG_QUALITY, 88])
    if args.eg1800:
        subprocess.run([sys.executable, "-m", "matting.evaluate", "--limit", "3", "--figure", str(IMAGES / "eg1800-test.png")],
                       check=True, cwd=ROOT)
        figure = cv2.imread(str(IMAGES / "eg1800-test.png"))
        cv2.imwrite(str(IMAGES / "eg1800-test.jpg"), figure, [cv2.IMWRITE_JPEG_QUALITY, 88])
        (IMAGES / "eg1800-test.png").unlink()


if __name__ == "__main__":
    main()
