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
import os
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from npnet.atomic import atomic_write
from npnet.errors import FileFormatError, MissingFileError
from npnet.layers.base import Layer

FORMAT = "npnet"
VERSION = 1
_META_KEY = "__npnet__"


def save_arrays(
    path: str | os.PathLike, arrays: dict[str, np.ndarray], *, kind: str, meta: dict | None = None
) -> None:
    """Write `arrays` (plain numeric arrays) and JSON-able `meta` to `path` atomically."""
    path = Path(path)
    if _META_KEY in arrays:
        raise ValueError(f"array name {_META_KEY!r} is reserved")
    for key, value in arrays.items():
        if np.asarray(value).dtype == object:
            raise ValueError(f"array {key!r} has dtype object, which cannot be stored without pickling")
    header = {"format": FORMAT, "kind": kind, "version": VERSION, **(meta or {})}
    path.parent.mkdir(parents=True, exist_ok=True)
    contents: dict[str, Any] = {_META_KEY: np.array(json.dumps(header)), **arrays}
    atomic_write(path, lambda f: np.savez(f, **contents))


def load_arrays(path: str | os.PathLike, *, kind: str) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read a file written by `save_arrays` with the same `kind`; every failure is a clear error."""
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"no {kind} file at {str(path)!r}: check the path, or save one first")
    try:
        if not zipfile.is_zipfile(path):  # np.load would try it as a pickle and advise allow_pickle
            raise ValueError("not an .npz (zip) archive")
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
        meta = arrays.pop(_META_KEY)
        if meta.dtype.kind != "U" or meta.ndim != 0:
            raise ValueError(f"{_META_KEY} is a {meta.dtype} array, not the JSON header")
        header = json.loads(str(meta))
    except (zipfile.BadZipFile, ValueError, EOFError, OSError, KeyError, MemoryError) as exc:
        raise FileFormatError(
            f"{str(path)!r} is not a readable npnet {kind} file (truncated, corrupt, or not written by "
            f"npnet: {type(exc).__name__}: {exc}); write it again"
        ) from exc
    if not isinstance(header, dict):
        raise FileFormatError(f"{str(path)!r} has a header that is not a JSON object; write it again")
    if header.get("format") != FORMAT or header.get("kind") != kind:
        raise FileFormatError(f"{str(path)!r} holds npnet {header.get('kind')!r} data, not a {kind} file")
    if header.get("version") != VERSION:
        raise FileFormatError(
            f"{str(path)!r} has format version {header.get('version')}; this npnet reads {VERSION}"
        )
    return arrays, header


def check_float_arrays(path: str | os.PathLike, arrays: dict[str, np.ndarray], what: str) -> None:
    """FileFormatError unless every array is floating point with finite values (a NaN or an int weight
    would give `nan` predictions or silently rounded updates)."""
    for key, value in arrays.items():
        if value.dtype.kind != "f":
            raise FileFormatError(
                f"{str(path)!r}: {what} {key!r} has dtype {value.dtype}, not a float; write it again"
            )
        if not np.isfinite(value).all():
            raise FileFormatError(
                f"{str(path)!r}: {what} {key!r} holds NaN or infinite values (a diverged or damaged "
                "model); train it again, or resume from an earlier checkpoint"
            )


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
