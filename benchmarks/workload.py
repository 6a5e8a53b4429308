"""The benchmark's data: a synthetic IMDB-like workload by default, saved once and shared by every process.

The ids come from `npnet.datasets.synthetic.imdb_like_ids` (its docstring lists the IMDB facts mimicked);
labels are random 0/1 (they do not change the work).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from npnet.atomic import atomic_write
from npnet.datasets.synthetic import ZIPF_EXPONENT, imdb_like_ids


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
        atomic_write(path, lambda f: np.savez(f, allow_pickle=False, **arrays))

    @classmethod
    def load(cls, path: Path) -> Workload:
        with np.load(path, allow_pickle=False) as f:
            vocab, batch = (int(s) for s in f["sizes"])
            return cls(
                f["x_train"], f["y_train"], f["x_val"], f["y_val"], vocab, batch, str(f["description"])
            )


def synthetic(
    n_train: int, n_val: int, length: int, vocab_size: int, batch_size: int, seed: int = 0
) -> Workload:
    rng = np.random.default_rng(seed)
    x_train = imdb_like_ids(n_train, length, vocab_size, rng)
    x_val = imdb_like_ids(n_val, length, vocab_size, rng)
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
