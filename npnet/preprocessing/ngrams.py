"""fastText's n-gram features: `add_ngrams`, Keras's imdb_fasttext.py `add_ngram` vectorized (the table of
known n-grams is `npnet.ngrams.NgramTable`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from npnet.datasets.ragged import Ragged
    from npnet.ngrams import NgramTable


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
    Vectorized: one int64 code per window (`npnet.ngrams.window_codes`), `searchsorted` into the table, and
    one scatter of every kept id to its place in the output.
    """
    # Imported here: npnet.datasets imports this module (pad_flat) on its own import.
    from npnet.datasets.ragged import Ragged
    from npnet.ngrams import NgramTable, window_codes

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
