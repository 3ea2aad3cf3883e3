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


@pytest.mark.parametrize("content,message", [(b"", "not an HDF5 or npz file"), (b"not hdf5 at all", "not an HDF5 or npz file"),
                                             (None, "damaged or truncated")], ids=["empty", "text", "truncated"])
@pytest.mark.parametrize("suffix", [".h5", ".npz"])
def test_unreadable_files_are_refused(tmp_path, tensors, content, message, suffix):
    good = tmp_path / f"good{suffix}"
    save_weights(good, tensors, ATTRS)
    path = tmp_path / f"bad{suffix}"
    path.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2] if content is None else content)
    with pytest.raises(WeightsError, match=message) as info:
        load_weights(path)
    assert "\n" not in str(info.value)


def test_npz_twin_is_bit_identical_to_hdf5(tmp_path, tensors):
    save_weights(tmp_path / "w.h5", tensors, ATTRS)
    save_weights(tmp_path / "w.npz", tensors, ATTRS)
    h5, npz = load_weights(tmp_path / "w.h5"), load_weights(tmp_path / "w.npz")
    assert h5.attrs == npz.attrs
    assert h5.tensors.keys() == npz.tensors.keys()
    for name in h5.tensors:
        assert h5.tensors[name].tobytes() == npz.tensors[name].tobytes()


def test_npz_twin_is_validated_like_hdf5(tmp_path, tensors):
    bad = dict(tensors, **{"conv/bias": np.array([1, np.inf, 0, 0], np.float32)})
    save_weights(tmp_path / "w.npz", bad, ATTRS)
    with pytest.raises(WeightsError, match="conv/bias holds NaN or infinite"):
        load_weights(tmp_path / "w.npz")
    save_weights(tmp_path / "v.npz", tensors, ATTRS)
    with np.load(tmp_path / "v.npz") as archive:
        content = {k: archive[k] for k in archive.files}
    header = content["__attrs__"].tobytes().decode().replace('"format_version": 2', '"format_version": 7')
    content["__attrs__"] = np.frombuffer(header.encode(), np.uint8)
    np.savez(tmp_path / "v.npz", **content)
    with pytest.raises(WeightsError, match="format version 7"):
        load_weights(tmp_path / "v.npz")


def test_hdf5_path_falls_back_to_the_twin_without_h5py(tmp_path, tensors, monkeypatch):
    save_weights(tmp_path / "w.h5", tensors, ATTRS)
    save_weights(tmp_path / "w.npz", tensors, ATTRS)
    monkeypatch.setitem(__import__("sys").modules, "h5py", None)  # import h5py now raises ImportError
    loaded = load_weights(tmp_path / "w.h5")
    assert loaded.path.endswith("w.npz")
    (tmp_path / "w.npz").unlink()
    with pytest.raises(WeightsError, match="needs h5py"):
        load_weights(tmp_path / "w.h5")


def test_missing_file(tmp_path):
    with pytest.raises(WeightsError, match="no such weights file"):
        load_weights(tmp_path / "absent.h5")


@pytest.mark.parametrize("suffix", [".h5", ".npz"])
def test_version_1_files_are_refused_with_the_upgrade_command(tmp_path, tensors, suffix):
    path = tmp_path / f"old{suffix}"
    save_weights(path, tensors, ATTRS)
    if suffix == ".h5":
        rewrite(path, lambda f: (f.attrs.__setitem__("format_version", 1), f.attrs.__delitem__("content_sha256")))
    else:
        with np.load(path) as archive:
            content = {k: archive[k] for k in archive.files}
        header = __import__("json").loads(content["__attrs__"].tobytes())
        header = {**{k: v for k, v in header.items() if k != "content_sha256"}, "format_version": 1}
        content["__attrs__"] = np.frombuffer(__import__("json").dumps(header).encode(), np.uint8)
        np.savez(path, **content)
    with pytest.raises(WeightsError, match=r"format version 1 \(written before content checksums\).*--upgrade"):
        load_weights(path)
    export = pytest.importorskip("convert.export")  # the upgrade lives beside the exporter
    export.upgrade(path)
    upgraded = load_weights(path)
    assert upgraded.attrs["format_version"] == FORMAT_VERSION
    for name, array in tensors.items():
        np.testing.assert_array_equal(upgraded.tensors[name], array)


def test_checksum_is_the_same_for_both_formats_and_ignores_container_keys(tmp_path, tensors):
    from nnlite.weights import content_sha256

    save_weights(tmp_path / "w.h5", tensors, ATTRS)
    save_weights(tmp_path / "w.npz", tensors, dict(ATTRS, format_version=99, content_sha256="stale"))
    h5, npz = load_weights(tmp_path / "w.h5"), load_weights(tmp_path / "w.npz")
    assert h5.attrs["content_sha256"] == npz.attrs["content_sha256"] == content_sha256(ATTRS, tensors)
    assert content_sha256(ATTRS, {**tensors, "conv/bias": tensors["conv/bias"] + 1}) != content_sha256(ATTRS, tensors)
