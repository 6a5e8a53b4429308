"""Reading `imdb.npz` without trusting it.

Its `x_*` arrays are object arrays of lists, stored as pickles, and a pickle can call any importable
function. This reader unpickles with an allow-list that admits only the three names an imdb.npz's pickle
uses (`_reconstruct`, `ndarray`, `dtype`), and even those never reach NumPy: each resolves to a stand-in
that accepts only the exact sequence NumPy writes for a 1-D object array of lists (`dtype('O8')` with its
one state, `_reconstruct(ndarray, (0,), b'b')`, then the array state whose data is a Python list). The
array itself is then made here from that list. So a pickle can never hand raw bytes to an object dtype (a
forged pointer that reading would follow), nor change a dtype's flags. Then the content is checked: the
four keys, lengths, labels in {0, 1}, ids >= 1.
Non-object arrays are read by NumPy with `allow_pickle=False`.
"""

from __future__ import annotations

import os
import pickle
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import IO, cast

import numpy as np

from npnet.datasets.ragged import Ragged, object_array
from npnet.errors import DataError

IMDB_KEYS = ("x_train", "y_train", "x_test", "y_test")


class _ObjectDtype:
    """What `numpy.dtype` means in the pickle: only `dtype('O8', False, True)`, and only its own state."""

    # NumPy's __reduce__ of dtype('O8'): version 3, no byte order, no fields, itemsize and alignment -1, and
    # the flags of an object dtype (63). Another state could clear those flags; it is refused, never applied.
    STATE = (3, "|", None, None, None, -1, -1, 63)

    def __init__(self, *args: object) -> None:
        if args != ("O8", False, True):
            raise pickle.UnpicklingError(f"numpy.dtype{args!r} is not the object dtype of an imdb.npz")

    def __setstate__(self, state: object) -> None:
        if not (isinstance(state, tuple) and _same(state, self.STATE)):
            raise pickle.UnpicklingError(f"a dtype state {state!r} other than NumPy's for dtype('O8')")


class _NdarrayName:
    """What `numpy.ndarray` means in the pickle: a name for `_reconstruct`, nothing callable."""


class _ObjectArray:
    """What `_reconstruct(ndarray, (0,), b'b')` returns: an empty array waiting for its state, which must be
    (1, (n,), the object dtype, False, a list of n items); `array` is then a 1-D object array made here."""

    def __init__(self) -> None:
        self.array: np.ndarray | None = None

    def __setstate__(self, state: object) -> None:
        if self.array is not None:
            raise pickle.UnpicklingError("an array state given twice")
        if not (isinstance(state, tuple) and len(state) == 5):
            raise pickle.UnpicklingError("an array state that is not NumPy's 5-tuple")
        version, shape, dtype, fortran, data = state
        if not (_same(version, 1) and isinstance(dtype, _ObjectDtype) and fortran is False):
            raise pickle.UnpicklingError("an array state other than NumPy's for a 1-D object array")
        if not (isinstance(shape, tuple) and len(shape) == 1 and type(shape[0]) is int and shape[0] >= 0):
            raise pickle.UnpicklingError(f"an array shape {shape!r} that is not 1-D")
        if type(data) is not list:
            # NumPy writes an object array's items as a list; bytes here would become raw pointers.
            raise pickle.UnpicklingError(f"object-array data given as {type(data).__name__}, not a list")
        if len(data) != shape[0]:
            raise pickle.UnpicklingError(f"an array state with {len(data)} items for shape {shape}")
        self.array = object_array(data)


def _reconstruct(cls: object, shape: object, typecode: object) -> _ObjectArray:
    if not (cls is _NdarrayName and _same(shape, (0,)) and typecode == b"b" and type(typecode) is bytes):
        raise pickle.UnpicklingError("an ndarray reconstruction other than NumPy's")
    return _ObjectArray()


def _same(value: object, expected: object) -> bool:
    """Equal and of exactly the same types, element by element (so True is not 1, 1.0 is not 1)."""
    if isinstance(expected, tuple):
        return (
            type(value) is tuple
            and len(value) == len(expected)
            and all(_same(v, e) for v, e in zip(value, expected, strict=True))
        )
    return type(value) is type(expected) and value == expected


# (module, name) -> stand-in: everything an object-array pickle may name. Files written by NumPy 1.x (Keras's
# own imdb.npz) say numpy.core, NumPy 2 says numpy._core; both resolve to the same stand-in here.
_ALLOWED_GLOBALS: dict[tuple[str, str], object] = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy", "ndarray"): _NdarrayName,
    ("numpy", "dtype"): _ObjectDtype,
}

_FIX = "delete it and run `npnet data fetch`, or rebuild it with `npnet data build --from PATH`"


class _ForbiddenGlobal(pickle.UnpicklingError):
    def __init__(self, module: str, name: str) -> None:
        super().__init__(f"{module}.{name}")
        self.qualname = f"{module}.{name}"


class _RestrictedUnpickler(pickle.Unpickler):
    """An unpickler whose only importable names are `_ALLOWED_GLOBALS`."""

    def find_class(self, module: str, name: str) -> object:
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise _ForbiddenGlobal(module, name) from None

    def persistent_load(self, pid: object) -> object:
        raise pickle.UnpicklingError("persistent ids are not allowed")


@dataclass(frozen=True)
class ImdbArrays:
    """The validated content of an imdb.npz: reviews as word ranks (>= 1), labels 0/1 (dtype as stored)."""

    x_train: Ragged
    y_train: np.ndarray
    x_test: Ragged
    y_test: np.ndarray


def read_npz(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Every array of an .npz file, object arrays through the restricted unpickler.

    Raises DataError when the file is missing, is not an npz, is damaged, or asks for anything beyond the
    allow-list (nothing it names is imported or run).
    """
    if not os.path.isfile(path):
        raise DataError(f"no such file: {path}")
    try:
        with zipfile.ZipFile(path) as archive:
            arrays = {}
            for member in archive.namelist():
                if not member.endswith(".npy"):
                    raise DataError(f"{path} is not a valid npz: {member!r} is not an .npy array; {_FIX}")
                arrays[member[: -len(".npy")]] = _read_member(archive, member)
            return arrays
    except _ForbiddenGlobal as e:
        raise DataError(
            f"refusing to load {path}: its pickled data asks for {e.qualname}, which an imdb.npz never "
            f"contains (a damaged or malicious file; nothing in it was run); {_FIX}"
        ) from None
    except (zipfile.BadZipFile, pickle.UnpicklingError, EOFError, ValueError, TypeError, KeyError, IndexError,
            AttributeError, OverflowError, MemoryError, OSError, NotImplementedError,
            RuntimeError) as e:  # RuntimeError: zipfile on a member flagged as encrypted  # fmt: skip
        raise DataError(f"{path} is not a valid npz ({type(e).__name__}: {e}); {_FIX}") from e


def _read_member(archive: zipfile.ZipFile, member: str) -> np.ndarray:
    with archive.open(member) as f:
        dtype, shape = _read_header(f)
        if not dtype.hasobject:
            # Plain numeric data: NumPy's own reader, which never unpickles.
            with archive.open(member) as again:
                return np.lib.format.read_array(again, allow_pickle=False)
        loaded = _RestrictedUnpickler(f).load()
    array = loaded.array if isinstance(loaded, _ObjectArray) else None
    if array is None or dtype != np.dtype(object) or array.shape != shape:
        raise ValueError(f"{member}: the pickled data is not the object array its header announces")
    return array


def _read_header(f: IO[bytes]) -> tuple[np.dtype, tuple[int, ...]]:
    version = np.lib.format.read_magic(f)
    if version == (1, 0):
        shape, _, dtype = np.lib.format.read_array_header_1_0(f)
    elif version == (2, 0):
        shape, _, dtype = np.lib.format.read_array_header_2_0(f)
    else:
        raise ValueError(f"unsupported .npy format version {version}")
    return dtype, shape


def load_imdb_npz(path: str | os.PathLike[str]) -> ImdbArrays:
    """Read and validate an imdb.npz (see the module docstring); DataError naming the problem otherwise."""
    arrays = read_npz(path)
    missing = [k for k in IMDB_KEYS if k not in arrays]
    extra = sorted(set(arrays) - set(IMDB_KEYS))
    if missing or extra:
        found = ", ".join(sorted(arrays)) or "nothing"
        expected = ", ".join(IMDB_KEYS)
        raise DataError(f"{path} is not an imdb.npz: it holds {found}, expected {expected}; {_FIX}")
    x_train = _reviews(arrays["x_train"], "x_train", path)
    x_test = _reviews(arrays["x_test"], "x_test", path)
    y_train = _labels(arrays["y_train"], "y_train", len(x_train), path)
    y_test = _labels(arrays["y_test"], "y_test", len(x_test), path)
    return ImdbArrays(x_train, y_train, x_test, y_test)


def _reviews(x: np.ndarray, key: str, path: str | os.PathLike[str]) -> Ragged:
    def bad(problem: str) -> DataError:
        return DataError(f"{path} is not a valid imdb.npz: {key} {problem}; {_FIX}")

    if x.dtype != object or x.ndim != 1:
        raise bad(f"must be a 1-D object array of lists, found a {x.ndim}-D {x.dtype} array")
    if len(x) == 0:
        raise bad("holds no reviews")
    if not _only(x, list):
        raise bad("holds something other than lists")
    if not _only(chain.from_iterable(x), int):
        raise bad("holds ids that are not Python ints")
    try:
        reviews = Ragged.from_lists(cast("Sequence[Sequence[int]]", x))  # checked above: lists of ints
    except OverflowError:
        raise bad("holds ids too large for int64") from None
    if reviews.values.size and reviews.values.min() < 1:
        raise bad(f"holds id {reviews.values.min()}; word ranks start at 1")
    return reviews


def _labels(y: np.ndarray, key: str, n: int, path: str | os.PathLike[str]) -> np.ndarray:
    def bad(problem: str) -> DataError:
        return DataError(f"{path} is not a valid imdb.npz: {key} {problem}; {_FIX}")

    if y.ndim != 1 or y.dtype.kind not in "iu":
        raise bad(f"must be a 1-D integer array, found a {y.ndim}-D {y.dtype} array")
    if len(y) != n:
        raise bad(f"has {len(y)} labels for {n} reviews")
    if not np.isin(y, (0, 1)).all():
        raise bad(f"holds labels other than 0 and 1: {np.setdiff1d(y, (0, 1))[:5].tolist()}")
    return y


def _only(items: Iterable[object], kind: type) -> bool:
    """Whether every item's type is exactly `kind` (so bool is not an int, a subclass is not a list)."""
    return set(map(type, items)) <= {kind}
