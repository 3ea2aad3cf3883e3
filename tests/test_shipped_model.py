"""The shipped weights (both networks): provenance, sane output, and parity with the torch reference."""
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import assert_close

from matting import SHIPPED_WEIGHTS
from matting.api import Matter, network_size
from matting.networks import open_network
from nnlite.weights import load_weights

EXAMPLE = Path(__file__).resolve().parent.parent / "matting" / "examples" / "astronaut.jpg"


@pytest.fixture(params=sorted(SHIPPED_WEIGHTS))
def shipped(request):
    return SHIPPED_WEIGHTS[request.param]


def test_weights_file_records_its_provenance(shipped):
    attrs = load_weights(shipped).attrs
    assert len(attrs["source_checkpoint_sha256"]) == 64
    assert "EG1800" in attrs["training_data"]
    # a run's command, or the runs whose weights were averaged (convert/average.py), each named
    command = attrs["training_command"].removeprefix("the mean of the weights of: ")
    assert all(part.startswith("python -m convert.train") for part in command.split("; "))
    assert attrs["inference_size"] == (128 if attrs["model"] == "fast-deep-matting" else 256)
    assert shipped.stat().st_size < 4_000_000  # the default network: 782 K float32 parameters, 3.1 MB


def test_alpha_is_a_matte_at_the_image_size(shipped):
    matter = Matter(shipped)
    image = cv2.imread(str(EXAMPLE))
    alpha = matter.predict(image)
    assert alpha.shape == image.shape[:2] and alpha.dtype == np.float32
    assert 0.0 <= alpha.min() and alpha.max() <= 1.0
    assert 0.1 < alpha.mean() < 0.9  # neither all foreground nor all background


@pytest.mark.parametrize("source", ["random", "astronaut"])
def test_shipped_weights_parity_with_torch(shipped, source):
    torch = pytest.importorskip("torch")
    from convert.export import model_from_weights

    network = open_network(str(shipped))
    model = model_from_weights(network.weights).eval()
    size, multiple = network.attrs["inference_size"], network.attrs.get("size_multiple", 2)
    if source == "random":
        x = np.random.default_rng(5).random((2, 3, size, size * 3 // 4 // multiple * multiple), dtype=np.float32)
    else:
        h, w = network_size(512, 512, size, multiple)
        x = np.ascontiguousarray(cv2.resize(cv2.imread(str(EXAMPLE)), (w, h), interpolation=cv2.INTER_AREA)[..., ::-1]
                                 .transpose(2, 0, 1)[None].astype(np.float32) / 255)
    with torch.no_grad():
        _, scores, alpha = model(torch.from_numpy(x))
    out = network.forward(x)
    assert_close(out["scores"], scores.numpy(), 1e-4, "scores")
    assert_close(out["alpha"], alpha.clamp(0, 1).numpy(), 1e-4, "alpha")


def test_shipped_npz_twin_matches_the_hdf5_file(shipped):
    from nnlite.weights import twin_path

    h5, npz = load_weights(shipped), load_weights(twin_path(shipped))
    assert h5.attrs == npz.attrs and h5.tensors.keys() == npz.tensors.keys()
    assert all(h5.tensors[k].tobytes() == npz.tensors[k].tobytes() for k in h5.tensors)


def test_matter_is_safe_to_share_between_threads():
    """8 threads x 3 photos each (different sizes, so the graph plans and reuses several buffer
    sets) give exactly the mattes of a sequential run."""
    from concurrent.futures import ThreadPoolExecutor

    from matting import Matter

    rng = np.random.default_rng(7)
    photos = [rng.integers(0, 255, (int(h), int(w), 3), dtype=np.uint8)
              for h, w in rng.integers(40, 200, size=(24, 2))]
    matter = Matter(refine="none")
    sequential = [matter.predict(p) for p in photos]
    with ThreadPoolExecutor(8) as pool:
        concurrent = list(pool.map(matter.predict, photos))
    for one, other in zip(sequential, concurrent):
        np.testing.assert_array_equal(one, other)
