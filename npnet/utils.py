"""Keras 3's `keras.utils` names that text models reach for: `pad_sequences` (Keras 3 moved it here from
`keras.preprocessing.sequence`; npnet's lives in `npnet.preprocessing.sequence`)."""

from npnet.preprocessing.sequence import pad_sequences

__all__ = ["pad_sequences"]
