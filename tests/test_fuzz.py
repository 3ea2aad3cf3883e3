"""Damaged inputs, seeded: every failure is a one-line NnliteError, nothing loads with changed bytes.

Weights: a few hundred mutations (bit flips, splices, inserted zeros, deletions, truncation) of a shipped
network's .h5 and .npz files, each loaded the way the CLI loads it. A mutation either raises
WeightsError or lands where it changes nothing the model uses (HDF5 free space, zip padding); then the
loaded tensors and attributes must equal the original's bit for bit.
Images: truncated and mutated JPEG / PNG / WebP files and wrong extensions, read the way the CLI reads
them: InputError, or a decoded picture the matter accepts (a flipped bit in compressed pixels is a
different picture, not an error: images carry no checksum).
"""
import struct
import zlib

import cv2
import numpy as np
import pytest

from matting import SHIPPED_WEIGHTS
from matting.api import InputError
from matting.io import read_image
from matting.networks import open_network
from nnlite.errors import NnliteError, WeightsError
from nnlite.weights import load_weights, twin_path

MUTATIONS_PER_FORMAT = 150


def mutate(data: bytes, rng) -> bytes:
    data = bytearray(data)
    kind = rng.integers(5)
    at = int(rng.integers(len(data)))
    if kind == 0:  # flip 1-8 bits
        for _ in range(int(rng.integers(1, 9))):
            i = int(rng.integers(len(data)))
            data[i] ^= 1 << int(rng.integers(8))
    elif kind == 1:  # copy a chunk over another place
        n = int(rng.integers(1, 256))
        src = int(rng.integers(len(data) - n))
        data[at:at + n] = data[src:src + n]
    elif kind == 2:  # insert zeros
        data[at:at] = bytes(int(rng.integers(1, 64)))
    elif kind == 3:  # delete a run
        del data[at:at + int(rng.integers(1, 64))]
    else:  # truncate
        del data[at:]
    return bytes(data)


@pytest.mark.parametrize("suffix", [".h5", ".npz"])
def test_damaged_weights_never_load_changed_tensors(tmp_path, suffix):
    original_path = SHIPPED_WEIGHTS["fdm-128"] if suffix == ".h5" else twin_path(SHIPPED_WEIGHTS["fdm-128"])
    original = load_weights(original_path)
    data = original_path.read_bytes()
    rng = np.random.default_rng(20261128)
    refused = unchanged = 0
    for n in range(MUTATIONS_PER_FORMAT):
        path = tmp_path / f"m{n}{suffix}"
        path.write_bytes(mutate(data, rng))
        try:
            network = open_network(path)
        except WeightsError as exc:
            assert "\n" not in str(exc) and str(path) in str(exc), str(exc)
            refused += 1
            continue
        loaded = load_weights(path)
        assert loaded.attrs == original.attrs, f"mutation {n} loaded with changed attributes"
        assert loaded.tensors.keys() == original.tensors.keys()
        for name, tensor in original.tensors.items():
            assert loaded.tensors[name].tobytes() == tensor.tobytes(), f"mutation {n} loaded a changed {name}"
        assert network is not None
        unchanged += 1
    assert refused > MUTATIONS_PER_FORMAT // 2  # most mutations hit data that matters


def test_changed_tensor_or_attribute_is_refused_by_the_checksum(tmp_path):
    import h5py

    for edit, name in [(lambda f: f["ldn.final/bias"].__setitem__(0, f["ldn.final/bias"][0] + 1e-6), "tensor"),
                       (lambda f: f.attrs.__setitem__("box_radius", 3), "attribute")]:
        path = tmp_path / f"{name}.h5"
        path.write_bytes(SHIPPED_WEIGHTS["fdm-128"].read_bytes())
        with h5py.File(path, "r+") as f:
            edit(f)
        with pytest.raises(WeightsError, match="checksum does not match"):
            open_network(path)


def png_declaring(width, height) -> bytes:
    """A small PNG whose header claims width x height (CRC kept valid): the decoder would allocate it all."""
    ok, encoded = cv2.imencode(".png", np.zeros((8, 8, 3), np.uint8))
    data = bytearray(encoded.tobytes())
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def test_huge_declared_image_is_refused_before_decoding(tmp_path, monkeypatch):
    path = tmp_path / "huge.png"
    path.write_bytes(png_declaring(20000, 20000))

    def no_decoding(*args):
        raise AssertionError("decoded a picture the header said was too large")

    monkeypatch.setattr(cv2, "imdecode", no_decoding)
    with pytest.raises(InputError, match="20000x20000 is larger than the 120 MP limit"):
        read_image(path)


@pytest.mark.parametrize("suffix,params", [(".jpg", [cv2.IMWRITE_JPEG_QUALITY, 90]), (".png", []),
                                           (".webp", [cv2.IMWRITE_WEBP_QUALITY, 80])])
def test_damaged_images_give_one_line_errors(tmp_path, suffix, params):
    rng = np.random.default_rng(7)
    picture = cv2.GaussianBlur((rng.random((96, 128, 3)) * 255).astype(np.uint8), (9, 9), 3)
    data = cv2.imencode(suffix, picture, params)[1].tobytes()
    refused = decoded = 0
    for n in range(60):
        wrong_extension = n % 10 == 9
        path = tmp_path / f"m{n}{'.png' if wrong_extension and suffix != '.png' else suffix if not wrong_extension else '.jpg'}"
        path.write_bytes(data if wrong_extension else mutate(data, rng))
        try:
            image = read_image(path)
        except InputError as exc:
            assert isinstance(exc, NnliteError) and "\n" not in str(exc) and str(path) in str(exc)
            refused += 1
            continue
        assert image.dtype in (np.uint8, np.uint16) and image.ndim in (2, 3) and image.shape[0] * image.shape[1] > 0
        decoded += 1
    assert refused > 0 and decoded > 0
