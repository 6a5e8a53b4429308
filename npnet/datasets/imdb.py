"""The IMDB sentiment dataset with Keras's semantics: `load_data`, `get_word_index`, plus `encode`/`decode`.

Ids: a review is a list of word ranks (rank 1 = most frequent word) shifted by `index_from`, behind
`start_char`; 0 is padding. With the defaults: 0 = padding, 1 = start, 2 = out-of-vocabulary, rank + 3 = the
word of that rank. These constants are the single source of the offsets for the whole package.
"""

from __future__ import annotations

import json
import operator
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

from npnet.datasets.errors import DataError, DownloadError
from npnet.datasets.fetch import DEFAULT_TIMEOUT, Source, fetch_file
from npnet.datasets.files import (
    NPZ_NAME,
    PROVENANCE_NAME,
    WORD_INDEX_NAME,
    describes_files,
    read_provenance,
    resolve_data_dir,
)
from npnet.datasets.ragged import object_array
from npnet.datasets.safe_npz import load_imdb_npz
from npnet.datasets.tokenizer import text_to_word_sequence

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

OFFLINE_HINT = (
    "to build the data offline from the Stanford reviews, run "
    "`npnet data build --from ../shared/data/aclImdb_v1_labeled.tar.gz` "
    "(or --from the official aclImdb_v1.tar.gz or its extracted folder)"
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
    progress: bool = True,
) -> dict[str, str]:
    """Download imdb.npz and imdb_word_index.json into the data directory; returns {file name: what happened}.

    Files already there and verified are kept without a request. Files from an `npnet data build` are kept
    unless `force` (then Keras's files replace them and the stale provenance record is removed).
    """
    directory = resolve_data_dir(data_dir)
    provenance = read_provenance(directory)
    built = describes_files(provenance, directory)
    outcome = {}
    for name in (NPZ_NAME, WORD_INDEX_NAME):
        if built and not force:
            outcome[name] = "kept: built locally by `npnet data build` (--force downloads Keras's file)"
            continue
        sources = keras_sources(name, mirror)
        options = {"timeout": timeout, "retries": retries, "progress": progress}
        downloaded = _download(directory / name, sources, force=force, **options)
        outcome[name] = "downloaded and verified" if downloaded else "already present and verified"
    if provenance is not None and not describes_files(provenance, directory):
        (directory / PROVENANCE_NAME).unlink()  # it describes files that are no longer there
    return outcome


def _download(target: Path, sources: list[Source], **options: object) -> bool:
    """`fetch_file`, with the way to build the data offline added to a download failure."""
    try:
        return fetch_file(target, sources, **options)  # type: ignore[arg-type]
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

    `path`: an imdb.npz to read; None reads `imdb.npz` in the data directory (`$NPNET_DATA_DIR`, else
    `data/`), downloading it first when absent. x: 1-D object arrays (n,) of lists of Python ints (always
    1-D, even when every review has the same length); y: int arrays (n,) of 0/1.

    Keras's algorithm, in order: shuffle train then test with one `RandomState(seed)`; prepend `start_char`
    and add `index_from` to every rank; keep reviews with `len < maxlen` (when maxlen is truthy), train and
    test separately; `num_words` falsy means the largest id; ids outside `skip_top <= id < num_words` become
    `oov_char`, or are dropped when it is None.
    """
    num_words = _optional_int("num_words", num_words)
    skip_top = _int("skip_top", skip_top)
    maxlen = _optional_int("maxlen", maxlen)
    start_char = _optional_int("start_char", start_char)
    oov_char = _optional_int("oov_char", oov_char)
    index_from = _int("index_from", index_from)

    arrays = load_imdb_npz(locate(NPZ_NAME, path))
    rng = np.random.RandomState(seed)
    splits = []
    for x, y in ((arrays.x_train, arrays.y_train), (arrays.x_test, arrays.y_test)):
        order = np.arange(len(x))
        rng.shuffle(order)  # one generator continuing from train to test, as Keras does
        x, y = x.take(order), y[order]
        x = x.with_values(x.values + index_from)
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
        result.append((object_array(x.to_lists()), y))
    return result[0], result[1]


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
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DataError(f"{file} is not a valid word index ({e}); {fix}") from None
    valid = isinstance(index, dict) and all(type(r) is int and r >= 1 for r in index.values())
    if not valid:
        raise DataError(
            f"{file} is not a valid word index: expected a JSON object of word -> rank >= 1; {fix}"
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
    limit = num_words if num_words else float("inf")
    ranks = map(word_index.get, text_to_word_sequence(text))
    marker = [] if start_char is None else [start_char]
    ids = marker + [None if r is None else r + index_from for r in ranks]

    def known(i: int | None) -> bool:
        return i is not None and skip_top <= i < limit

    return [i if known(i) else oov_char for i in ids if known(i) or oov_char is not None]


def decode(ids: Iterable[int], word_index: Mapping[str, int], index_from: int = INDEX_FROM) -> str:
    """Ids -> text: words for ids >= index_from (id = rank + index_from); below it `<PAD>` (0),
    `<START>` (1), `<UNK>` (2); `<UNK>` for any id without a word."""
    words = {rank + index_from: word for word, rank in word_index.items()}
    special = {PAD_CHAR: "<PAD>", START_CHAR: "<START>", OOV_CHAR: "<UNK>"}
    return " ".join(
        special.get(i, "<UNK>") if i < index_from else words.get(i, "<UNK>")
        for i in np.asarray(ids, dtype=np.int64).ravel().tolist()
    )


def _int(name: str, value: object) -> int:
    try:
        return operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"{name} must be an int, got {value!r}") from None


def _optional_int(name: str, value: object) -> int | None:
    return None if value is None else _int(name, value)
