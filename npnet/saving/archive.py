"""Atomic, pickle-free array files: model weights (and, built on the same two functions, checkpoints).

A file is an ordinary `.npz` archive of plain numeric arrays plus one string array `__npnet__` holding JSON
metadata (format, kind, version, and for weights a manifest of layer/class/param/shape). Reading always uses
`allow_pickle=False`, so a file can never run code. Writing goes to a temp file in the same directory, is
fsync'ed, then renamed over the target, so a crash never leaves a half-written file under the real name.

Validation on load, one error type (`FileFormatError`, naming the file, the problem and the fix): the
archive and its header (`load_arrays`), the weights manifest and every parameter array: the shape, class
and name the model expects, a float dtype, finite values (`load_weights`, `check_float_arrays`).
"""

from __future__ import annotations

import json
import math
import os
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from npnet.atomic import atomic_write
from npnet.errors import FileFormatError, MissingFileError
from npnet.layers.base import Layer
from npnet.saving import validate

FORMAT = "npnet"
VERSION = 1
_META_KEY = "__npnet__"
MAX_MEMBERS = 100_000  # arrays in one file: a 1000-layer model with its optimizer state has ~10 000


def save_arrays(
    path: str | os.PathLike, arrays: dict[str, np.ndarray], *, kind: str, meta: dict | None = None
) -> None:
    """Write `arrays` (plain numeric arrays) and JSON-able `meta` to `path` atomically."""
    given, path = os.fspath(path), Path(path)
    if _META_KEY in arrays:
        raise ValueError(f"array name {_META_KEY!r} is reserved")
    for key, value in arrays.items():
        if np.asarray(value).dtype == object:
            raise ValueError(f"array {key!r} has dtype object, which cannot be stored without pickling")
    header = {"format": FORMAT, "kind": kind, "version": VERSION, **(meta or {})}
    if not path.name or path.is_dir():
        raise ValueError(f"cannot save to {given!r}: it is a folder; give a file name, e.g. model.npnet")
    path.parent.mkdir(parents=True, exist_ok=True)
    contents: dict[str, Any] = {_META_KEY: np.array(json.dumps(header)), **arrays}
    atomic_write(path, lambda f: np.savez(f, **contents))


@dataclass
class Index:
    """What an archive holds, read without inflating its arrays: the JSON header and each array's shape and
    dtype as its own .npy header declares them (checked against the zip's declared size)."""

    header: dict[str, Any]
    shapes: dict[str, tuple[int, ...]]
    dtypes: dict[str, np.dtype]

    def nbytes(self, key: str) -> int:
        return math.prod(self.shapes[key]) * self.dtypes[key].itemsize


def read_index(path: str | os.PathLike, *, kind: str) -> Index:
    """The header and array shapes of a file written by `save_arrays` with the same `kind`, read before any
    array is inflated: each zip member's declared size must be its .npy header's (so a small member cannot
    inflate to gigabytes), the header member at most `validate.MAX_HEADER_BYTES`, its JSON strict
    (`validate.loads_json`). FileFormatError for anything else."""
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"no {kind} file at {str(path)!r}: check the path, or save one first")
    shapes: dict[str, tuple[int, ...]] = {}
    dtypes: dict[str, np.dtype] = {}
    try:
        if not zipfile.is_zipfile(path):  # np.load would try it as a pickle and advise allow_pickle
            raise ValueError("not an .npz (zip) archive")
        text = None
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            if len(members) > MAX_MEMBERS:
                raise ValueError(f"{len(members)} members, more than the {MAX_MEMBERS} npnet writes")
            for member in members:
                key = member.filename.removesuffix(".npy")
                if key == member.filename or key in shapes or key == text:
                    raise ValueError(f"member {member.filename!r:.100} is not one .npy array")
                with archive.open(member) as f:
                    shape, dtype = _npy_header(f)
                    declared = f.tell() + math.prod(shape) * dtype.itemsize
                    if member.file_size != declared:
                        raise ValueError(
                            f"member {member.filename!r:.100} declares {member.file_size} bytes, its array "
                            f"header {declared}"
                        )
                    if key == _META_KEY:
                        if dtype.kind != "U" or shape != ():
                            raise ValueError(f"{_META_KEY} is a {dtype} array, not the JSON header")
                        if member.file_size > validate.MAX_HEADER_BYTES:
                            raise ValueError(
                                f"the header takes {member.file_size} bytes, more than the "
                                f"{validate.MAX_HEADER_BYTES} allowed"
                            )
                        f.seek(0)
                        text = str(np.lib.format.read_array(f, allow_pickle=False))
                        continue
                if dtype.kind not in "biuf":
                    raise ValueError(f"array {key!r:.100} has dtype {dtype}, not a plain numeric one")
                shapes[key], dtypes[key] = shape, dtype
        if text is None:
            raise ValueError(f"no {_META_KEY} header")
        header = validate.loads_json(text)
    except (zipfile.BadZipFile, ValueError, EOFError, OSError, KeyError, MemoryError) as exc:
        raise FileFormatError(
            f"{str(path)!r} is not a readable npnet {kind} file (truncated, corrupt, or not written by "
            f"npnet: {type(exc).__name__}: {exc}); write it again"
        ) from exc
    if not isinstance(header, dict):
        raise FileFormatError(f"{str(path)!r} has a header that is not a JSON object; write it again")
    if header.get("format") != FORMAT or header.get("kind") != kind:
        raise FileFormatError(
            f"{str(path)!r} holds npnet {header.get('kind')!r:.100} data, not a {kind} file"
        )
    if header.get("version") != VERSION:
        raise FileFormatError(
            f"{str(path)!r} has format version {header.get('version')!r:.100}; this npnet reads {VERSION}"
        )
    return Index(header, shapes, dtypes)


def _npy_header(f: Any) -> tuple[tuple[int, ...], np.dtype]:
    """(shape, dtype) from the .npy header at the start of `f`, the stream left where the data begins."""
    version = np.lib.format.read_magic(f)
    if version == (1, 0):
        shape, _, dtype = np.lib.format.read_array_header_1_0(f)
    elif version == (2, 0):
        shape, _, dtype = np.lib.format.read_array_header_2_0(f)
    else:
        raise ValueError(f".npy format version {version}, not 1.0 or 2.0")
    if dtype.hasobject:
        raise ValueError("an array of Python objects (which only pickling could read)")
    return shape, dtype


def read_arrays(path: str | os.PathLike, index: Index) -> dict[str, np.ndarray]:
    """Inflate the arrays `read_index` described, each checked against its header again (the file might
    have been replaced in between). FileFormatError for a damaged file."""
    arrays = {}
    try:
        with zipfile.ZipFile(path) as archive:
            for key in index.shapes:
                with archive.open(f"{key}.npy") as f:
                    value = np.lib.format.read_array(f, allow_pickle=False)
                if value.shape != index.shapes[key] or value.dtype != index.dtypes[key]:
                    raise ValueError(f"array {key!r} changed while it was read")
                arrays[key] = value
    except (zipfile.BadZipFile, ValueError, EOFError, OSError, KeyError) as exc:
        raise FileFormatError(
            f"{str(path)!r} is damaged ({type(exc).__name__}: {exc}); write it again"
        ) from exc
    return arrays


def load_arrays(
    path: str | os.PathLike, *, kind: str, max_bytes: int | None = None
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read a file written by `save_arrays` with the same `kind`; every failure is a clear error. The arrays
    together may take at most `max_bytes` (default `validate.model_bytes_limit()`), checked before any is
    inflated."""
    index = read_index(path, kind=kind)
    try:
        limit = validate.model_bytes_limit() if max_bytes is None else max_bytes
        validate.check_fits(sum(index.nbytes(key) for key in index.shapes), limit, "its arrays")
    except validate.SchemaError as e:
        raise FileFormatError(f"{str(path)!r}: {e}") from None
    return read_arrays(path, index), index.header


def check_float_arrays(path: str | os.PathLike, arrays: dict[str, np.ndarray], what: str) -> None:
    """FileFormatError unless every array is floating point with finite values (a NaN or an int weight
    would give `nan` predictions or silently rounded updates)."""
    for key, value in arrays.items():
        if problem := validate.float_array_problem(value):
            fix = (
                "write it again"
                if value.dtype.kind != "f"
                else "train it again, or resume from an earlier checkpoint"
            )
            raise FileFormatError(f"{str(path)!r}: {what} {key!r} {problem}; {fix}")


def weights_manifest(layers: Sequence[Layer]) -> list[dict[str, Any]]:
    """One entry per parameter, in `get_weights()` order: what a weights file must match to be loaded."""
    return [
        {"layer": layer.name, "class": type(layer).__name__, "param": key, "shape": list(value.shape)}
        for layer in layers
        for key, value in layer.params.items()
    ]


def save_weights(path: str | os.PathLike, layers: Sequence[Layer]) -> None:
    """Save every layer's params, keyed "<index>/<layer name>/<param>", with the manifest."""
    manifest = weights_manifest(layers)
    params = _param_values(layers)
    arrays = {
        f"{i}/{e['layer']}/{e['param']}": v for i, (e, v) in enumerate(zip(manifest, params, strict=True))
    }
    save_arrays(path, arrays, kind="weights", meta={"manifest": manifest})


def load_weights(path: str | os.PathLike, layers: Sequence[Layer]) -> None:
    """Load a weights file into `layers` in place. Nothing is changed unless the whole file matches.

    Parameters are matched by position, layer class, parameter name and shape (layer names may differ).
    """
    arrays, header = load_arrays(path, kind="weights")
    saved, expected = _manifest(path, header.get("manifest")), weights_manifest(layers)

    def describe(entries: list[dict[str, Any]]) -> str:
        return ", ".join(f"{e['class']}.{e['param']}{tuple(e['shape'])}" for e in entries)

    def strip(entries: list[dict[str, Any]]) -> list[tuple]:
        return [(e["class"], e["param"], tuple(e["shape"])) for e in entries]

    if strip(saved) != strip(expected):
        raise FileFormatError(
            f"{str(path)!r} was saved from a different architecture: file has [{describe(saved)}], this "
            f"model has [{describe(expected)}]; build the same layers (and vocabulary size) it was saved from"
        )
    keys = [f"{i}/{e['layer']}/{e['param']}" for i, e in enumerate(saved)]
    shapes = [tuple(e["shape"]) for e in saved]
    if bad := [
        key
        for key, shape in zip(keys, shapes, strict=True)
        if getattr(arrays.get(key), "shape", None) != shape
    ]:
        raise FileFormatError(
            f"{str(path)!r} is inconsistent: arrays {bad} are missing or misshapen; write it again"
        )
    check_float_arrays(path, {key: arrays[key] for key in keys}, "parameter")
    for target, key in zip(_param_values(layers), keys, strict=True):
        target[...] = arrays[key]


_ENTRY = {"layer": str, "class": str, "param": str, "shape": list}


def _manifest(path: str | os.PathLike, manifest: object) -> list[dict[str, Any]]:
    """The header's manifest, checked entry by entry against `_ENTRY` (shapes: lists of ints >= 0)."""

    def valid(entry: object) -> bool:
        return (
            isinstance(entry, dict)
            and set(entry) == set(_ENTRY)
            and all(type(entry[key]) is kind for key, kind in _ENTRY.items())
            and all(type(n) is int and n >= 0 for n in entry["shape"])
        )

    if not isinstance(manifest, list) or not all(map(valid, manifest)):
        raise FileFormatError(
            f"{str(path)!r} has no valid manifest (a list of {{layer, class, param, shape}}); write it again"
        )
    return manifest


def _param_values(layers: Sequence[Layer]) -> list[np.ndarray]:
    return [value for layer in layers for value in layer.params.values()]
