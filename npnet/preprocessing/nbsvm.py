"""NBSVM's features (Wang & Manning 2012, "Baselines and Bigrams"): binarized bags of word and n-gram ids,
and the naive-Bayes log-count ratio that scales them, computed from the training reviews only.

A review's feature vector is x̂ (one entry per id: 1 if the review holds the word or n-gram, else 0); the
model (`npnet.models.nbsvm`) learns a linear classifier on r * x̂. As model input a bag is the ascending
list of the review's distinct ids, padded with 0 (`binary_bags`, `pad_bags`); the ratio r has one entry per
id (`log_count_ratio`). The n-gram ids come from `npnet.preprocessing.ngrams.NgramTable`, built on the
training reviews.
All of it runs on flat arrays: no Python loop over reviews or ids. The derivation is in
docs/derivations/nbsvm.md.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from npnet.datasets.ragged import Ragged
from npnet.errors import FileFormatError
from npnet.preprocessing.ngrams import NgramTable, add_ngrams
from npnet.preprocessing.sequence import pad_flat
from npnet.saving import archive

PAD_ID = 0  # the id padding fills a bag with; never a feature (Keras's reviews start their ids at 1)
RATIO_KIND, RATIO_KEY = "log_count_ratio", "ratio"  # the ratio's npz: its archive kind and array name


def binary_bags(seqs: Ragged, table: NgramTable | None = None, ngram_range: int = 1) -> Ragged:
    """The binarized bag of each review: its distinct word ids and the ids of its n-grams (orders
    2..ngram_range) that `table` holds, each once, ascending.

    seqs: n reviews of word ids (every id < table.base); table: the n-gram table (needed for ngram_range
    >= 2, built from the training reviews only: `NgramTable.build`). Returns a `Ragged` of n bags, int64
    ids in [1, table.input_dim).
    """
    if ngram_range > 1:
        if table is None:
            raise ValueError(f"ngram_range={ngram_range} needs the n-gram table (NgramTable.build on train)")
        if ngram_range > table.ngram_range:
            raise ValueError(
                f"ngram_range={ngram_range} but the table holds n-grams up to {table.ngram_range}; "
                "build the table with the same ngram_range"
            )
        seqs = add_ngrams(seqs, table, ngram_range)  # type: ignore[assignment]  # a Ragged for a Ragged
    ids = seqs.values.astype(np.int64)
    if ids.size and ids.min() <= PAD_ID:
        raise ValueError(f"token ids must be > {PAD_ID} ({PAD_ID} pads the bags); shift the ids up")
    width = int(ids.max(initial=0)) + 1
    # One code per (review, id): sorting them groups each review's ids ascending, and equal neighbours are
    # repeats of an id within a review.
    codes = np.sort(seqs.row_ids() * width + ids)
    first = np.ones(codes.size, dtype=bool)
    np.not_equal(codes[1:], codes[:-1], out=first[1:])
    kept = codes[first]
    lengths = np.bincount(kept // width, minlength=len(seqs)).astype(np.int64)
    return Ragged(kept % width, lengths)


def log_count_ratio(bags: Ragged, labels: np.ndarray, input_dim: int, alpha: float = 1.0) -> np.ndarray:
    """r (input_dim,) float64: the naive-Bayes log-count ratio of every id over the training bags.

        p = alpha + sum of the positive reviews' x̂,  q = alpha + sum of the negative reviews' x̂
        r = log((p / |p|_1) / (q / |q|_1))

    bags: the training reviews' binarized bags (`binary_bags`); labels (n,) 0/1; alpha > 0 the smoothing.
    An id no training bag holds (PAD_ID among them) gets r = 0: it is no feature, as NBSVM's vocabulary is
    the training set's, and a padded or unseen position adds nothing to r . x̂. Pass the training split
    only: the ratio is fitted like any weight.
    """
    labels = np.asarray(labels)
    if labels.shape != (len(bags),) or not np.isin(labels, (0, 1)).all():
        raise ValueError(
            f"labels must be {len(bags)} values of 0 or 1, one per bag, got shape {labels.shape}"
        )
    if not alpha > 0:
        raise ValueError(f"alpha must be > 0 (it keeps an id seen in one class only finite), got {alpha}")
    if bags.values.size and (bags.values.min() <= PAD_ID or bags.values.max() >= input_dim):
        raise ValueError(f"bag ids must lie in [1, input_dim={input_dim}); pass the table's input_dim")
    positive = np.repeat(labels == 1, bags.lengths)
    in_positive = np.bincount(bags.values[positive], minlength=input_dim)
    in_negative = np.bincount(bags.values[~positive], minlength=input_dim)
    p, q = alpha + in_positive, alpha + in_negative
    ratio = np.log(p / p.sum()) - np.log(q / q.sum())
    ratio[(in_positive + in_negative) == 0] = 0.0
    return ratio


def save_ratio(path: str | os.PathLike, ratio: np.ndarray) -> None:
    """Write a log-count ratio (input_dim,) to an npz (atomic, no pickle): a run folder's `ratio.npz`."""
    archive.save_arrays(path, {RATIO_KEY: np.asarray(ratio, dtype=np.float64)}, kind=RATIO_KIND)


def load_ratio(path: str | os.PathLike) -> np.ndarray:
    """The ratio `save_ratio` wrote, validated: one finite float64 per id (FileFormatError, also a
    ValueError, names the file and the problem)."""
    arrays, _ = archive.load_arrays(path, kind=RATIO_KIND)
    ratio = arrays.get(RATIO_KEY)
    if set(arrays) != {RATIO_KEY} or ratio is None or ratio.dtype != np.float64 or ratio.ndim != 1:
        raise FileFormatError(
            f"{os.fspath(path)!r} is not a log-count ratio (one 1-D float64 array {RATIO_KEY!r}); "
            "train the run again"
        )
    if not np.all(np.isfinite(ratio)):
        raise FileFormatError(f"{os.fspath(path)!r} holds a non-finite ratio; train the run again")
    return ratio


def pad_bags(bags: Ragged, maxlen: int | None = None, dtype: str = "int32") -> np.ndarray:
    """(n, maxlen) ids: each bag followed by PAD_ID. maxlen None: the longest bag's length; a longer bag
    keeps its maxlen smallest ids (the words before the n-grams)."""
    longest = int(bags.lengths.max(initial=1))
    return pad_flat(bags.values, bags.lengths, longest if maxlen is None else maxlen, dtype, "post", "post")


@dataclass(frozen=True, eq=False)
class NBSVMData:
    """The model's inputs: x_train (n_train, T) and x_test (n_test, T) padded bags, ratio (input_dim,),
    and the n-gram table they were made with (None for unigrams)."""

    x_train: np.ndarray
    x_test: np.ndarray
    ratio: np.ndarray
    table: NgramTable | None

    @property
    def input_dim(self) -> int:
        return self.ratio.size


def nbsvm_inputs(
    train_seqs: Ragged,
    train_labels: np.ndarray,
    test_seqs: Ragged,
    ngram_range: int = 2,
    alpha: float = 1.0,
    maxlen: int | None = None,
) -> NBSVMData:
    """Padded binarized bags of both splits and the ratio, everything fitted on the training split: the
    n-gram table holds the training reviews' n-grams only, the ratio counts the training bags only.

    train_seqs, test_seqs: reviews of word ids (`npnet.datasets.imdb.load_ragged`); train_labels (n_train,)
    0/1. maxlen None pads both splits to the longest bag of either."""
    words = int(max(train_seqs.values.max(initial=0), test_seqs.values.max(initial=0))) + 1
    table = NgramTable.build(train_seqs, ngram_range, base=words) if ngram_range > 1 else None
    input_dim = words if table is None else table.input_dim
    train_bags = binary_bags(train_seqs, table, ngram_range)
    test_bags = binary_bags(test_seqs, table, ngram_range)
    ratio = log_count_ratio(train_bags, train_labels, input_dim, alpha)
    if maxlen is None:
        maxlen = int(max(train_bags.lengths.max(initial=1), test_bags.lengths.max(initial=1)))
    return NBSVMData(pad_bags(train_bags, maxlen), pad_bags(test_bags, maxlen), ratio, table)
