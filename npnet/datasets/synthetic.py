"""Synthetic IMDB-like token ids: padded reviews shaped like Keras's `imdb.load_data(num_words=V)` followed by
the notebook's `pad_sequences(maxlen=T, padding="post")` (default truncating="pre"). One generator for the
tests, the benchmarks and `npnet gradcheck`.

IMDB facts mimicked: review lengths roughly log-normal (median ~178 tokens, mean ~238, a long tail); word ids
ranked by frequency (Zipf), `START_CHAR` (1) opening each review, `OOV_CHAR` (2) for ~5% of tokens (about its
share with a 10,000-word vocabulary), 3 never used (Keras's ids start at INDEX_FROM + 1); long reviews keep
their last T tokens (losing the start marker); short ones are padded with `PAD_CHAR` (0) at the end.
"""

from __future__ import annotations

import numpy as np

from npnet import validation
from npnet.datasets.imdb import INDEX_FROM, OOV_CHAR, PAD_CHAR, START_CHAR

FIRST_WORD = INDEX_FROM + 1  # the id of the most frequent word (rank 1)
MEDIAN_LENGTH, LENGTH_SIGMA, MIN_LENGTH, MAX_LENGTH = 178.0, 0.76, 10, 2500
OOV_RATE, ZIPF_EXPONENT = 0.05, 1.07


def imdb_like_ids(
    n: int,
    length: int,
    vocab_size: int,
    rng: np.random.Generator,
    *,
    median_length: float = MEDIAN_LENGTH,
) -> np.ndarray:
    """(n, length) int32 ids of padded IMDB-like reviews (see the module docstring), ids below vocab_size.

    median_length: the median review length before padding or truncation (IMDB's by default; a test with
    short rows passes about `length` to get both padded and truncated reviews).
    """
    validation.positive_int(n, "n")
    validation.positive_int(length, "length")
    if vocab_size <= FIRST_WORD:
        raise ValueError(
            f"vocab_size must exceed {FIRST_WORD} (ids 0-{INDEX_FROM} are reserved, as in Keras's IMDB), "
            f"got {vocab_size}"
        )
    validation.positive_float(median_length, "median_length")
    lengths = np.clip(np.rint(rng.lognormal(np.log(median_length), LENGTH_SIGMA, n)), MIN_LENGTH, MAX_LENGTH)
    kept = np.minimum(lengths, length).astype(np.intp)
    ranks = np.arange(1, vocab_size - FIRST_WORD + 1, dtype=np.float64)
    cdf = np.cumsum(ranks**-ZIPF_EXPONENT)
    cdf /= cdf[-1]
    tokens = (FIRST_WORD + np.searchsorted(cdf, rng.random(int(kept.sum())), side="right")).astype(np.int32)
    tokens = np.minimum(tokens, vocab_size - 1)  # guards the cdf's last rounding step
    tokens[rng.random(tokens.size) < OOV_RATE] = OOV_CHAR
    ids = np.full((n, length), PAD_CHAR, dtype=np.int32)
    ids[np.arange(length) < kept[:, None]] = tokens
    ids[lengths <= length, 0] = START_CHAR  # truncating="pre" drops the start marker of long reviews
    return ids
