"""The nnlite weights file: HDF5, versioned, validated before any compute (spec: docs/weights-format.md).

Root attributes: format = "nnlite-weights", format_version (int), model (str), the model's
hyper-parameters and its provenance (plain str / int / float / lists of numbers).
Tensors: one HDF5 group per layer, named after the torch module path ("ldn.dense.0"), holding
float32 datasets in torch's order ("weight", "bias"). A tensor's name is "group/dataset".

The writer mirrors the reader, and a round trip is bit-exact. Nothing here unpickles anything.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nnlite.errors import WeightsError

FORMAT_NAME = "nnlite-weights"
FORMAT_VERSION = 1


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


def save_weights(path, tensors: dict, attrs: dict) -> None:
    """Writes an nnlite weights file atomically (temporary name, then rename)."""
    import h5py

    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with h5py.File(tmp, "w") as f:
        f.attrs["format"] = FORMAT_NAME
        f.attrs["format_version"] = FORMAT_VERSION
        for key, value in attrs.items():
            if key in ("format", "format_version"):
                continue
            f.attrs[key] = _to_attr(value)
        for name, array in tensors.items():
            array = np.asarray(array)
            if array.dtype != np.float32:
                raise WeightsError(f"{path}: tensor {name} is {array.dtype}; convert it to float32 before saving")
            f.create_dataset(name, data=array)
    os.replace(tmp, path)


def load_weights(path) -> Weights:
    """Reads and validates the container (format, version, dtypes, finiteness); the model checks shapes."""
    path = str(path)
    todo = "point --weights at an nnlite weights file (.h5) made by python -m convert.export"
    if not os.path.isfile(path):
        raise WeightsError(f"{path}: no such weights file; {todo}")
    try:
        import h5py
    except ImportError:
        raise WeightsError(f"{path}: reading HDF5 weights needs h5py; install it with pip install h5py") from None
    try:
        with h5py.File(path, "r") as f:
            attrs = {k: _from_attr(v) for k, v in f.attrs.items()}
            weights = Weights(path, attrs)
            if attrs.get("format") != FORMAT_NAME:
                raise weights.fail(f"not an nnlite weights file (format attribute {attrs.get('format')!r})", todo)
            version = attrs.get("format_version")
            if not isinstance(version, int) or version != FORMAT_VERSION:
                raise weights.fail(f"format version {version!r}, this nnlite reads version {FORMAT_VERSION}",
                                   "re-export it with this version's python -m convert.export, or use the nnlite that wrote it")
            names = []
            f.visititems(lambda name, obj: names.append(name) if isinstance(obj, h5py.Dataset) else None)
            for name in sorted(names):
                array = f[name][()]
                if not isinstance(array, np.ndarray) or array.dtype != np.float32:
                    raise weights.fail(f"tensor {name} is {getattr(array, 'dtype', type(array).__name__)}, expected float32", todo)
                if not np.all(np.isfinite(array)):
                    raise weights.fail(f"tensor {name} holds NaN or infinite values", "re-export from a checkpoint that trained without diverging")
                weights.tensors[name] = array
    except WeightsError:
        raise
    except (OSError, KeyError, ValueError) as exc:
        first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise WeightsError(f"{path}: not a readable HDF5 file ({first_line}); {todo}") from None
    return weights
