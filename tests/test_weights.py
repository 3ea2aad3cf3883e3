import h5py
import numpy as np
import pytest

from nnlite import WeightsError
from nnlite.weights import FORMAT_VERSION, load_weights, save_weights

ATTRS = {"model": "toy", "dilations": [2, 4], "box_radius": 2, "input_mean": [0.5, 0.25, 0.125],
         "source_checkpoint_sha256": "ab" * 32, "created": "2026-11-25T00:00:00Z"}


@pytest.fixture
def tensors(rng):
    return {"conv/weight": rng.standard_normal((4, 3, 3, 3)).astype(np.float32),
            "conv/bias": rng.standard_normal(4).astype(np.float32),
            "head.0/weight": rng.standard_normal((2, 4, 1, 1)).astype(np.float32)}


@pytest.fixture
def weights_file(tmp_path, tensors):
    path = tmp_path / "w.h5"
    save_weights(path, tensors, ATTRS)
    return path


def test_round_trip_is_bit_exact(weights_file, tensors):
    loaded = load_weights(weights_file)
    assert loaded.tensors.keys() == tensors.keys()
    for name, array in tensors.items():
        assert loaded.tensors[name].dtype == np.float32
        np.testing.assert_array_equal(loaded.tensors[name], array)
    for key, value in ATTRS.items():
        assert loaded.attrs[key] == value
    assert loaded.attrs["format"] == "nnlite-weights" and loaded.attrs["format_version"] == FORMAT_VERSION
    assert not list(weights_file.parent.glob("*.tmp"))


def test_shape_checks_name_the_tensor(weights_file):
    loaded = load_weights(weights_file)
    expected = {"conv/weight": (4, 3, 3, 3), "conv/bias": (4,), "head.0/weight": (2, 4, 1, 1)}
    loaded.require_tensors(expected)
    with pytest.raises(WeightsError, match=r"conv/weight has shape \(4, 3, 3, 3\), expected \(4, 3, 5, 5\)"):
        loaded.require_tensors({**expected, "conv/weight": (4, 3, 5, 5)})
    with pytest.raises(WeightsError, match="missing tensor extra/bias"):
        loaded.require_tensors({**expected, "extra/bias": (1,)})
    with pytest.raises(WeightsError, match="unexpected tensor head.0/weight"):
        loaded.require_tensors({"conv/weight": (4, 3, 3, 3), "conv/bias": (4,)})
    with pytest.raises(WeightsError, match="missing attribute"):
        loaded.require_attrs(["growth"])


def rewrite(path, edit):
    with h5py.File(path, "r+") as f:
        edit(f)


@pytest.mark.parametrize("edit,message", [
    (lambda f: f.attrs.__setitem__("format_version", 99), "format version 99"),
    (lambda f: f.attrs.__setitem__("format", "something-else"), "not an nnlite weights file"),
    (lambda f: f["conv/bias"].__setitem__(0, np.nan), "NaN or infinite"),
    (lambda f: (f.__delitem__("conv/bias"), f.create_dataset("conv/bias", data=np.zeros(4, np.float64))), "expected float32"),
], ids=["wrong-version", "wrong-format", "non-finite", "float64"])
def test_bad_files_are_refused_with_one_line(weights_file, edit, message):
    rewrite(weights_file, edit)
    with pytest.raises(WeightsError, match=message) as info:
        load_weights(weights_file)
    assert str(weights_file) in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("content", [b"", b"not hdf5 at all", None], ids=["empty", "text", "truncated"])
def test_unreadable_files_are_refused(tmp_path, weights_file, content):
    path = tmp_path / "bad.h5"
    path.write_bytes(weights_file.read_bytes()[:700] if content is None else content)
    with pytest.raises(WeightsError, match="not a readable HDF5 file") as info:
        load_weights(path)
    assert "\n" not in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(WeightsError, match="no such weights file"):
        load_weights(tmp_path / "absent.h5")
