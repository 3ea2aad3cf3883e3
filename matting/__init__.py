"""Portrait matting on nnlite: the fast deep matting network, pre/post-processing and the CLI."""
from pathlib import Path

__version__ = "0.1.0"  # the package's version, as in setup.cfg

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
# the shipped networks, by the name --weights also accepts: the paper's network (fdm-128), its dense
# block twice as wide (about 2x slower, more accurate on portraits), and the encoder-decoder that sees
# the whole frame (full-body photos, groups, people small in the frame), the default since it is better
# on every test set and within the speed budget (README, "Which network")
SHIPPED_WEIGHTS = {"fdm-128": WEIGHTS_DIR / "fdm-128.h5", "fdm-128-g32": WEIGHTS_DIR / "fdm-128-g32.h5",
                   "fdm-people-256": WEIGHTS_DIR / "fdm-people-256.h5"}
DEFAULT_NETWORK = "fdm-people-256"
DEFAULT_WEIGHTS = SHIPPED_WEIGHTS[DEFAULT_NETWORK]


def resolve_weights(name_or_path) -> Path:
    """A shipped network's name (see SHIPPED_WEIGHTS) or a weights file's path -> the path."""
    return SHIPPED_WEIGHTS.get(str(name_or_path), Path(name_or_path))


def __dir__():
    return sorted(list(globals()) + ["Matter"])


def __getattr__(name):
    # Matter pulls in cv2 and the network; import it lazily so `import matting.model` stays light
    if name == "Matter":
        from matting.api import Matter

        return Matter
    raise AttributeError(name)
