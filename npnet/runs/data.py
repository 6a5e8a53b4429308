"""A run's data: the IMDB arrays its config asks for (`load_imdb`), padded (and n-grammed) as training saw
them,
the validation split, and the words a run's model knows."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from npnet.datasets import imdb
from npnet.datasets.bootstrap import ensure_imdb
from npnet.datasets.files import NPZ_NAME, WORD_INDEX_NAME
from npnet.datasets.ragged import Ragged
from npnet.errors import RunError
from npnet.preprocessing import add_ngrams, pad_flat
from npnet.preprocessing.nbsvm import binary_bags, log_count_ratio
from npnet.preprocessing.ngrams import NgramTable
from npnet.runs.config import (
    TrainConfig,
)


@dataclass(frozen=True)
class IMDBData:
    """The reviews as `load_data` gives them (`*_seqs`, kept flat: `Ragged`; `.to_lists()` gives load_data's
    lists) and padded to the model's input (`x_*`)."""

    train_seqs: Ragged
    train_labels: np.ndarray
    test_seqs: Ragged
    test_labels: np.ndarray
    x_train: np.ndarray
    x_test: np.ndarray
    ngrams: NgramTable | None = None  # with config.ngrams >= 2: the table x_* were built with
    ratio: np.ndarray | None = None  # with config.bag_features: the log-count ratio (input_dim,) float64

    def without_reviews(self) -> IMDBData:
        """This data with `train_seqs` and `test_seqs` emptied: the padded arrays are all that training and
        evaluation use, and dropping the unpadded copy frees ~45 MB for the rest of `npnet train` (whose peak
        RSS, at the report after training, the benchmark harness measures: benchmarks.rss)."""
        return dataclasses.replace(
            self, train_seqs=self.train_seqs.take(_NONE), test_seqs=self.test_seqs.take(_NONE)
        )


_NONE = np.arange(0)  # Ragged.take(_NONE): no sequences, the same dtypes


def data_files(data_dir: str | os.PathLike[str] | None) -> tuple[Path, Path]:
    """(imdb.npz, imdb_word_index.json) in `data_dir` (None: `$NPNET_DATA_DIR`, else the per-user cache),
    built or downloaded there first when missing (`npnet.datasets.bootstrap.ensure_imdb`)."""
    directory = ensure_imdb(data_dir)
    return directory / NPZ_NAME, directory / WORD_INDEX_NAME


def load_imdb(
    config: TrainConfig,
    data_dir: str | os.PathLike[str] | None,
    ngrams: NgramTable | None = None,
    ratio: np.ndarray | None = None,
) -> IMDBData:
    """Load and pad the data as the config says, from `data_dir` (see `data_files`).

    With `config.ngrams` >= 2 the reviews get their n-gram ids before padding, from `ngrams` (a run's saved
    table) or else a table built here from the reviews that train: the training set less the
    `validation_split` it holds out (the validation and test reviews never add n-grams). With
    `config.bag_features` each review becomes its binarized bag, and the log-count ratio is `ratio` (a run's
    saved one) or else counted here over the bags of the same reviews that train."""
    # load_ragged = load_data kept as flat arrays (no Python int per token), padded by the same rules
    (train_seqs, train_labels), (test_seqs, test_labels) = imdb.load_ragged(
        path=data_files(data_dir)[0], num_words=config.num_words, seed=config.data_seed
    )
    # the reviews that train, as split_validation cuts them
    fitted = np.arange(len(train_seqs) - int(len(train_seqs) * config.validation_split))
    if config.ngrams > 1 and ngrams is None:
        try:
            ngrams = NgramTable.build(train_seqs.take(fitted), config.ngrams, base=config.num_words)
        except ValueError as e:
            raise RunError(f"cannot build the {config.ngrams}-gram table: {e}") from None
    train_inputs = model_sequences(train_seqs, config, ngrams)
    if config.bag_features and ratio is None:
        ratio = log_count_ratio(train_inputs.take(fitted), train_labels[fitted], input_dim(config, ngrams))
    return IMDBData(
        train_seqs=train_seqs,
        train_labels=train_labels,
        test_seqs=test_seqs,
        test_labels=test_labels,
        x_train=pad_inputs(train_inputs, config),
        x_test=pad_like_training(test_seqs, config, ngrams),
        ngrams=ngrams if config.ngrams > 1 else None,
        ratio=ratio_for(config, ngrams, ratio) if config.bag_features else None,
    )


def input_dim(config: TrainConfig, ngrams: NgramTable | None) -> int:
    """The ids the model's inputs hold: num_words, or with n-grams the table's `input_dim`."""
    return ngram_table_for(config, ngrams).input_dim if config.ngrams > 1 else config.num_words


def ratio_for(config: TrainConfig, ngrams: NgramTable | None, ratio: np.ndarray | None) -> np.ndarray:
    """The log-count ratio a config with `bag_features` needs, checked to cover its ids."""
    if ratio is None:
        raise RunError("the nbsvm model needs the run's log-count ratio (ratio.npz)")
    if ratio.shape != (input_dim(config, ngrams),):
        raise RunError(
            f"the log-count ratio covers {ratio.size} ids, but the run's features have "
            f"{input_dim(config, ngrams)}; train the run again"
        )
    return ratio


def ngram_table_for(config: TrainConfig, ngrams: NgramTable | None) -> NgramTable:
    """The n-gram table a config with `ngrams` >= 2 needs, checked to be of its order and vocabulary."""
    if ngrams is None:
        raise RunError(f"ngrams={config.ngrams} needs the run's n-gram table (ngrams.npz)")
    if ngrams.ngram_range != config.ngrams or ngrams.base != config.num_words:
        raise RunError(
            f"the n-gram table holds {ngrams.ngram_range}-grams of {ngrams.base} words, but the run has "
            f"ngrams={config.ngrams}, num_words={config.num_words}; train the run again"
        )
    return ngrams


def model_sequences(seqs: Ragged, config: TrainConfig, ngrams: NgramTable | None = None) -> Ragged:
    """Id sequences -> what the model reads, before padding: with `config.bag_features` each review's
    binarized bag (its distinct word and known n-gram ids, ascending: `binary_bags`); else with
    `config.ngrams` >= 2 the review followed by its n-gram ids from `ngrams` (`add_ngrams`); else the
    review."""
    if config.bag_features:
        table = ngram_table_for(config, ngrams) if config.ngrams > 1 else None
        return binary_bags(seqs, table, config.ngrams)
    if config.ngrams > 1:
        extended = add_ngrams(seqs, ngram_table_for(config, ngrams), config.ngrams)
        assert isinstance(extended, Ragged)  # a Ragged in, a Ragged out
        return extended
    return seqs


def pad_inputs(seqs: Ragged, config: TrainConfig) -> np.ndarray:
    """`model_sequences` -> the (n, maxlen) model input, padded and truncated as the config says (pad 0)."""
    return pad_flat(
        seqs.values,
        seqs.lengths,
        config.maxlen,
        padding=config.padding,
        truncating=config.truncating,
        value=imdb.PAD_CHAR,
    )


def pad_like_training(seqs: Ragged, config: TrainConfig, ngrams: NgramTable | None = None) -> np.ndarray:
    """Id sequences -> the (n, maxlen) model input as the config says: `model_sequences` (bags, or the
    n-gram ids of `ngrams` appended), then padded and truncated (pad id 0)."""
    return pad_inputs(model_sequences(seqs, config, ngrams), config)


def split_validation(
    x: np.ndarray, y: np.ndarray, fraction: float
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Keras's `validation_split`: the last `fraction` of the samples (already shuffled by load_data) is held
    out."""
    n_val = int(len(x) * fraction)
    if not 0 < n_val < len(x):
        raise RunError(
            f"validation_split={fraction} leaves no samples on one side of {len(x)}; pick 0.1 to 0.5"
        )
    cut = len(x) - n_val
    return (x[:cut], y[:cut]), (x[cut:], y[cut:])


def fit_arrays(
    config: TrainConfig, data: IMDBData
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """(training arrays, validation arrays): the test set validates, as in the notebook, unless the config
    holds out a `validation_split` of the training set."""
    if config.validation_split:
        return split_validation(data.x_train, data.train_labels, config.validation_split)
    return (data.x_train, data.train_labels), (data.x_test, data.test_labels)


def known_words(word_index: Mapping[str, int], config: TrainConfig) -> dict[str, int]:
    """The part of the word index the model can see: ranks whose id (rank + index_from) is below num_words.

    Every other word becomes the OOV id in `imdb.encode`, known or not, so this smaller index encodes any text
    to exactly the same ids as the full one.
    """
    limit = config.num_words - imdb.INDEX_FROM
    return {word: rank for word, rank in word_index.items() if rank < limit}
