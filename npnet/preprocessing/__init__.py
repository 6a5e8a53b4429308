"""Preprocessing, laid out as Keras's: `npnet.preprocessing.sequence.pad_sequences` (Keras 2's path, the one
the IMDB notebook imports) is the same function as `npnet.preprocessing.pad_sequences`."""

from npnet.preprocessing.sequence import pad_flat, pad_sequences

__all__ = ["pad_flat", "pad_sequences"]
