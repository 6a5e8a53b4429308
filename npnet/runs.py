"""A training run of the IMDB model: its settings (and the two presets), the model and data they define, and
the run folder that holds everything a later `evaluate`, `predict` or `--resume` needs.

The run folder (`runs/<name>/`):
- `config.json`      the `TrainConfig` plus where the data came from; written when the run starts
- `word_index.json`  the words the model knows (rank < num_words - 3), so `predict` needs no data folder
- `ngrams.npz`       with `ngrams` >= 2 only: the n-gram table built from the training reviews
                     (`npnet.ngrams.NgramTable`), so `predict`, `evaluate` and `--resume` give reviews the
                     same n-gram ids; written before config.json, validated when the run is opened
- `checkpoint.npz`   the state after the last complete epoch (see `npnet.checkpoint`), rewritten every epoch
- `weights.npz`      the final weights (`Sequential.save_weights`), written when training ends
- the report files of `npnet.report` (history.csv, plots, metrics.json, report.md)

Nothing here prints: the CLI does.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import npnet
from npnet import checkpoint, checks, metrics, models, optimizers, report
from npnet.atomic import atomic_write
from npnet.callbacks import Callback, LearningRateLogger
from npnet.datasets import imdb
from npnet.datasets.bootstrap import ensure_imdb
from npnet.datasets.files import NPZ_NAME, WORD_INDEX_NAME, resolve_data_dir
from npnet.datasets.ragged import Ragged
from npnet.errors import FileFormatError, RunError
from npnet.fast.fusions import starts_with_embedding_pool
from npnet.ngrams import NgramTable
from npnet.preprocessing import add_ngrams, pad_flat
from npnet.report import CLASS_NAMES

CONFIG_JSON = "config.json"
WORD_INDEX_JSON = "word_index.json"
WEIGHTS_NPZ = "weights.npz"
CHECKPOINT_NPZ = "checkpoint.npz"
NGRAMS_NPZ = "ngrams.npz"
MAX_SEED = 2**32 - 1  # imdb.load_data's RandomState and the weights' generator both take 0 .. 2**32 - 1
# The largest vocabulary: 2**24 embedding rows x 16 float32 are 1 GiB already (Keras's IMDB has ~88k words)
MAX_NUM_WORDS = 2**24
_TYPES = {"int": int, "float": float, "bool": bool, "str": str}  # TrainConfig's field annotations


@dataclass(frozen=True)
class TrainConfig:
    """Every setting of a run. The defaults are the notebook's (`--preset notebook`)."""

    # data: imdb.load_data(num_words, seed=data_seed), then pad_sequences(maxlen, padding, truncating, 0)
    num_words: int = 10_000
    maxlen: int = 256
    padding: str = "post"
    truncating: str = "pre"  # Keras's default, which the notebook kept: long reviews keep their last tokens
    data_seed: int = imdb.SEED
    # model: Embedding(num_words, embedding_dim, mask_zero) -> GlobalAveragePooling1D -> Dense(hidden_units,
    # relu)        -> Dense(1, sigmoid)
    embedding_dim: int = 16
    hidden_units: int = 16
    mask_zero: bool = False
    # the convolution (cnn, cnn-lstm) and dropout (cnn's Dropout layers, lstm's input dropout) of the
    # architectures that take them (npnet.models); the others ignore them
    filters: int = 250
    kernel_size: int = 3
    dropout: float = 0.2
    # optimizer: Adam with Keras 2's decay, lr_k = learning_rate / (1 + decay * iterations)
    learning_rate: float = 1e-5
    decay: float = 1e-5
    beta_1: float = 0.9
    beta_2: float = 0.999
    epsilon: float = 1e-7
    amsgrad: bool = False
    lazy: bool = False  # Adam(lazy=True): only the embedding rows a batch looked up move (npnet.sparse)
    # fastText features: ngrams >= 2 appends the ids of each review's 2..ngrams-grams known from the
    # training reviews (npnet.ngrams) before padding; the Embedding then covers those ids too
    ngrams: int = 1
    # fit
    batch_size: int = 512
    epochs: int = 60
    validation_split: float = 0.0  # 0: validate on the test set (the notebook); f > 0: the last f of train
    seed: int = 0  # initial weights and the per-epoch shuffle
    dtype: str = "float32"
    preset: str = "notebook"
    architecture: str = "notebook"  # a name in npnet.models.ARCHITECTURES; set by the preset

    def __post_init__(self) -> None:
        self._check_types()
        try:
            for name in (
                "num_words",
                "maxlen",
                "embedding_dim",
                "hidden_units",
                "filters",
                "kernel_size",
                "batch_size",
                "epochs",
                "ngrams",
            ):
                # stored as a plain int, so that the config always writes as JSON
                object.__setattr__(self, name, checks.positive_int(getattr(self, name), name))
        except ValueError as error:
            raise RunError(str(error)) from None
        if not imdb.INDEX_FROM < self.num_words <= MAX_NUM_WORDS:
            raise RunError(
                f"num_words must exceed {imdb.INDEX_FROM} (the reserved ids) and be at most {MAX_NUM_WORDS} "
                f"(an embedding row per word), got {self.num_words}"
            )
        for name in ("seed", "data_seed"):
            if not 0 <= getattr(self, name) <= MAX_SEED:
                raise RunError(f"{name} must be an integer from 0 to {MAX_SEED}, got {getattr(self, name)}")
        for name, value in (("padding", self.padding), ("truncating", self.truncating)):
            if value not in ("pre", "post"):
                raise RunError(f"{name} must be 'pre' or 'post', got {value!r}")
        if not 0 <= self.dropout < 1:
            raise RunError(f"dropout must be in [0, 1), got {self.dropout}")
        try:  # Adam's own rule, checked in one place
            self.optimizer()
        except ValueError as error:
            raise RunError(str(error)) from None
        if not 0 <= self.validation_split < 1:
            raise RunError(
                f"validation_split must be in [0, 1) (0: the test set validates), got {self.validation_split}"
            )
        if self.architecture not in models.ARCHITECTURES:
            raise RunError(
                f"architecture must be one of {', '.join(models.ARCHITECTURES)}, got {self.architecture!r}"
            )
        if self.dtype not in ("float32", "float64"):
            raise RunError(f"dtype must be float32 or float64, got {self.dtype!r}")
        # n-gram ids only make sense averaged with the words' vectors (Embedding -> average pooling); the
        # builder's unbuilt layers say what the model starts with, at no cost
        if self.ngrams > 1 and not starts_with_embedding_pool(
            models.build(self.architecture, **self.to_dict()).layers
        ):
            raise RunError(
                f"ngrams={self.ngrams} needs a model that starts Embedding -> GlobalAveragePooling1D "
                f"(fastText averages word and n-gram vectors); architecture {self.architecture!r} does not"
            )

    def _check_types(self) -> None:
        """The schema: each field holds exactly its annotated type (a float field also takes an int; no bool
        passes for a number, no string for a bool: "false" would be truthy), floats finite."""
        for f in dataclasses.fields(self):
            value, kind = getattr(self, f.name), _TYPES.get(str(f.type))
            if kind is None:  # another annotation (a new field's): add it to _TYPES or check it below
                continue
            if kind is float:
                ok = type(value) in (int, float) and math.isfinite(value)
                wanted = "a finite number"
            else:
                ok = type(value) is kind
                wanted = {int: "an integer", bool: "true or false", str: "a string"}[kind]
            if not ok:
                raise RunError(f"{f.name} must be {wanted}, got {value!r}")

    @property
    def val_name(self) -> str:
        """What the validation curves show: "Test" (the notebook validates on the test set) or
        "Validation"."""
        return "Validation" if self.validation_split else "Test"

    def optimizer(self) -> optimizers.Adam:
        """A fresh Adam (Keras 2 decay) with this run's hyperparameters."""
        return optimizers.Adam(
            learning_rate=self.learning_rate,
            beta_1=self.beta_1,
            beta_2=self.beta_2,
            epsilon=self.epsilon,
            decay=self.decay,
            amsgrad=self.amsgrad,
            lazy=self.lazy,
        )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> TrainConfig:
        if not isinstance(values, Mapping):
            raise RunError(f"the settings must be a JSON object, got {type(values).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        if unknown := sorted(set(values) - known):
            raise RunError(f"unknown settings {unknown}; known settings are {sorted(known)}")
        return cls(**values)


# The tuned preset was chosen on a validation split of the training set, never on the test set: the
# best validation accuracy over a grid of learning rate, batch size, maxlen and mask_zero (docs/tuning.md).
PRESETS: dict[str, dict[str, Any]] = {
    "notebook": {},
    "tuned": {"learning_rate": 1e-3, "decay": 0.0, "maxlen": 512, "mask_zero": True, "epochs": 22},
    # Keras's examples/imdb_cnn.py: load_data(num_words=5000), pad_sequences(maxlen=400) with its defaults
    # (padding and truncating 'pre'), Adam() defaults, batch 32, 2 epochs validated on the test set.
    "cnn": {
        "architecture": "imdb_cnn",
        "num_words": 5000,
        "maxlen": 400,
        "padding": "pre",
        "embedding_dim": 50,
        "filters": 250,
        "kernel_size": 3,
        "hidden_units": 250,
        "dropout": 0.2,
        "learning_rate": 1e-3,
        "decay": 0.0,
        "batch_size": 32,
        "epochs": 2,
    },
    # Keras's IMDB examples as written: load_data(num_words=20000), pad_sequences(maxlen) with Keras's
    # default 'pre' padding, Adam() (lr 1e-3, no decay), the test set as validation data.
    "lstm": {
        "architecture": "imdb_lstm",
        "num_words": 20_000,
        "maxlen": 80,
        "padding": "pre",
        "embedding_dim": 128,
        "dropout": 0.2,  # LSTM(128, dropout=0.2, recurrent_dropout=0.2)
        "learning_rate": 1e-3,
        "decay": 0.0,
        "batch_size": 32,
        "epochs": 15,
    },
    "bilstm": {
        "architecture": "imdb_bidirectional_lstm",
        "num_words": 20_000,
        "maxlen": 100,
        "padding": "pre",
        "embedding_dim": 128,
        "learning_rate": 1e-3,
        "decay": 0.0,
        "batch_size": 32,
        "epochs": 4,
    },
    "cnn-lstm": {
        "architecture": "imdb_cnn_lstm",
        "num_words": 20_000,
        "maxlen": 100,
        "padding": "pre",
        "embedding_dim": 128,
        "filters": 64,
        "kernel_size": 5,
        "learning_rate": 1e-3,
        "decay": 0.0,
        "batch_size": 30,
        "epochs": 2,
    },
    # Keras's examples/imdb_fasttext.py: bigrams, pad_sequences' defaults (pre padding and truncating: the
    # appended n-gram ids are what a long review keeps), Adam's defaults, 5 epochs. Dense Adam (Keras's),
    # chosen on a 0.2 validation split of train: val accuracy after 5 epochs 0.9044 dense, 0.8982 lazy
    # (`--lazy` is ~25x faster a step; benchmarks/RESULTS.md, "fasttext").
    "fasttext": {
        "architecture": "fasttext",
        "num_words": 20_000,
        "maxlen": 400,
        "padding": "pre",
        "truncating": "pre",
        "embedding_dim": 50,
        "learning_rate": 1e-3,
        "decay": 0.0,
        "batch_size": 32,
        "epochs": 5,
        "ngrams": 2,
        "lazy": False,
    },
}


def preset_config(preset: str, **overrides: Any) -> TrainConfig:
    """The config of `preset` with `overrides` (None values are ignored, so unset CLI flags can be passed)."""
    if preset not in PRESETS:
        raise RunError(f"unknown preset {preset!r}: use one of {', '.join(PRESETS)}")
    values = {**PRESETS[preset], **{k: v for k, v in overrides.items() if v is not None}, "preset": preset}
    return TrainConfig.from_dict(values)


def build_model(config: TrainConfig, ngrams: NgramTable | None = None) -> npnet.Sequential:
    """The run's model (`npnet.models`, by `config.architecture`), compiled with Adam (Keras 2 decay;
    `config.lazy`), binary cross-entropy and accuracy. With `config.ngrams` >= 2 the run's n-gram table
    `ngrams` is needed: the Embedding then has `ngrams.input_dim` rows (words and n-gram ids)."""
    settings = config.to_dict()
    if config.ngrams > 1:
        settings["num_words"] = _table_for(config, ngrams).input_dim  # the builders' Embedding input_dim
    model = models.build(config.architecture, **settings)
    model.compile(
        optimizer=config.optimizer(),
        loss="binary_crossentropy",
        metrics=["accuracy"],
    )
    return model


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
    config: TrainConfig, data_dir: str | os.PathLike[str] | None, ngrams: NgramTable | None = None
) -> IMDBData:
    """Load and pad the data as the config says, from `data_dir` (see `data_files`).

    With `config.ngrams` >= 2 the reviews get their n-gram ids before padding, from `ngrams` (a run's saved
    table) or else a table built here from the reviews that train: the training set less the
    `validation_split` it holds out (the validation and test reviews never add n-grams)."""
    # load_ragged = load_data kept as flat arrays (no Python int per token), padded by the same rules
    (train_seqs, train_labels), (test_seqs, test_labels) = imdb.load_ragged(
        path=data_files(data_dir)[0], num_words=config.num_words, seed=config.data_seed
    )
    if config.ngrams > 1 and ngrams is None:
        fitted = len(train_seqs) - int(len(train_seqs) * config.validation_split)  # as split_validation
        try:
            ngrams = NgramTable.build(
                train_seqs.take(np.arange(fitted)), config.ngrams, base=config.num_words
            )
        except ValueError as e:
            raise RunError(f"cannot build the {config.ngrams}-gram table: {e}") from None
    return IMDBData(
        train_seqs=train_seqs,
        train_labels=train_labels,
        test_seqs=test_seqs,
        test_labels=test_labels,
        x_train=pad_like_training(train_seqs, config, ngrams),
        x_test=pad_like_training(test_seqs, config, ngrams),
        ngrams=ngrams if config.ngrams > 1 else None,
    )


def _table_for(config: TrainConfig, ngrams: NgramTable | None) -> NgramTable:
    """The n-gram table a config with `ngrams` >= 2 needs, checked to be of its order and vocabulary."""
    if ngrams is None:
        raise RunError(f"ngrams={config.ngrams} needs the run's n-gram table ({NGRAMS_NPZ})")
    if ngrams.ngram_range != config.ngrams or ngrams.base != config.num_words:
        raise RunError(
            f"the n-gram table holds {ngrams.ngram_range}-grams of {ngrams.base} words, but the run has "
            f"ngrams={config.ngrams}, num_words={config.num_words}; train the run again"
        )
    return ngrams


def pad_like_training(seqs: Ragged, config: TrainConfig, ngrams: NgramTable | None = None) -> np.ndarray:
    """Id sequences -> the (n, maxlen) model input as the config says: with `config.ngrams` >= 2 the n-gram
    ids of `ngrams` appended first (`add_ngrams`), then padded and truncated (pad id 0)."""
    if config.ngrams > 1:
        extended = add_ngrams(seqs, _table_for(config, ngrams), config.ngrams)
        assert isinstance(extended, Ragged)  # a Ragged in, a Ragged out
        seqs = extended
    return pad_flat(
        seqs.values,
        seqs.lengths,
        config.maxlen,
        padding=config.padding,
        truncating=config.truncating,
        value=imdb.PAD_CHAR,
    )


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


def classification_metrics(y_true: np.ndarray, probabilities: np.ndarray, loss: float) -> dict[str, Any]:
    """loss, accuracy, confusion matrix and per-class precision/recall/F1 of thresholded probabilities (p >
    0.5)."""
    y_true = np.asarray(y_true).astype(np.int64).ravel()
    y_pred = (np.asarray(probabilities).ravel() > 0.5).astype(np.int64)
    matrix = metrics.confusion_matrix(y_true, y_pred)
    per_class = metrics.precision_recall_f1(matrix)
    return {
        "loss": float(loss),
        "accuracy": float(np.trace(matrix) / matrix.sum()),
        "samples": int(matrix.sum()),
        "confusion_matrix": matrix.tolist(),
        "per_class": {
            name: {
                "precision": float(per_class["precision"][i]),
                "recall": float(per_class["recall"][i]),
                "f1": float(per_class["f1"][i]),
                "support": int(per_class["support"][i]),
            }
            for i, name in enumerate(CLASS_NAMES)
        },
    }


# ---- the run folder
# -------------------------------------------------------------------------------------------


def write_json(path: Path, value: Any) -> None:
    """Write `value` as indented JSON, atomically."""
    text = json.dumps(value, indent=2) + "\n"
    atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def read_json(path: Path, what: str) -> Any:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise RunError(f"{path} is missing: is {path.parent} a run folder made by `npnet train`?") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise RunError(f"cannot read the {what} {path} ({e}); train the run again") from None


def known_words(word_index: Mapping[str, int], config: TrainConfig) -> dict[str, int]:
    """The part of the word index the model can see: ranks whose id (rank + index_from) is below num_words.

    Every other word becomes the OOV id in `imdb.encode`, known or not, so this smaller index encodes any text
    to exactly the same ids as the full one.
    """
    limit = config.num_words - imdb.INDEX_FROM
    return {word: rank for word, rank in word_index.items() if rank < limit}


def check_new_run(run_dir: Path) -> None:
    """RunError unless `run_dir` is free for a new run (and its parent, --runs-dir, is a folder or absent)."""
    for folder, what in ((run_dir.parent, "--runs-dir"), (run_dir, "the run folder")):
        if folder.exists() and not folder.is_dir():
            raise RunError(f"{what} {folder} is a file, not a folder; pick another path")
    if (run_dir / CONFIG_JSON).exists():
        raise RunError(
            f"{run_dir} already holds a run; continue it with `npnet train --resume {run_dir}`, "
            "or pick another --run-name"
        )


def create_run(
    run_dir: Path,
    config: TrainConfig,
    data_dir: str | os.PathLike[str] | None,
    ngrams: NgramTable | None = None,
) -> None:
    """Start a run folder: config.json, the word index the model will understand, and with
    `config.ngrams` >= 2 the n-gram table (`IMDBData.ngrams`). Refuses a used folder."""
    check_new_run(run_dir)
    if config.ngrams > 1:
        _table_for(config, ngrams)
    word_index = imdb.get_word_index(data_files(data_dir)[1])  # fails before mkdir
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        write_json(run_dir / WORD_INDEX_JSON, known_words(word_index, config))
        if ngrams is not None and config.ngrams > 1:  # before config.json, which marks a run as started
            ngrams.save(run_dir / NGRAMS_NPZ)
        _write_config(run_dir, config, data_dir)
    except OSError as e:
        remove_unstarted_run(run_dir)
        raise RunError(
            f"cannot create the run folder {run_dir} ({e.strerror or e}); choose a writable --runs-dir"
        ) from e


def remove_unstarted_run(run_dir: Path) -> None:
    """Delete what `create_run` made in a run that never finished an epoch (no checkpoint), so its name is
    free again; a folder holding anything else is left alone."""
    if (run_dir / CHECKPOINT_NPZ).exists():
        return
    for name in (CONFIG_JSON, WORD_INDEX_JSON, NGRAMS_NPZ):
        (run_dir / name).unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        run_dir.rmdir()  # only when empty


def _write_config(run_dir: Path, config: TrainConfig, data_dir: str | os.PathLike[str] | None) -> None:
    write_json(
        run_dir / CONFIG_JSON,
        {
            "config": config.to_dict(),
            "data_dir": str(resolve_data_dir(data_dir).resolve()),
            "word_index": WORD_INDEX_JSON,
            # the id layout of imdb.load_data / imdb.encode that this model was trained on
            "ids": {
                "pad": imdb.PAD_CHAR,
                "start_char": imdb.START_CHAR,
                "oov_char": imdb.OOV_CHAR,
                "index_from": imdb.INDEX_FROM,
            },
            "npnet_version": npnet.__version__,
        },
    )


@dataclass(frozen=True)
class Run:
    """A run folder read back: its config, where its data came from, and its word index."""

    path: Path
    config: TrainConfig
    data_dir: str | None
    word_index: dict[str, int]
    ngrams: NgramTable | None = None  # with config.ngrams >= 2: the table of ngrams.npz

    @property
    def name(self) -> str:
        return self.path.name

    def model(self, weights: str = WEIGHTS_NPZ) -> npnet.Sequential:
        """The run's model with the saved final weights."""
        model = build_model(self.config, self.ngrams)
        path = self.path / weights
        if not path.exists():
            hint = (
                f"training did not finish; continue it with `npnet train --resume {self.path}`"
                if (self.path / CHECKPOINT_NPZ).exists()
                else "train it first with `npnet train`"
            )
            raise RunError(f"{self.path} has no {weights}: {hint}")
        model.load_weights(path)
        return model

    def encode(self, text: str) -> list[int]:
        """A review's text -> its ids (start marker first), tokenized exactly as the training data was."""
        return imdb.encode(text, self.word_index, num_words=self.config.num_words)

    def inputs(self, seqs: Sequence[Sequence[int]]) -> np.ndarray:
        """Id lists -> the padded matrix the model takes: the run's n-gram ids added (if any), padded and
        truncated as in training."""
        return pad_like_training(Ragged.from_lists(seqs), self.config, self.ngrams)


def open_run(run_dir: str | os.PathLike[str]) -> Run:
    """Read a run folder made by `create_run`."""
    path = Path(run_dir)
    if not path.is_dir():
        raise RunError(f"no run folder at {path}: pass --run runs/<name> of a run made by `npnet train`")
    saved = read_json(path / CONFIG_JSON, "run config")
    if not (isinstance(saved, dict) and "config" in saved and "ids" in saved):
        raise RunError(f"{path / CONFIG_JSON} is not a run config (no settings or ids); train the run again")
    try:
        config = TrainConfig.from_dict(saved["config"])
    except RunError as e:
        raise RunError(f"{path / CONFIG_JSON} holds invalid settings: {e}; train the run again") from None
    ids = saved["ids"]
    data_dir, index_name = saved.get("data_dir"), saved.get("word_index", WORD_INDEX_JSON)
    if not (data_dir is None or isinstance(data_dir, str)):
        raise RunError(
            f"{path / CONFIG_JSON}: data_dir must be a path, got {data_dir!r}; train the run again"
        )
    if not (isinstance(index_name, str) and index_name and Path(index_name).name == index_name):
        # a file of the run folder only: a config must not point the reader anywhere else
        raise RunError(
            f"{path / CONFIG_JSON}: word_index must be a file name in the run folder, got {index_name!r}"
        )
    expected = {
        "pad": imdb.PAD_CHAR,
        "start_char": imdb.START_CHAR,
        "oov_char": imdb.OOV_CHAR,
        "index_from": imdb.INDEX_FROM,
    }
    if ids != expected:
        raise RunError(f"{path} was trained with ids {ids}, this npnet encodes with {expected}; retrain it")
    word_index = imdb.check_word_index(
        read_json(path / index_name, "word index"), path / index_name, "train the run again"
    )
    ngrams = None
    if config.ngrams > 1:
        try:
            ngrams = _table_for(config, NgramTable.load(path / NGRAMS_NPZ))
        except (FileFormatError, RunError) as e:
            raise RunError(f"{path} needs its n-gram table {NGRAMS_NPZ}: {e}") from None
    return Run(path=path, config=config, data_dir=data_dir, word_index=word_index, ngrams=ngrams)


def update_epochs(run: Run, epochs: int) -> Run:
    """Extend (or shorten, down to the epochs done) a run's epoch count in its config.json."""
    path = run.path / CONFIG_JSON
    saved = read_json(path, "run config")
    config = dataclasses.replace(run.config, epochs=epochs)
    saved["config"] = config.to_dict()
    write_json(path, saved)
    return dataclasses.replace(run, config=config)


def fit_run(
    run: Run,
    model: npnet.Sequential,
    data: IMDBData,
    *,
    resume: checkpoint.Checkpoint | None = None,
    callbacks: Sequence[Callback] = (),
    verbose: int = 1,
) -> dict[str, list[float]]:
    """Train `model` (made by `build_model(run.config, run.ngrams)`), checkpointing into the run folder
    after every epoch and saving the final weights; returns the history of the whole run (loss, accuracy,
    val_loss, val_accuracy, lr, seconds per epoch).

    `resume`: the run's last checkpoint, to continue after its last complete epoch (bitwise as if never
    stopped). A KeyboardInterrupt propagates; the checkpoint of the last complete epoch is then on disk.
    """
    config = run.config
    (x_train, y_train), validation = fit_arrays(config, data)
    saver = checkpoint.EpochCheckpoint(
        run.path / CHECKPOINT_NPZ, config.to_dict(), history=resume.history if resume else None
    )
    if resume is not None:
        checkpoint.restore(model, resume)
    try:
        model.fit(
            x_train,
            y_train,
            epochs=config.epochs,
            batch_size=config.batch_size,
            validation_data=validation,
            shuffle=True,
            verbose=verbose,
            callbacks=[*callbacks, LearningRateLogger(), saver],
            initial_epoch=resume.epochs_done if resume else 0,  # all done: no epoch, the outputs only
        )
    except FloatingPointError as e:
        raise RunError(
            f"training diverged ({e}); start a new run with a smaller --lr (a checkpoint of the last "
            "complete epoch, if any, is kept)"
        ) from None
    # A run fits once: its bags of words are not needed again, and kept they would sit beside the test
    # set's (the command's predict), ~54 MB more peak RSS on IMDB (benchmarks.rss).
    model.bag_cache.clear()
    model.save_weights(run.path / WEIGHTS_NPZ)
    return saver.history


def missing_outputs(run_dir: Path) -> list[str]:
    """The files of a finished run that `run_dir` lacks (weights, then the report's, report.md last)."""
    return [name for name in (WEIGHTS_NPZ, *report.RUN_REPORT_FILES) if not (run_dir / name).exists()]
