"""The IMDB sentiment dataset with Keras's semantics: `load_data`, `get_word_index`, plus `encode`/`decode`.

Ids: a review is a list of word ranks (rank 1 = most frequent word) shifted by `index_from`, behind
`start_char`; 0 is padding. With the defaults: 0 = padding, 1 = start, 2 = out-of-vocabulary, rank + 3 = the
word of that rank. These constants are the single source of the offsets for the whole package.
"""

from __future__ import annotations

import contextlib
import json
import operator
import os
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
from numpy.typing import DTypeLike

from npnet.atomic import atomic_write
from npnet.datasets.fetch import (
    DEFAULT_DEADLINE,
    DEFAULT_TIMEOUT,
    MIN_SPEED,
    Source,
    fetch_file,
    is_verified,
)
from npnet.datasets.files import (
    DATA_DIR_ENV,
    NPZ_NAME,
    WORD_INDEX_NAME,
    dataset_update,
    describes_files,
    file_digests,
    read_provenance,
    resolve_data_dir,
)
from npnet.datasets.ragged import Ragged, object_array
from npnet.datasets.safe_npz import ImdbArrays, load_imdb_npz
from npnet.datasets.tokenizer import text_to_word_sequence
from npnet.errors import DataError, DownloadError, HashMismatchError
from npnet.preprocessing.sequence import pad_flat  # the module, not the package: its __init__ imports us

PAD_CHAR = 0
START_CHAR = 1
OOV_CHAR = 2
INDEX_FROM = 3
SEED = 113

# Keras 3 downloads from Google Cloud Storage and checks sha256; Keras 2 used the S3 bucket and md5.
KERAS_ORIGINS = (
    "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
    "https://s3.amazonaws.com/text-datasets/",
)
_PUBLISHED_DIGESTS: dict[str, tuple[dict[str, str], dict[str, str]]] = {
    NPZ_NAME: (
        {"sha256": "69664113be75683a8fe16e3ed0ab59fda8886cb3cd7ada244f7d9544e4676b9f"},
        {"md5": "599dadb1135973df5b59232a0e9a887c"},
    ),
    WORD_INDEX_NAME: (
        {"md5": "bfafd718b763782e994055a2d397834f"},
        {"md5": "bfafd718b763782e994055a2d397834f"},
    ),
}

# The Stanford reviews, from which `npnet data build` makes the same format; md5 as published with the
# dataset's loaders (e.g. PaddlePaddle's and fibber's), size 84,125,825 bytes.
STANFORD_URL = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"
STANFORD_DIGESTS = {"md5": "7c2ac02c03563afcf9b574c7e56c153a"}

OFFLINE_HINT = (
    f"to build the data from the Stanford reviews instead, download {STANFORD_URL} and run "
    "`npnet data build --from aclImdb_v1.tar.gz` (on the project machine: "
    "--from ../shared/data/aclImdb_v1_labeled.tar.gz)"
)
# A whole file with the wrong digest: most likely a mirror serving a local build, which no mirror can (every
# download must be Keras's published file), while a folder of such files is read as it is.
FOREIGN_FILE_HINT = (
    "a file with another hash is not the one Keras publishes (every download, from a mirror too, must "
    "match Keras's hashes); "
    f"to use an {NPZ_NAME} and {WORD_INDEX_NAME} you already have (such as the ones `npnet data build` "
    f"makes), put both in one folder and pass --data-dir FOLDER (or set ${DATA_DIR_ENV})"
)


def keras_sources(filename: str, mirror: str | None = None) -> list[Source]:
    """Where `filename` can be downloaded: Keras's two origins in order, or only `mirror` (a folder URL).

    A mirror's file must match one of the digests Keras publishes for it.
    """
    published = _PUBLISHED_DIGESTS[filename]
    if mirror:
        digests = {a: d for digest in published for a, d in digest.items()}
        return [Source(mirror.rstrip("/") + "/" + filename, digests)]
    return [
        Source(origin + filename, digest) for origin, digest in zip(KERAS_ORIGINS, published, strict=True)
    ]


def published_digests(filename: str) -> dict[str, str]:
    """Every digest Keras publishes for `filename`, {algorithm: hex}."""
    return {a: d for digest in _PUBLISHED_DIGESTS[filename] for a, d in digest.items()}


def locate(filename: str, path: str | os.PathLike[str] | None = None) -> Path:
    """The file to read: `path` as given, else `filename` in the data directory (downloaded if absent)."""
    if path is not None:
        return Path(path)
    target = resolve_data_dir() / filename
    if not target.exists():
        _download(target, keras_sources(filename))
    return target


def fetch_data(
    data_dir: str | os.PathLike[str] | None = None,
    *,
    mirror: str | None = None,
    force: bool = False,
    timeout: tuple[float, float] = DEFAULT_TIMEOUT,
    retries: int = 3,
    deadline: float = DEFAULT_DEADLINE,
    progress: bool = True,
    min_speed: float = MIN_SPEED,
) -> dict[str, str]:
    """Download imdb.npz and imdb_word_index.json into the data directory; returns {file name: what happened}.

    Files already there and verified are kept without a request. Files from an `npnet data build` are kept
    unless `force`. The dataset changes as one unit (`files.dataset_update`): new files are staged and
    verified first, then replace the old ones together (the provenance record and flat cache of the old
    files go); when any download fails, nothing in the data directory changes.
    """
    directory = resolve_data_dir(data_dir)
    provenance = read_provenance(directory)
    if describes_files(provenance, directory) and not force:
        kept = "kept: built locally by `npnet data build` (--force downloads Keras's file)"
        return dict.fromkeys((NPZ_NAME, WORD_INDEX_NAME), kept)
    outcome = {}
    options = {
        "timeout": timeout,
        "retries": retries,
        "deadline": deadline,
        "progress": progress,
        "min_speed": min_speed,
    }
    with dataset_update(directory) as stage:
        for name in (NPZ_NAME, WORD_INDEX_NAME):
            sources = keras_sources(name, mirror)
            present = directory / name
            if not force and present.is_file() and is_verified(present, sources):
                outcome[name] = "already present and verified"
                continue
            _download(stage / name, sources, force=True, **options)
            outcome[name] = "downloaded and verified"
    return outcome


def _download(target: Path, sources: list[Source], **options: object) -> bool:
    """`fetch_file`, with the way to build the data offline added to a download failure (and, for a file
    with the wrong digest, the way to use files one already has)."""
    try:
        return fetch_file(target, sources, **options)  # type: ignore[arg-type]
    except HashMismatchError as e:
        raise HashMismatchError(f"{e}; {FOREIGN_FILE_HINT}; {OFFLINE_HINT}") from None
    except DownloadError as e:
        raise DownloadError(f"{e}; {OFFLINE_HINT}") from None


def load_data(
    path: str | os.PathLike[str] | None = None,
    num_words: int | None = None,
    skip_top: int = 0,
    maxlen: int | None = None,
    seed: int | None = SEED,
    start_char: int | None = START_CHAR,
    oov_char: int | None = OOV_CHAR,
    index_from: int = INDEX_FROM,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """`(x_train, y_train), (x_test, y_test)` exactly as `keras.datasets.imdb.load_data` returns them.

    `path`: an imdb.npz to read; None reads `imdb.npz` in the data directory (`$NPNET_DATA_DIR`, else the
    per-user cache `~/.cache/npnet/datasets`: `files.resolve_data_dir`), downloading it first when absent.
    x: 1-D object arrays (n,) of lists of Python ints (always 1-D, even when every review has the same
    length); y: int arrays (n,) of 0/1.

    Keras's algorithm, in order: shuffle train then test with one `RandomState(seed)`; prepend `start_char`
    and add `index_from` to every rank; keep reviews with `len < maxlen` (when maxlen is truthy), train and
    test separately; `num_words` falsy means the largest id; ids outside `skip_top <= id < num_words` become
    `oov_char`, or are dropped when it is None.
    """
    splits = load_ragged(path, num_words, skip_top, maxlen, seed, start_char, oov_char, index_from)
    (x_train, y_train), (x_test, y_test) = splits
    return (object_array(x_train.to_lists()), y_train), (object_array(x_test.to_lists()), y_test)


def load_ragged(
    path: str | os.PathLike[str] | None = None,
    num_words: int | None = None,
    skip_top: int = 0,
    maxlen: int | None = None,
    seed: int | None = SEED,
    start_char: int | None = START_CHAR,
    oov_char: int | None = OOV_CHAR,
    index_from: int = INDEX_FROM,
) -> tuple[tuple[Ragged, np.ndarray], tuple[Ragged, np.ndarray]]:
    """`load_data` with the reviews as `Ragged` (flat int values + lengths) instead of lists of Python ints.

    Same arguments, same reviews in the same order; `x.to_lists()` gives load_data's lists. The npz is read
    through its pickle-free flat cache (see `read_flat`), so no Python object is made per token, and the ids
    are int32 whenever every id (and start_char, oov_char) fits, int64 otherwise.
    """
    num_words = _optional_int("num_words", num_words)
    skip_top = _int("skip_top", skip_top)
    maxlen = _optional_int("maxlen", maxlen)
    start_char = _optional_int("start_char", start_char)
    oov_char = _optional_int("oov_char", oov_char)
    index_from = _int("index_from", index_from)

    arrays = read_flat(locate(NPZ_NAME, path))
    raw = [(arrays.x_train, arrays.y_train), (arrays.x_test, arrays.y_test)]
    del arrays  # each split's raw ranks are dropped once it is shuffled
    dtype = _id_dtype([x.values for x, _ in raw], index_from, start_char, oov_char)
    rng = np.random.RandomState(seed)
    splits = []
    while raw:
        x, y = raw.pop(0)
        order = np.arange(len(x))
        rng.shuffle(order)  # one generator continuing from train to test, as Keras does
        x, y = x.take(order), y[order]
        x = x.with_values(x.values.astype(dtype, copy=False) + dtype(index_from))
        if start_char is not None:
            x = x.prepend(start_char)
        if maxlen:
            kept = x.lengths < maxlen
            x, y = x.take(np.flatnonzero(kept)), y[kept]
        splits.append((x, y))
    if maxlen and not all(len(x) for x, _ in splits):
        raise ValueError(
            f"After filtering for sequences shorter than maxlen={maxlen}, no sequence was kept. "
            "Increase maxlen."
        )

    if not num_words:
        num_words = max((int(x.values.max()) for x, _ in splits if x.values.size), default=0)
    result = []
    for x, y in splits:
        in_range = (skip_top <= x.values) & (x.values < num_words)
        if oov_char is not None:
            x = x.with_values(np.where(in_range, x.values, oov_char))
        else:
            x = x.keep(in_range)
        result.append((x, y))
    return result[0], result[1]


def load_padded(
    length: int,
    path: str | os.PathLike[str] | None = None,
    *,
    num_words: int | None = None,
    skip_top: int = 0,
    seed: int | None = SEED,
    start_char: int | None = START_CHAR,
    oov_char: int | None = OOV_CHAR,
    index_from: int = INDEX_FROM,
    padding: str = "pre",
    truncating: str = "pre",
    value: int = 0,
    dtype: DTypeLike = "int32",
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """`((x_train, y_train), (x_test, y_test))` with x padded to (n, length): the training path's loader.

    Equal to `pad_sequences(x, maxlen=length, padding=..., truncating=..., value=..., dtype=...)` applied to
    `load_data(path, num_words, skip_top, seed=seed, ...)`'s x (y unchanged), but padded straight from the
    flat arrays: no list or Python int per token, a fraction of the memory. (load_data's own `maxlen`, which
    drops long reviews, is not offered: training pads them instead.)
    """
    splits = load_ragged(path, num_words, skip_top, None, seed, start_char, oov_char, index_from)
    return tuple(  # type: ignore[return-value]
        (pad_flat(x.values, x.lengths, length, dtype, padding, truncating, value), y) for x, y in splits
    )


def _id_dtype(
    ranks: list[np.ndarray], index_from: int, start_char: int | None, oov_char: int | None
) -> type[np.signedinteger]:
    """int32 when every id load_ragged can produce fits in it (half the memory of int64), else int64."""
    info = np.iinfo(np.int32)
    ids = [index_from + int(r.min()) for r in ranks if r.size] + [
        index_from + int(r.max()) for r in ranks if r.size
    ]
    ids += [c for c in (start_char, oov_char, index_from) if c is not None]
    return np.int32 if all(info.min <= i <= info.max for i in ids) else np.int64


FLAT_SUFFIX = ".flat.npz"
_FLAT_KEYS = (
    "source_sha256",
    "x_train_values",
    "x_train_lengths",
    "y_train",
    "x_test_values",
    "x_test_lengths",
    "y_test",
)


def flat_cache_path(npz: str | os.PathLike[str]) -> Path:
    """Where the flat cache of an imdb.npz lives: beside it, `imdb.flat.npz` for `imdb.npz`."""
    npz = Path(npz)
    return npz.with_name(npz.name.removesuffix(".npz") + FLAT_SUFFIX)


def read_flat(npz: str | os.PathLike[str]) -> ImdbArrays:
    """An imdb.npz's validated content, read through a pickle-free cache beside it.

    imdb.npz stores its reviews as pickled lists, which the safe reader must turn into one Python int per
    token (hundreds of MB for IMDB). The cache holds the same ranks as int32 values + lengths in a plain npz
    (read with allow_pickle=False) and the sha256 of the imdb.npz it was made from: a changed imdb.npz gets
    a new cache. The cache is written atomically on first use; a data directory that cannot be written just
    means no cache (the result is the same).
    """
    if not os.path.isfile(npz):
        raise DataError(f"no such file: {npz}")
    digest = file_digests(npz)["sha256"]
    cache = flat_cache_path(npz)
    arrays = _read_cache(cache, digest)
    if arrays is not None:
        return arrays
    arrays = load_imdb_npz(npz)
    with contextlib.suppress(OSError):  # a read-only data directory: no cache, the same result
        write_flat_cache(npz, arrays, digest)
    return arrays


def write_flat_cache(npz: str | os.PathLike[str], arrays: ImdbArrays, digest: str | None = None) -> None:
    """Write the flat cache of `npz`, whose content is `arrays` (`digest`: its sha256, computed if None).

    `npnet data build` calls this right after writing imdb.npz, from the arrays it already holds, so the
    first `load_padded` never has to unpickle a Python int per token.
    """
    digest = digest or file_digests(npz)["sha256"]
    atomic_write(
        flat_cache_path(npz), lambda f: np.savez(f, allow_pickle=False, **_cache_arrays(arrays, digest))
    )


def _cache_arrays(arrays: ImdbArrays, digest: str) -> dict[str, np.ndarray]:
    def compact(values: np.ndarray) -> np.ndarray:
        fits = not values.size or values.max() <= np.iinfo(np.int32).max
        return values.astype(np.int32) if fits else values

    return {
        "source_sha256": np.array(digest),
        "x_train_values": compact(arrays.x_train.values),
        "x_train_lengths": arrays.x_train.lengths,
        "y_train": arrays.y_train,
        "x_test_values": compact(arrays.x_test.values),
        "x_test_lengths": arrays.x_test.lengths,
        "y_test": arrays.y_test,
    }


def _read_cache(cache: Path, digest: str) -> ImdbArrays | None:
    """The cache's arrays if it exists, belongs to the npz with `digest` and is consistent; else None."""
    try:
        with np.load(cache, allow_pickle=False) as f:
            if sorted(f.files) != sorted(_FLAT_KEYS) or str(f["source_sha256"]) != digest:
                return None
            loaded = {key: f[key] for key in _FLAT_KEYS[1:]}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile):
        return None
    splits = []
    for split in ("train", "test"):
        values, lengths, y = (loaded[f"x_{split}_values"], loaded[f"x_{split}_lengths"], loaded[f"y_{split}"])
        consistent = (
            values.ndim == lengths.ndim == y.ndim == 1
            and values.dtype.kind == lengths.dtype.kind == y.dtype.kind == "i"
            and len(lengths) == len(y) > 0
            and (lengths >= 0).all()
            and int(lengths.sum()) == values.size
            and (not values.size or values.min() >= 1)
            and np.isin(y, (0, 1)).all()
        )
        if not consistent:
            return None
        splits.append((Ragged(values, lengths.astype(np.int64)), y))
    (x_train, y_train), (x_test, y_test) = splits
    return ImdbArrays(x_train, y_train, x_test, y_test)


def get_word_index(path: str | os.PathLike[str] | None = None) -> dict[str, int]:
    """Keras's `{word: rank}` (rank 1 = most frequent); id of a word = rank + index_from.

    `path`: a word-index JSON to read; None reads `imdb_word_index.json` in the data directory, downloading it
    first when absent.
    """
    file = locate(WORD_INDEX_NAME, path)
    fix = "delete it and run `npnet data fetch`, or rebuild it with `npnet data build --from PATH`"
    try:
        with open(file, encoding="utf-8") as f:
            index = json.load(f)
    except FileNotFoundError:
        raise DataError(f"no such file: {file}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise DataError(f"{file} is not a valid word index ({e}); {fix}") from None
    return check_word_index(index, file, fix)


# The largest rank a word index may hold: its id (rank + index_from) must fit the int32 ids of the flat cache.
MAX_RANK = np.iinfo(np.int32).max - INDEX_FROM


def check_word_index(index: object, file: str | os.PathLike[str], fix: str) -> dict[str, int]:
    """`index` if it is a word index (JSON object of word -> integer rank in 1..MAX_RANK); else DataError
    naming `file`, the first bad entry and `fix`. The one check for the dataset's and a run's word index."""
    if not isinstance(index, dict):
        raise DataError(
            f"{file} is not a valid word index: a JSON {type(index).__name__}, not an object; {fix}"
        )
    for word, rank in index.items():
        if type(rank) is not int or not 1 <= rank <= MAX_RANK:
            raise DataError(
                f"{file} is not a valid word index: {word!r} has rank {rank!r}, expected an integer from 1 "
                f"to {MAX_RANK}; {fix}"
            )
    return index


def encode(
    text: str,
    word_index: Mapping[str, int],
    num_words: int | None = None,
    skip_top: int = 0,
    start_char: int | None = START_CHAR,
    oov_char: int | None = OOV_CHAR,
    index_from: int = INDEX_FROM,
) -> list[int]:
    """Raw review text -> ids, as `load_data` with the same arguments would give for that review.

    Tokenized with the build's tokenizer; a word missing from `word_index`, or whose id falls outside
    `skip_top <= id < num_words` (num_words falsy: no upper limit), becomes `oov_char` (dropped if None).
    """
    if not isinstance(text, str):
        raise DataError(f"encode takes a review's text as a str, got {type(text).__name__}")
    limit = num_words if num_words else float("inf")
    ranks = map(word_index.get, text_to_word_sequence(text))
    marker = [] if start_char is None else [start_char]
    ids: list[int | None] = [*marker, *(None if r is None else r + index_from for r in ranks)]
    kept = [i if i is not None and skip_top <= i < limit else oov_char for i in ids]
    return [i for i in kept if i is not None]  # oov_char None: unknown words are dropped


def decode(ids: Iterable[int], word_index: Mapping[str, int], index_from: int = INDEX_FROM) -> str:
    """Ids -> text: words for ids >= index_from (id = rank + index_from); below it `<PAD>` (0),
    `<START>` (1), `<UNK>` (2); `<UNK>` for any id without a word."""
    words = {rank + index_from: word for word, rank in word_index.items()}
    special = {PAD_CHAR: "<PAD>", START_CHAR: "<START>", OOV_CHAR: "<UNK>"}
    given = np.asarray(ids)
    if given.size and given.dtype.kind not in "iu":
        # astype(int64) would truncate 3.7 to 3 and decode a word the ids never named
        raise DataError(f"decode takes integer ids, got an array of {given.dtype}")
    return " ".join(
        special.get(i, "<UNK>") if i < index_from else words.get(i, "<UNK>")
        for i in given.astype(np.int64).ravel().tolist()
    )


def _int(name: str, value: object) -> int:
    try:
        return operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"{name} must be an int, got {value!r}") from None


def _optional_int(name: str, value: object) -> int | None:
    return None if value is None else _int(name, value)
