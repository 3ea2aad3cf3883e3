"""Portrait matting on nnlite: the fast deep matting network, pre/post-processing and the CLI."""
from pathlib import Path

DEFAULT_WEIGHTS = Path(__file__).resolve().parent / "weights" / "fdm-128.h5"


def __getattr__(name):
    # Matter pulls in cv2 and the network; import it lazily so `import matting.model` stays light
    if name == "Matter":
        from matting.api import Matter

        return Matter
    raise AttributeError(name)
