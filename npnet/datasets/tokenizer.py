"""The tokenizer rule of the IMDB word index, in one place: used by the offline build and by `imdb.encode`.

It is the rule of the Keras `Tokenizer` (keras.preprocessing.text) with its defaults: lowercase the text,
turn every character of `FILTERS` into a space, split on single spaces and drop empty strings. Apostrophes
are kept ("don't" is one word) and HTML line breaks `<br />` leave the word "br", as in Keras's own index.

Words are ranked by how often they occur over the whole corpus: rank 1 is the most frequent word. Ties
(words with equal counts) are ordered by the words themselves in Unicode code-point order (Python's `str`
order), so the ranking depends only on the multiset of reviews, never on the order in which files are read.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import chain, count, islice

import numpy as np

FILTERS = '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n'
SPLIT = " "
RULE = (
    "Keras Tokenizer defaults: lowercase; each of "
    + repr(FILTERS)
    + " becomes a space; split on ' '; empty strings dropped"
)
TIE_BREAK = "rank by count over all reviews, descending; equal counts in Unicode code-point order of the word"

_TRANSLATION = str.maketrans(dict.fromkeys(FILTERS, SPLIT))
# Reviews are tokenized in chunks so that the word strings of one chunk only are alive at a time.
_CHUNK = 1000


def text_to_word_sequence(text: str) -> list[str]:
    """The words of `text` under the tokenizer rule, in order."""
    return list(filter(None, text.lower().translate(_TRANSLATION).split(SPLIT)))


@dataclass(frozen=True)
class RankedCorpus:
    """A tokenized corpus: `words[r - 1]` has rank r; the reviews as one flat rank array plus their lengths.

    `ranks` (int64, total tokens) holds review 0's ranks, then review 1's, ...; `lengths` (int64, n_reviews).
    """

    words: list[str]
    ranks: np.ndarray
    lengths: np.ndarray

    def word_index(self) -> dict[str, int]:
        """Keras's `{word: rank}` mapping, in rank order."""
        return {word: rank for rank, word in enumerate(self.words, start=1)}


def rank_corpus(texts: Iterable[str]) -> RankedCorpus:
    """Tokenize every text and rank the words by count (see the module docstring for the rule).

    Per word, only C-level work runs: the tokenizer's string methods, and a `defaultdict` whose missing-key
    factory is `itertools.count` (so a new word gets the next provisional id without a Python call).
    Counting and re-ranking are then array operations on the provisional ids.
    """
    provisional: defaultdict[str, int] = defaultdict(count().__next__)
    lengths: list[int] = []
    parts: list[np.ndarray] = []
    text_iter = iter(texts)
    while chunk := [text_to_word_sequence(t) for t in islice(text_iter, _CHUNK)]:
        lengths.extend(map(len, chunk))
        ids = map(provisional.__getitem__, chain.from_iterable(chunk))
        parts.append(np.fromiter(ids, dtype=np.int64))
    flat = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
    words = list(provisional)  # insertion order = provisional id order
    counts = np.bincount(flat, minlength=len(words)).tolist()
    order = sorted(range(len(words)), key=lambda i: (-counts[i], words[i]))
    rank_of = np.empty(len(words), dtype=np.int64)
    rank_of[order] = np.arange(1, len(words) + 1)
    return RankedCorpus(
        words=[words[i] for i in order],
        ranks=rank_of[flat],
        lengths=np.asarray(lengths, dtype=np.int64),
    )
