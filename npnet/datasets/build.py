"""Building imdb.npz and its word index offline from the Stanford reviews (the raw source of Keras's file).

Input: the official `aclImdb_v1.tar.gz`, the labeled-only `aclImdb_v1_labeled.tar.gz`, or either one
extracted (the `aclImdb` folder or the folder holding it). Reviews are
`aclImdb/{train,test}/{pos,neg}/<id>_<rating>.txt`; everything else (unsup, vocab, urls) is ignored.

Output, in Keras's format so that `keras.datasets.imdb.load_data` reads it unchanged: `imdb.npz` with
x_train, y_train, x_test, y_test (1-D object arrays of lists of Python ints = word ranks; int64 labels,
pos = 1, neg = 0), `imdb_word_index.json` ({word: rank}), and `imdb_provenance.json` (source, its digest,
the tokenizer rule, counts). Within each split reviews are ordered neg then pos, each by numeric file id
(load_data shuffles anyway). The same input always gives byte-identical files: fixed zip timestamps, no
clocks or paths inside the data.
"""

from __future__ import annotations

import hashlib
import json
import lzma
import os
import pickle
import re
import tarfile
import zipfile
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, BinaryIO, TypeVar

import numpy as np

from npnet.atomic import atomic_write
from npnet.datasets.files import (
    NPZ_NAME,
    PROVENANCE_NAME,
    WORD_INDEX_NAME,
    dataset_update,
    ensure_writable_dir,
    resolve_data_dir,
    sha256_file,
)
from npnet.datasets.imdb import write_flat_cache
from npnet.datasets.progress import Progress
from npnet.datasets.ragged import Ragged, object_array
from npnet.datasets.safe_npz import ImdbArrays
from npnet.datasets.tokenizer import RULE, TIE_BREAK, rank_corpus
from npnet.errors import DataError

SPLITS = ("train", "test")
LABELS = {"neg": 0, "pos": 1}
_REVIEW_PATH = re.compile(r"(?:^|/)(train|test)/(pos|neg)/(\d+)_(\d+)\.txt$")
_LAYOUT = "aclImdb/{train,test}/{pos,neg}/<id>_<rating>.txt"
LABELED_REVIEWS = 50_000  # 25,000 train + 25,000 test in every release of the Stanford reviews
T = TypeVar("T")
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest zip timestamp: a constant, so equal input gives equal bytes


@dataclass(frozen=True, order=True)
class _Key:
    """Where a review sits; its sort order is the order of the reviews in the npz."""

    split: int
    label: int
    file_id: int
    rating: int

    @property
    def group(self) -> str:
        """The review's folder, e.g. "train/pos"."""
        return f"{SPLITS[self.split]}/{'pos' if self.label else 'neg'}"

    @property
    def name(self) -> str:
        return f"{self.group}/{self.file_id}_{self.rating}.txt"


def build_imdb(
    source: str | os.PathLike[str],
    data_dir: str | os.PathLike[str] | None = None,
    *,
    force: bool = False,
    progress: bool = False,
) -> dict:
    """Build imdb.npz, imdb_word_index.json and imdb_provenance.json in the data directory from `source`.

    Returns the provenance record (also written to imdb_provenance.json). The files (and the flat cache) are
    staged and then replace the old dataset together (`files.dataset_update`): a failure changes nothing.
    DataError when `source` is missing or is not aclImdb-shaped, the data directory is not writable, or it
    already holds data and `force` is not set. `progress`: show each phase on stderr
    (`npnet.datasets.progress`).
    """
    source = Path(source)
    target_dir = resolve_data_dir(data_dir)
    ensure_writable_dir(target_dir)  # fail before the work, not after
    if not force and (present := [n for n in (NPZ_NAME, WORD_INDEX_NAME) if (target_dir / n).exists()]):
        raise DataError(
            f"{target_dir} already holds {' and '.join(present)}; pass --force to replace them with the "
            "build, or choose another --data-dir"
        )
    reviews = _read_reviews(source, progress)
    with dataset_update(target_dir) as stage:
        return _write_dataset(stage, source, reviews, progress)


def _write_dataset(target_dir: Path, source: Path, reviews: dict[_Key, bytes], progress: bool) -> dict:
    """The build's files (npz, flat cache, word index, provenance) in `target_dir`; returns the provenance."""

    keys = sorted(reviews)
    texts = (_decode(reviews[k], k) for k in keys)
    corpus = rank_corpus(_counted(texts, _progress("tokenizing and ranking words", progress, len(keys))))
    n_train = sum(1 for k in keys if k.split == 0)
    train = _slice(corpus.ranks, corpus.lengths, 0, n_train)
    test = _slice(corpus.ranks, corpus.lengths, n_train, len(keys))
    labels = np.array([k.label for k in keys], dtype=np.int64)
    arrays = {
        "x_train": object_array(train.to_lists()),
        "y_train": labels[:n_train],
        "x_test": object_array(test.to_lists()),
        "y_test": labels[n_train:],
    }

    npz_path, index_path = target_dir / NPZ_NAME, target_dir / WORD_INDEX_NAME
    atomic_write(npz_path, lambda f: write_npz(f, arrays))
    npz_sha256 = sha256_file(npz_path)
    # The pickle-free cache that load_padded reads, made from the arrays in hand (see imdb.read_flat).
    write_flat_cache(npz_path, ImdbArrays(train, labels[:n_train], test, labels[n_train:]), npz_sha256)
    index_json = json.dumps(corpus.word_index()).encode("utf-8")
    atomic_write(index_path, lambda f: f.write(index_json))

    provenance = {
        "dataset": "imdb",
        "made_by": "npnet data build",
        "source": {
            "path": str(source.resolve()),
            "kind": "folder" if source.is_dir() else "archive",
            "sha256": None if source.is_dir() else sha256_file(source),
            "reviews_sha256": _reviews_digest(keys, reviews),
        },
        "tokenizer": RULE,
        "ranking": TIE_BREAK,
        "order": "per split: neg then pos, each by numeric file id",
        "labels": {"neg": 0, "pos": 1},
        "counts": {
            **{group.replace("/", "_"): n for group, n in sorted(Counter(k.group for k in keys).items())},
            "train": n_train,
            "test": len(keys) - n_train,
            "words": len(corpus.words),
            "tokens": int(corpus.lengths.sum()),
        },
        "files": {
            NPZ_NAME: {"sha256": npz_sha256, "bytes": npz_path.stat().st_size},
            WORD_INDEX_NAME: {"sha256": sha256_file(index_path), "bytes": index_path.stat().st_size},
        },
    }
    record = (json.dumps(provenance, indent=2) + "\n").encode("utf-8")
    atomic_write(target_dir / PROVENANCE_NAME, lambda f: f.write(record))
    return provenance


def write_npz(f: BinaryIO, arrays: dict[str, np.ndarray]) -> None:
    """An .npz as `np.savez` writes it (stored, one .npy per array), with constant timestamps."""
    with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for name, array in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_TIME)
            with archive.open(info, "w", force_zip64=True) as member:
                _write_npy(member, array)


def _write_npy(f: IO[bytes], array: np.ndarray) -> None:
    if not array.dtype.hasobject:
        np.lib.format.write_array(f, array, version=(1, 0), allow_pickle=False)
        return
    np.lib.format.write_array_header_1_0(f, np.lib.format.header_data_from_array_1_0(array))
    f.write(_portable_pickle(array))


def _portable_pickle(array: np.ndarray) -> bytes:
    """Pickle an object array so that NumPy 1.x and 2.x both read it.

    NumPy 2 names its reconstructor `numpy._core.multiarray._reconstruct`, which NumPy < 1.26.1 cannot
    import; `numpy.core.multiarray._reconstruct` (what Keras's own file names) works everywhere. Protocol 3
    (what NumPy 1.x wrote) has no frames and writes that name as plain text at the very start, so it can be
    renamed without touching anything else.
    """
    data = pickle.dumps(array, protocol=3)
    new = b"\x80\x03cnumpy._core.multiarray\n_reconstruct\n"
    old = b"\x80\x03cnumpy.core.multiarray\n_reconstruct\n"
    if data.startswith(new):
        return old + data[len(new) :]
    if data.startswith(old):
        return data
    raise RuntimeError("unexpected pickle layout for a NumPy object array")  # a NumPy change to look at


def _slice(ranks: np.ndarray, lengths: np.ndarray, start: int, stop: int) -> Ragged:
    """Reviews start..stop of a flat corpus."""
    offsets = np.concatenate(([0], np.cumsum(lengths)))
    return Ragged(ranks[offsets[start] : offsets[stop]], lengths[start:stop])


def _progress(label: str, shown: bool, total: int = LABELED_REVIEWS) -> Progress | None:
    return Progress(label, total, unit="reviews") if shown else None


def _counted(items: Iterable[T], progress: Progress | None) -> Iterator[T]:
    """`items`, passed through while `progress` counts them (closed after the last)."""
    if progress is None:
        yield from items
        return
    count = 0
    for item in items:
        count += 1
        if count % 500 == 0:
            progress.update(count)
        yield item
    progress.update(count)
    progress.close()


def _read_reviews(source: Path, progress: bool = False) -> dict[_Key, bytes]:
    if not source.exists():
        raise DataError(
            f"no such file or folder: {source}; give the Stanford reviews (aclImdb_v1.tar.gz, downloadable "
            "from https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz, or its extracted folder), "
            "or download Keras's own imdb.npz with `npnet data fetch`"
        )
    entries = _folder_reviews(source) if source.is_dir() else _archive_reviews(source)
    reviews: dict[_Key, bytes] = {}
    for match, data in _counted(entries, _progress(f"reading reviews from {source}", progress)):
        split, label, file_id, rating = match.groups()
        reviews[_Key(SPLITS.index(split), LABELS[label], int(file_id), int(rating))] = data
    groups = {(k.split, k.label) for k in reviews}
    missing = [
        f"{split}/{label}"
        for i, split in enumerate(SPLITS)
        for label, v in LABELS.items()
        if (i, v) not in groups
    ]
    if missing:
        raise DataError(
            f"{source} does not look like the Stanford IMDB reviews: found no reviews in "
            f"{', '.join(missing)} (expected {_LAYOUT}); give aclImdb_v1.tar.gz or its extracted folder"
        )
    return reviews


def _folder_reviews(source: Path) -> Iterator[tuple[re.Match[str], bytes]]:
    """(path match, bytes) of each review file under an extracted aclImdb folder (or its parent)."""
    root = source / "aclImdb" if (source / "aclImdb").is_dir() else source
    for split in SPLITS:
        for label in LABELS:
            folder = root / split / label
            if folder.is_dir():
                for entry in os.scandir(folder):
                    match = _REVIEW_PATH.search(f"{split}/{label}/{entry.name}")
                    if match and entry.is_file():
                        yield match, Path(entry.path).read_bytes()


def _archive_reviews(source: Path) -> Iterator[tuple[re.Match[str], bytes]]:
    """(path match, bytes) of each review file in a tar archive, in archive order."""
    # Members are visited in archive order, so the compressed stream is decompressed once, front to back.
    # (Stream mode "r|*" would be as fast but ends silently where a truncated archive ends.)
    try:
        with tarfile.open(source, "r:*") as archive:
            for member in archive:
                match = _REVIEW_PATH.search(member.name)
                content = archive.extractfile(member) if match and member.isfile() else None
                if match and content is not None:
                    yield match, content.read()
            # Read on to the end of the compressed stream: gzip (bz2, xz) then checks its checksum and
            # length, so a damaged archive cannot pass for a smaller dataset.
            while archive.fileobj.read(1 << 20):
                pass
    except (tarfile.TarError, OSError, EOFError, zlib.error, lzma.LZMAError) as e:
        raise DataError(
            f"cannot read {source} as a tar archive ({type(e).__name__}: {e}); "
            "give an intact aclImdb_v1.tar.gz or its extracted folder"
        ) from None


def _decode(data: bytes, key: _Key) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DataError(f"review {key.name} is not UTF-8 text ({e}); the source is damaged") from None


def _reviews_digest(keys: list[_Key], reviews: dict[_Key, bytes]) -> str:
    """sha256 over the reviews in npz order (name, size, bytes): equal for an archive and its extraction."""
    h = hashlib.sha256()
    for k in keys:
        data = reviews[k]
        h.update(f"{k.name}\n{len(data)}\n".encode())
        h.update(data)
    return h.hexdigest()
