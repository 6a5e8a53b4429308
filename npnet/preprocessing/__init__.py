"""Preprocessing, laid out as Keras's: `npnet.preprocessing.sequence.pad_sequences` (Keras 2's path, the one
the IMDB notebook imports) is the same function as `npnet.preprocessing.pad_sequences`; `add_ngrams`
(`npnet.preprocessing.ngrams`) appends fastText's n-gram ids, as Keras's imdb_fasttext.py example does."""

from npnet.preprocessing.ngrams import add_ngrams
from npnet.preprocessing.sequence import pad_flat, pad_sequences

__all__ = ["add_ngrams", "pad_flat", "pad_sequences"]
