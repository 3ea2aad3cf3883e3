"""Portrait matting on nnlite: the fast deep matting network, pre/post-processing and the CLI."""
from pathlib import Path

DEFAULT_WEIGHTS = Path(__file__).resolve().parent / "weights" / "fdm-128.h5"
