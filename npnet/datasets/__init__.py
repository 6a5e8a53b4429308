"""Datasets: IMDB with Keras's semantics (`npnet.datasets.imdb`), fetched, built offline, and read safely.

Modules: `imdb` (load_data, get_word_index, encode, decode, the id offsets), `fetch` (HTTP download into
the cache), `build` (imdb.npz from the Stanford reviews), `tokenizer` (the word rule), `safe_npz` (restricted
reading), `ragged` (flat sequences), `files` (data directory, atomic writes, digests). Their errors are
`npnet.errors.DataError`.
"""

from npnet.datasets import imdb
from npnet.errors import DataError, DownloadError

__all__ = ["DataError", "DownloadError", "imdb"]
