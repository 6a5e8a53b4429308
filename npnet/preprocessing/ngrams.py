"""N-gram features for the fastText model (Joulin et al., "Bag of Tricks"; Keras's examples/imdb_fasttext.py):
an `NgramTable` maps the n-grams (2 <= n <= ngram_range) of the training reviews to new token ids after the
word ids, and `add_ngrams` appends each review's known n-gram ids to it.

Everything runs on flat arrays (`npnet.datasets.ragged.Ragged`), never a Python loop per token or review:
the n-gram of order n at position j of a review is encoded as one int64 code

    code = ((w_j * V + w_{j+1}) * V + ...) * V + w_{j+n-1}        (V = `base`, every id is < V)

so a vocabulary is `np.unique` of codes and a lookup is `np.searchsorted` into it. Memory stays a few
int64 arrays of the dataset's size.

Id assignment is deterministic (Keras's example numbers the n-grams in Python set order, which changes from
run to run): the bigrams in ascending code order (i.e. ordered by first word id, then second), then the
trigrams in ascending code order, and so on; the first gets `first_id`. Keras's example starts at
`max_features + 1` (id `num_words` stays unused), which `NgramTable.build` follows by default, so the table
has Keras's size: num_words + 1 + number of n-grams rows (1,193,401 for IMDB's bigrams at num_words=20000).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from npnet import validation
from npnet.datasets.ragged import Ragged
from npnet.errors import FileFormatError
from npnet.saving import archive

KIND = "ngrams"
MAX_CODE = np.iinfo(np.int64).max


def window_codes(seqs: Ragged, n: int, base: int) -> tuple[np.ndarray, np.ndarray]:
    """(codes, rows): the int64 code of every n-gram window of every sequence, in order (sequence,
    position), and the sequence each window belongs to. Windows never cross a sequence's end."""
    values = seqs.values.astype(np.int64, copy=False)
    total = values.size - (n - 1)  # windows starting at each flat position, crossing ends or not
    if total <= 0:
        return np.zeros(0, np.int64), np.zeros(0, np.intp)
    codes = values[:total].copy()
    for k in range(1, n):  # a loop over the n-gram order: whole-array passes, contiguous
        codes *= base
        codes += values[k : k + total]
    # A window starting at one of a sequence's last n-1 positions crosses its end.
    within = np.ones(total, dtype=bool)
    ends = np.cumsum(seqs.lengths)
    for k in range(1, n):
        start = ends[seqs.lengths >= k] - k
        within[start[start < total]] = False
    rows = np.repeat(np.arange(len(seqs)), np.maximum(seqs.lengths - (n - 1), 0))
    return codes[within], rows


@dataclass(frozen=True, eq=False)
class NgramTable:
    """The n-gram vocabulary: the n-grams of order i + 2 are `codes[i]` (sorted, unique int64 codes) with
    token ids `ids[i]` (int64, same length). `base` exceeds every word id (the words' vocabulary size,
    num_words); every n-gram id is >= base and unique. `input_dim` is the Embedding size covering every id.
    """

    base: int
    codes: tuple[np.ndarray, ...]
    ids: tuple[np.ndarray, ...]

    def __post_init__(self) -> None:
        _check_table(self.base, self.codes, self.ids)

    @property
    def ngram_range(self) -> int:
        """The largest order held (2 for bigrams)."""
        return len(self.codes) + 1

    def __len__(self) -> int:
        return sum(c.size for c in self.codes)

    @property
    def input_dim(self) -> int:
        """Rows an Embedding needs for the word ids and every n-gram id."""
        return max([self.base, *(int(i.max()) + 1 for i in self.ids if i.size)])

    @classmethod
    def build(
        cls, seqs: Ragged, ngram_range: int = 2, base: int | None = None, first_id: int | None = None
    ) -> NgramTable:
        """Every n-gram (orders 2..ngram_range) found in `seqs` (the training reviews, only them), numbered
        consecutively from `first_id`: bigrams by ascending code, then trigrams, ...

        base: the words' vocabulary size (default: max id + 1); first_id: the first n-gram id (default:
        base + 1, as Keras's example: `start_index = max_features + 1`).
        """
        base = _check_base(seqs, base)
        _check_range(ngram_range, base)
        codes = tuple(_unique(window_codes(seqs, n, base)[0]) for n in range(2, ngram_range + 1))
        start = base + 1 if first_id is None else int(first_id)
        firsts = start + np.cumsum([0, *(c.size for c in codes)])
        ids = tuple(np.arange(a, a + c.size, dtype=np.int64) for a, c in zip(firsts, codes, strict=False))
        return cls(base, codes, ids)

    @classmethod
    def from_dict(cls, token_indice: Mapping[tuple[int, ...], int], base: int | None = None) -> NgramTable:
        """From Keras's example's `token_indice` {(w1, w2, ...): id} (any ids >= base, all distinct).

        base: the words' vocabulary size (default: the largest word id in the n-grams + 1)."""
        grams = [tuple(int(w) for w in gram) for gram in token_indice]
        if not grams or any(len(g) < 2 for g in grams):
            raise ValueError("token_indice must hold n-grams of at least 2 ids")
        base = max(max(max(g) for g in grams) + 1, base or 0)
        top = max(len(g) for g in grams)
        _check_range(top, base)
        by_order: list[list[tuple[int, int]]] = [[] for _ in range(top - 1)]
        for gram, index in zip(grams, token_indice.values(), strict=True):
            code = 0
            for w in gram:
                code = code * base + w
            by_order[len(gram) - 2].append((code, int(index)))
        ordered = [sorted(pairs) for pairs in by_order]
        codes = tuple(np.array([c for c, _ in pairs], dtype=np.int64) for pairs in ordered)
        ids = tuple(np.array([i for _, i in pairs], dtype=np.int64) for pairs in ordered)
        return cls(base, codes, ids)

    def lookup(self, codes: np.ndarray, n: int) -> np.ndarray:
        """The ids (int64) of n-gram `codes` of order n; -1 where the table does not hold them."""
        missing = np.full(codes.shape, -1, dtype=np.int64)
        if not 2 <= n <= self.ngram_range or self.codes[n - 2].size == 0:
            return missing
        table = self.codes[n - 2]
        # Queries sorted first: searchsorted then walks the table in order, not at random, which is much
        # faster (benchmarks/HISTORY.md, "The n-gram table").
        order = np.argsort(codes)
        queries = codes[order]
        at = np.minimum(np.searchsorted(table, queries), table.size - 1)
        missing[order] = np.where(table[at] == queries, self.ids[n - 2][at], -1)
        return missing

    # ---- the run folder's file -------------------------------------------------------------------------

    def save(self, path: str | os.PathLike) -> None:
        """Write the table to an npz (atomic, no pickle)."""
        arrays = {f"codes/{i + 2}": c for i, c in enumerate(self.codes)}
        arrays |= {f"ids/{i + 2}": c for i, c in enumerate(self.ids)}
        archive.save_arrays(path, arrays, kind=KIND, meta={"base": self.base})

    @classmethod
    def load(cls, path: str | os.PathLike) -> NgramTable:
        """Read a table written by `save`, validated (a FileFormatError, also a ValueError, names the file and
        the problem)."""
        arrays, meta = archive.load_arrays(path, kind=KIND)
        try:
            base = meta["base"]  # checked by the table itself, as every other field
            orders = range(2, len(arrays) // 2 + 2)
            expected = sorted([f"codes/{n}" for n in orders] + [f"ids/{n}" for n in orders])
            if sorted(arrays) != expected:
                raise ValueError(f"arrays must be {expected}, got {sorted(arrays)}")
            return cls(
                base,
                tuple(arrays[f"codes/{n}"] for n in orders),
                tuple(arrays[f"ids/{n}"] for n in orders),
            )
        except (KeyError, ValueError) as e:
            raise FileFormatError(
                f"{os.fspath(path)!r} is not a valid n-gram table ({e}); train the run again"
            ) from e


def _unique(codes: np.ndarray) -> np.ndarray:
    """np.unique(codes) by a sort and a comparison, which is much faster than np.unique itself on millions
    of codes (benchmarks/HISTORY.md, "The n-gram table")."""
    ordered = np.sort(codes)
    first = np.ones(ordered.size, dtype=bool)
    np.not_equal(ordered[1:], ordered[:-1], out=first[1:])
    return ordered[first]


def _check_base(seqs: Ragged, base: int | None) -> int:
    top = int(seqs.values.max(initial=-1))
    if seqs.values.size and int(seqs.values.min()) < 0:
        raise ValueError("token ids must be >= 0 to form n-grams")
    if base is None:
        return max(top + 1, 1)
    if top >= base:
        raise ValueError(f"token id {top} is not below base={base} (the words' vocabulary size)")
    return int(base)


def _check_range(ngram_range: int, base: int) -> None:
    validation.int_in(ngram_range, "ngram_range", 2)
    if base**ngram_range > MAX_CODE:
        raise ValueError(
            f"{ngram_range}-grams of {base} word ids do not fit an int64 code; lower ngram_range or num_words"
        )


def _check_table(base: int, codes: Sequence[np.ndarray], ids: Sequence[np.ndarray]) -> None:
    validation.positive_int(base, "base")
    if not codes or len(codes) != len(ids):
        raise ValueError("an n-gram table holds codes and ids for each order, from the bigrams on")
    _check_range(len(codes) + 1, base)
    for n, (c, i) in enumerate(zip(codes, ids, strict=True), start=2):
        for what, a in (("codes", c), ("ids", i)):
            if not isinstance(a, np.ndarray) or a.dtype != np.int64 or a.ndim != 1:
                raise ValueError(f"the {n}-gram {what} must be a 1-D int64 array")
        if c.size != i.size:
            raise ValueError(f"the {n}-grams have {c.size} codes but {i.size} ids")
        if c.size and (c[0] < 0 or c[-1] >= base**n or np.any(c[1:] <= c[:-1])):
            raise ValueError(f"the {n}-gram codes must be unique, ascending and in [0, {base}**{n})")
    every = np.concatenate(ids)
    if every.size and (every.min() < base or np.unique(every).size != every.size):
        raise ValueError(f"n-gram ids must be distinct and >= base={base} (word ids are below it)")


def add_ngrams(
    sequences: Ragged | Sequence[Sequence[int]],
    table: NgramTable | Mapping[tuple[int, ...], int],
    ngram_range: int = 2,
) -> Ragged | list[list[int]]:
    """Each sequence followed by the ids of its n-grams that `table` holds, as Keras's imdb_fasttext.py
    `add_ngram(sequences, token_indice, ngram_range)` does: first the bigrams in order of position, then the
    trigrams, ... up to `ngram_range`; n-grams the table lacks are skipped.

    `table`: an `NgramTable` (built from the training reviews: `NgramTable.build`) or Keras's
    `token_indice` dict {(w1, w2): id, ...}. Returns a `Ragged` for a `Ragged`, else lists of ints.

    (Keras's loop also forms the trigrams over the bigram ids it has just appended; those windows contain an
    n-gram id, which no table built from the words holds, so only windows of the words themselves count.)
    Vectorized: one int64 code per window (`window_codes`), `searchsorted` into the table, and one scatter of
    every kept id to its place in the output.
    """
    seqs = sequences if isinstance(sequences, Ragged) else Ragged.from_lists(sequences)
    if not isinstance(table, NgramTable):  # Keras's dict: its codes must cover these sequences' ids too
        table = NgramTable.from_dict(table, base=int(seqs.values.max(initial=0)) + 1)
    if seqs.values.size and (seqs.values.min() < 0 or seqs.values.max() >= table.base):
        # an id past the table's base would alias another n-gram's code
        raise ValueError(
            f"token ids must be in [0, {table.base}) (the words the n-gram table was built on); "
            "load the data with the same num_words"
        )
    found = []  # per order: (ids, rows) of the windows the table holds, rows ascending
    for n in range(2, ngram_range + 1):  # a loop over the orders, not over tokens
        codes, rows = window_codes(seqs, n, table.base)
        ids = table.lookup(codes, n)
        kept = ids >= 0
        found.append((ids[kept], rows[kept]))
    counts = [np.bincount(rows, minlength=len(seqs)) for _, rows in found]
    added = np.sum(counts, axis=0, dtype=np.int64) if counts else np.zeros(len(seqs), np.int64)
    lengths = seqs.lengths + added
    starts = np.cumsum(lengths) - lengths
    fits = np.issubdtype(seqs.values.dtype, np.integer) and table.input_dim <= np.iinfo(seqs.values.dtype).max
    values = np.empty(int(lengths.sum()), dtype=seqs.values.dtype if fits else np.int64)
    values[np.repeat(starts - seqs.offsets, seqs.lengths) + np.arange(seqs.values.size)] = seqs.values
    # Order n's ids of row i go after its words and its lower-order n-grams, in order of position.
    before = seqs.lengths.copy()
    for (ids, _), count in zip(found, counts, strict=True):
        first = np.cumsum(count) - count  # where row i's entries start among this order's
        values[np.repeat(starts + before - first, count) + np.arange(ids.size)] = ids
        before += count
    out = Ragged(values, lengths.astype(np.int64))
    return out if isinstance(sequences, Ragged) else out.to_lists()
