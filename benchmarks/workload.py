"""The benchmark's data: a synthetic IMDB-like workload by default, saved once and shared by every process.

IMDB facts mimicked (Keras `imdb.load_data(num_words=V)`, then `pad_sequences(maxlen=T, padding="post")` with
the default truncating="pre" of the notebook): review lengths roughly log-normal (median ~178 tokens, mean
~238, a long tail); word ids ranked by frequency (Zipf), 1 = start marker, 2 = out-of-vocabulary (~5% of
tokens with a 10,000-word vocabulary), 3 never used; long reviews keep their last T tokens (losing the start
marker); short ones are padded with 0 at the end. Labels are random 0/1 (they do not change the work).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from npnet.atomic import atomic_write

START, OOV, FIRST_WORD = 1, 2, 4
MEDIAN_LENGTH, LENGTH_SIGMA, MIN_LENGTH, MAX_LENGTH = 178.0, 0.76, 10, 2500
OOV_RATE, ZIPF_EXPONENT = 0.05, 1.07


@dataclass(frozen=True)
class Workload:
    """Padded ids (N, T) and 0/1 labels (N,) for training and validation, plus the model's sizes."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    vocab_size: int
    batch_size: int
    description: str

    @property
    def length(self) -> int:
        return self.x_train.shape[1]

    def save(self, path: Path) -> None:
        """Write a plain (pickle-free) .npz atomically."""
        arrays = {
            "x_train": self.x_train,
            "y_train": self.y_train,
            "x_val": self.x_val,
            "y_val": self.y_val,
            "sizes": np.array([self.vocab_size, self.batch_size]),
            "description": np.array(self.description),
        }
        atomic_write(path, lambda f: np.savez(f, **arrays))

    @classmethod
    def load(cls, path: Path) -> Workload:
        with np.load(path, allow_pickle=False) as f:
            vocab, batch = (int(s) for s in f["sizes"])
            return cls(
                f["x_train"], f["y_train"], f["x_val"], f["y_val"], vocab, batch, str(f["description"])
            )


def synthetic_ids(n: int, length: int, vocab_size: int, rng: np.random.Generator) -> np.ndarray:
    """(n, length) int32 ids shaped like padded IMDB reviews (see the module docstring)."""
    if vocab_size <= FIRST_WORD:
        raise ValueError(f"vocab_size must exceed {FIRST_WORD} (ids 0-3 are reserved, as in Keras's IMDB)")
    lengths = np.clip(np.rint(rng.lognormal(np.log(MEDIAN_LENGTH), LENGTH_SIGMA, n)), MIN_LENGTH, MAX_LENGTH)
    kept = np.minimum(lengths, length).astype(np.intp)
    ranks = np.arange(1, vocab_size - FIRST_WORD + 1, dtype=np.float64)
    cdf = np.cumsum(ranks**-ZIPF_EXPONENT)
    cdf /= cdf[-1]
    tokens = (FIRST_WORD + np.searchsorted(cdf, rng.random(int(kept.sum())), side="right")).astype(np.int32)
    tokens = np.minimum(tokens, vocab_size - 1)  # guards the cdf's last rounding step
    tokens[rng.random(tokens.size) < OOV_RATE] = OOV
    ids = np.zeros((n, length), dtype=np.int32)
    ids[np.arange(length) < kept[:, None]] = tokens
    ids[lengths <= length, 0] = START  # truncating="pre" drops the start marker of long reviews
    return ids


def synthetic(
    n_train: int, n_val: int, length: int, vocab_size: int, batch_size: int, seed: int = 0
) -> Workload:
    rng = np.random.default_rng(seed)
    x_train = synthetic_ids(n_train, length, vocab_size, rng)
    x_val = synthetic_ids(n_val, length, vocab_size, rng)
    y_train = rng.integers(0, 2, n_train).astype(np.float32)
    y_val = rng.integers(0, 2, n_val).astype(np.float32)
    description = (
        f"synthetic IMDB-like: {n_train:,} train + {n_val:,} validation reviews, length {length}, "
        f"vocab {vocab_size:,}, Zipf({ZIPF_EXPONENT}) ids, log-normal lengths, padding post, "
        f"batch {batch_size}"
    )
    return Workload(x_train, y_train, x_val, y_val, vocab_size, batch_size, description)


def real(path: Path, batch_size: int, length: int, vocab_size: int) -> Workload:
    """Real IMDB: an npnet data directory (its imdb.npz, read as the notebook does: `num_words=vocab_size`,
    padded "post" to `length`, the test split as validation), or an .npz of plain padded int arrays
    x_train (N, T), y_train, x_val, y_val (read with allow_pickle=False)."""
    if path.is_dir():
        from npnet.datasets import imdb

        npz = path / "imdb.npz"
        if not npz.is_file():
            raise FileNotFoundError(
                f"{path} has no imdb.npz: build it with `npnet data build --from ... --data-dir {path}`"
            )
        (x_train, y_train), (x_val, y_val) = imdb.load_padded(
            length, npz, num_words=vocab_size, padding="post"
        )
        y_train, y_val = y_train.astype(np.float32), y_val.astype(np.float32)
        name = f"npnet data dir {path}"
    elif path.is_file():
        with np.load(path, allow_pickle=False) as f:
            missing = {"x_train", "y_train", "x_val", "y_val"} - set(f.files)
            if missing:
                raise ValueError(f"{path} lacks {sorted(missing)}: it needs x_train, y_train, x_val, y_val")
            x_train, x_val = f["x_train"].astype(np.int32), f["x_val"].astype(np.int32)
            y_train, y_val = f["y_train"].astype(np.float32), f["y_val"].astype(np.float32)
        name = f"real data {path.name}"
    else:
        raise FileNotFoundError(
            f"no IMDB data at {path}: give an npnet data directory (with imdb.npz) or a padded .npz of "
            "x_train/y_train/x_val/y_val int arrays, or drop --data to use the synthetic workload"
        )
    if x_train.ndim != 2 or x_val.ndim != 2 or x_train.shape[1] != x_val.shape[1]:
        raise ValueError(f"{path}: x_train and x_val must be padded 2-D arrays of one length")
    vocab_size = int(max(x_train.max(), x_val.max())) + 1
    description = (
        f"{name}: {len(x_train):,} train + {len(x_val):,} validation reviews, "
        f"length {x_train.shape[1]}, vocab {vocab_size:,}, batch {batch_size}"
    )
    return Workload(x_train, y_train, x_val, y_val, vocab_size, batch_size, description)
