"""The nnlite weights file: HDF5, versioned, validated before any compute (spec: docs/weights-format.md).

An .npz twin carries the same tensors and attributes for machines without h5py (Android/Termux):
tensors under their names, attributes as UTF-8 JSON in a uint8 array "__attrs__", read with
allow_pickle=False. Both are validated by the same rules and share the format version.

Root attributes: format = "nnlite-weights", format_version (int), model (str), the model's
hyper-parameters and its provenance (plain str / int / float / lists of numbers), and content_sha256:
a SHA-256 over every other attribute and every tensor (name, shape, bytes), checked on every load, so a
flipped bit inside a tensor is refused rather than giving a silently different matte.
Tensors: one HDF5 group per layer, named after the torch module path ("ldn.dense.0"), holding
float32 datasets in torch's order ("weight", "bias"). A tensor's name is "group/dataset".

The writer mirrors the reader, and a round trip is bit-exact. Nothing here unpickles anything.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nnlite.errors import WeightsError

FORMAT_NAME = "nnlite-weights"
FORMAT_VERSION = 2
CHECKSUM_KEY = "content_sha256"
CONTAINER_KEYS = ("format", "format_version", CHECKSUM_KEY)  # written by save_weights itself
UPGRADE_HINT = "upgrade it with python -m convert.export --upgrade FILE, or re-export it from its checkpoint"
NPZ_ATTRS_KEY = "__attrs__"
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


@dataclass
class Weights:
    path: str
    attrs: dict = field(default_factory=dict)
    tensors: dict = field(default_factory=dict)  # "group/dataset" -> float32 array

    def fail(self, what: str, todo: str) -> WeightsError:
        return WeightsError(f"{self.path}: {what}; {todo}")

    def require_attrs(self, names, todo="re-export the file with python -m convert.export"):
        missing = [n for n in names if n not in self.attrs]
        if missing:
            raise self.fail(f"missing attribute(s) {', '.join(missing)}", todo)

    def require_tensors(self, expected: dict, todo="re-export the file with python -m convert.export"):
        """expected: name -> shape. Any missing, unexpected or wrong-shaped tensor is an error."""
        missing = sorted(set(expected) - set(self.tensors))
        if missing:
            raise self.fail(f"missing tensor {missing[0]}" + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""), todo)
        unexpected = sorted(set(self.tensors) - set(expected))
        if unexpected:
            raise self.fail(f"unexpected tensor {unexpected[0]}: not part of model {self.attrs.get('model')!r}", todo)
        for name, shape in expected.items():
            if tuple(self.tensors[name].shape) != tuple(shape):
                raise self.fail(f"tensor {name} has shape {tuple(self.tensors[name].shape)}, expected {tuple(shape)}", todo)


def _to_attr(value):
    if isinstance(value, (list, tuple)):
        return np.asarray(value)
    if isinstance(value, str):
        return str(value)  # str subclasses (torch.__version__) have no HDF5 type
    return value


def _from_attr(value):
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def content_sha256(attrs: dict, tensors: dict) -> str:
    """The checksum stored in a file: attributes as canonical JSON (as they read back), then each tensor's
    name, shape and little-endian float32 bytes in name order. The container keys are left out."""
    digest = hashlib.sha256()
    readable = {k: _from_attr(_to_attr(v)) for k, v in attrs.items() if k not in CONTAINER_KEYS}
    digest.update(json.dumps(readable, sort_keys=True, separators=(",", ":")).encode())
    for name in sorted(tensors):
        array = np.ascontiguousarray(tensors[name], dtype="<f4")
        digest.update(f"\0{name}\0{array.shape}\0".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def _check_tensors_to_save(path, tensors):
    for name, array in tensors.items():
        if np.asarray(array).dtype != np.float32:
            raise WeightsError(f"{path}: tensor {name} is {np.asarray(array).dtype}; convert it to float32 before saving")


def save_weights(path, tensors: dict, attrs: dict) -> None:
    """Writes an nnlite weights file atomically (temporary name, then rename); .npz paths get the twin format."""
    path = Path(path)
    _check_tensors_to_save(path, tensors)
    attrs = {k: v for k, v in attrs.items() if k not in CONTAINER_KEYS}
    attrs[CHECKSUM_KEY] = content_sha256(attrs, tensors)
    if path.suffix == ".npz":
        return _save_npz(path, tensors, attrs)
    import h5py

    tmp = path.with_name(path.name + ".tmp")
    with h5py.File(tmp, "w") as f:
        f.attrs["format"] = FORMAT_NAME
        f.attrs["format_version"] = FORMAT_VERSION
        for key, value in attrs.items():
            f.attrs[key] = _to_attr(value)
        for name, array in tensors.items():
            f.create_dataset(name, data=np.asarray(array))
    os.replace(tmp, path)


def _save_npz(path: Path, tensors: dict, attrs: dict) -> None:
    header = {k: (list(v) if isinstance(v, tuple) else v) for k, v in attrs.items() if k not in ("format", "format_version")}
    header = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, **{k: (str(v) if isinstance(v, str) else v) for k, v in header.items()}}
    payload = {NPZ_ATTRS_KEY: np.frombuffer(json.dumps(header).encode(), np.uint8), **tensors}
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, **payload)
    os.replace(tmp, path)


def _read_hdf5(path: str, todo: str, versions):
    try:
        import h5py
    except ImportError:
        raise WeightsError(f"{path}: reading HDF5 weights needs h5py; install it (pip install h5py) or use the .npz twin") from None
    file_size = os.path.getsize(path)
    with h5py.File(path, "r") as f:
        attrs = {k: _from_attr(v) for k, v in f.attrs.items()}
        names = []
        f.visititems(lambda name, obj: names.append(name) if isinstance(obj, h5py.Dataset) else None)
        if attrs.get("format") != FORMAT_NAME or attrs.get("format_version") not in versions:
            return attrs, {}  # refused by the common checks before any tensor is read
        tensors = {}
        for name in sorted(names):
            dataset = f[name]
            # a damaged header can declare any shape: never allocate more than the file could hold
            if dataset.dtype != np.float32:
                raise WeightsError(f"{path}: tensor {name} is {dataset.dtype}, expected float32; {todo}")
            if dataset.size * 4 > file_size:
                raise WeightsError(f"{path}: tensor {name} declares shape {dataset.shape}, more data than the file "
                                   f"holds: damaged; {todo}")
            tensors[name] = dataset[()]
        return attrs, tensors


def _read_npz(path: str, todo: str):
    file_size = os.path.getsize(path)
    with np.load(path, allow_pickle=False) as archive:
        if NPZ_ATTRS_KEY not in archive.files:
            raise WeightsError(f"{path}: not an nnlite weights file (no {NPZ_ATTRS_KEY} entry); {todo}")
        oversized = [info.filename for info in archive.zip.infolist() if info.file_size > file_size]
        if oversized:
            raise WeightsError(f"{path}: damaged archive ({oversized[0]} declares more bytes than the file holds); {todo}")
        try:
            attrs = json.loads(archive[NPZ_ATTRS_KEY].tobytes().decode())
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise WeightsError(f"{path}: damaged attributes (not JSON); {todo}") from None
        if not isinstance(attrs, dict):
            raise WeightsError(f"{path}: damaged attributes (not a JSON object); {todo}")
        return attrs, {name: archive[name] for name in sorted(archive.files) if name != NPZ_ATTRS_KEY}


def twin_path(path) -> Path:
    """The .npz twin that sits beside an .h5 weights file."""
    return Path(path).with_suffix(".npz")


def load_weights(path, versions=(FORMAT_VERSION,)) -> Weights:
    """Reads and validates the container (format, version, checksum, dtypes, finiteness); the model checks
    shapes. `versions` other than the current one is for python -m convert.export --upgrade only.

    An .h5 path on a machine without h5py falls back to its .npz twin when one sits beside it.
    """
    path = str(path)
    todo = "point --weights at an nnlite weights file (.h5 or .npz) made by python -m convert.export"
    if not os.path.isfile(path):
        raise WeightsError(f"{path}: no such weights file; {todo}")
    with open(path, "rb") as f:
        signature = f.read(8)
    if signature == HDF5_SIGNATURE and twin_path(path).is_file() and not _h5py_available():
        path = str(twin_path(path))
        with open(path, "rb") as f:
            signature = f.read(8)
    try:
        if signature.startswith(b"PK"):
            attrs, tensors = _read_npz(path, todo)
        elif signature == HDF5_SIGNATURE:
            attrs, tensors = _read_hdf5(path, todo, versions)
        else:
            raise WeightsError(f"{path}: not an HDF5 or npz file; {todo}")
    except WeightsError:
        raise
    except Exception as exc:  # noqa: BLE001 - h5py, zipfile and numpy raise many types on damaged bytes
        first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise WeightsError(f"{path}: not a readable weights file, damaged or truncated ({first_line[:120]}); {todo}") from None
    return _validated(Weights(path, attrs), tensors, todo, versions)


def _h5py_available() -> bool:
    try:
        import h5py  # noqa: F401
    except ImportError:
        return False
    return True


def _validated(weights: Weights, tensors: dict, todo: str, versions) -> Weights:
    attrs = weights.attrs
    if attrs.get("format") != FORMAT_NAME:
        raise weights.fail(f"not an nnlite weights file (format attribute {attrs.get('format')!r})", todo)
    version = attrs.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version not in versions:
        if version == 1:
            raise weights.fail(f"format version 1 (written before content checksums), this nnlite reads version "
                               f"{FORMAT_VERSION}", UPGRADE_HINT)
        raise weights.fail(f"format version {version!r}, this nnlite reads version {FORMAT_VERSION}",
                           "re-export it with this version's python -m convert.export, or use the nnlite that wrote it")
    for name, array in tensors.items():
        if not isinstance(array, np.ndarray) or array.dtype != np.float32:
            raise weights.fail(f"tensor {name} is {getattr(array, 'dtype', type(array).__name__)}, expected float32", todo)
        if not np.all(np.isfinite(array)):
            raise weights.fail(f"tensor {name} holds NaN or infinite values", "re-export from a checkpoint that trained without diverging")
        weights.tensors[name] = array
    if version >= 2 and attrs.get(CHECKSUM_KEY) != content_sha256(attrs, weights.tensors):
        raise weights.fail("content checksum does not match: the file was damaged or edited after export",
                           "re-copy it, or re-export it from its checkpoint with python -m convert.export")
    return weights
