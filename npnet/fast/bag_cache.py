"""BagCache: the bags of words of recently seen inputs, keyed by their content, so that a repeated
`fit`/`evaluate`/`predict` call on the same data does not count its ids again.

Notebooks and custom schedules call `fit(epochs=1)` in a loop; without a cache each call rebuilt the bag
of x and of the validation data, each about as long as an epoch's training at batch 512 on IMDB
(benchmarks/HISTORY.md, "The bag-of-words kernels and their cache").

The key is a SHA-256 digest of the ids' bytes together with their dtype, shape, the vocabulary size,
`mask_zero` and the dense/sparse split: never `id()`, so an array changed in place (same object, same
shape) gets a new key and a new bag, and an equal copy finds the cached one. SHA-256 is stdlib and runs on
the CPU's SHA instructions here, a few percent of the build it saves (benchmarks/HISTORY.md, "The
bag-of-words kernels and their cache"); the array is hashed in fixed pieces spread over the fused
layer's threads (`hashlib` releases the GIL), and the digest of the pieces' digests is the key, the same
for every thread count.

Memory: at most `max_entries` bags and `max_bytes` in all (default 4 and 256 MiB), least recently used
evicted first; a bag alone larger than `max_bytes` is built and used but not kept. A bag of 25,000 x 256
IMDB ids holds ~25 MB (its dense counts, 1 byte each, and its sparse tail, 8 bytes a token). A deep copy
of the cache (e.g. `npnet.gradcheck`'s copy of a model) starts empty: its contents can be rebuilt.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict

import numpy as np

from npnet import validation
from npnet.fast.embedding_pool import DEFAULT_DENSE_MIN_DF, BagOfWords
from npnet.fast.threads import SERIAL, Workers

# Hashed in pieces of this many bytes: big enough that hashing a piece costs far more than handing it to a
# thread, small enough that two threads share a 25 MB array evenly.
_PIECE_BYTES = 4 * 2**20

Key = tuple[bytes, str, tuple[int, ...], int, bool, float]


def _digest(piece: memoryview) -> bytes:
    return hashlib.sha256(piece).digest()


def _digests(pieces: list[memoryview]) -> list[bytes]:
    return [_digest(piece) for piece in pieces]


def content_digest(ids: np.ndarray, workers: Workers = SERIAL) -> bytes:
    """SHA-256 of the SHA-256 digests of the fixed-size pieces of `ids`'s bytes (C order): changes with
    any byte of the array, and is the same for every thread count."""
    data = np.ascontiguousarray(ids).data.cast("B")
    pieces = [data[start : start + _PIECE_BYTES] for start in range(0, len(data), _PIECE_BYTES)] or [data]
    threads = workers.threads
    # One contiguous run of pieces per thread, this thread taking the first: one hand-off per thread.
    runs = [pieces[len(pieces) * i // threads : len(pieces) * (i + 1) // threads] for i in range(threads)]
    waits = [workers.start(_digests, run) for run in runs[1:]]
    digests = _digests(runs[0])
    for wait in waits:
        digests += wait()
    return hashlib.sha256(b"".join(digests)).digest()


def _bag_bytes(bag: BagOfWords) -> int:
    return sum(a.nbytes for a in (bag.head_ids, bag.head_counts, bag.tail_ptr, bag.tail_ids, bag.scale))


class BagCache:
    """Least-recently-used `BagOfWords` by content key; `get(ids, vocab_size, mask_zero)` builds on a miss.

    `max_entries=0` turns caching off (every call builds). `builds` and `hits` count what `get` did.
    """

    def __init__(self, max_entries: int = 4, max_bytes: int = 256 * 2**20) -> None:
        self.max_entries = validation.non_negative_int(max_entries, "max_entries")
        self.max_bytes = validation.non_negative_int(max_bytes, "max_bytes")
        self._bags: OrderedDict[Key, BagOfWords] = OrderedDict()
        self.builds = self.hits = 0

    def __len__(self) -> int:
        return len(self._bags)

    @property
    def nbytes(self) -> int:
        """Bytes held by the cached bags."""
        return sum(_bag_bytes(bag) for bag in self._bags.values())

    def get(
        self,
        ids: np.ndarray,
        vocab_size: int,
        mask_zero: bool = False,
        dense_min_df: float = DEFAULT_DENSE_MIN_DF,
        workers: Workers = SERIAL,
    ) -> BagOfWords:
        """The bag of `ids` (N, T): the cached one if these exact bytes (dtype, shape) were seen with the
        same settings, else `BagOfWords.from_ids`, which is then kept (evicting the least recently used)."""
        if not self.max_entries:
            self.builds += 1
            return BagOfWords.from_ids(ids, vocab_size, mask_zero=mask_zero, dense_min_df=dense_min_df)
        ids = np.asarray(ids)
        key: Key = (
            content_digest(ids, workers),
            ids.dtype.str,
            ids.shape,
            int(vocab_size),
            bool(mask_zero),
            float(dense_min_df),
        )
        bag = self._bags.get(key)
        if bag is not None:
            self._bags.move_to_end(key)
            self.hits += 1
            return bag
        bag = BagOfWords.from_ids(ids, vocab_size, mask_zero=mask_zero, dense_min_df=dense_min_df)
        self.builds += 1
        if _bag_bytes(bag) <= self.max_bytes:
            for array in (bag.head_ids, bag.head_counts, bag.tail_ptr, bag.tail_ids, bag.scale):
                array.flags.writeable = False  # shared by later calls: nothing may change it in place
            self._bags[key] = bag
            while len(self._bags) > self.max_entries or self.nbytes > self.max_bytes:
                self._bags.popitem(last=False)
        return bag

    def clear(self) -> None:
        self._bags.clear()

    def __deepcopy__(self, memo: dict) -> BagCache:
        return BagCache(self.max_entries, self.max_bytes)
