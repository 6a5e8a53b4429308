"""A run's settings: `TrainConfig` (every flag of `npnet train`, validated), the presets, and
`preset_config`."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from npnet import models, optimizers, validation
from npnet.datasets import imdb
from npnet.errors import RunError
from npnet.fast.fusions import starts_with_embedding_pool
from npnet.runs import capacity

# imdb.load_data's RandomState takes 0 .. 2**32 - 1 (data_seed); a run's weights seed is held to the same
# range (a Sequential takes up to npnet.validation.MAX_SEED), so that --seed and --data-seed read alike.
MAX_SEED = 2**32 - 1
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
                object.__setattr__(self, name, validation.positive_int(getattr(self, name), name))
        except ValueError as error:
            raise RunError(str(error)) from None
        if not imdb.INDEX_FROM < self.num_words <= MAX_NUM_WORDS:
            raise RunError(
                f"num_words must exceed {imdb.INDEX_FROM} (the reserved ids) and be at most {MAX_NUM_WORDS} "
                f"(an embedding row per word), got {self.num_words}"
            )
        try:
            for name in ("seed", "data_seed"):
                validation.seed(getattr(self, name), name, MAX_SEED)
        except ValueError as error:
            raise RunError(str(error)) from None
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
        if (
            self.ngrams > 1
            and not self.bag_features
            and not starts_with_embedding_pool(models.build(self.architecture, **self.to_dict()).layers)
        ):
            raise RunError(
                f"ngrams={self.ngrams} needs a model that starts Embedding -> GlobalAveragePooling1D "
                f"(fastText averages word and n-gram vectors); architecture {self.architecture!r} does not"
            )
        capacity.check(self)  # the sizes' bounds, the model's shapes and memory, before anything is allocated

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
    def bag_features(self) -> bool:
        """Whether the model takes NBSVM's features (`npnet.preprocessing.nbsvm`): each review's binarized
        bag of word and n-gram ids (orders up to `ngrams`), with the log-count ratio of the training split
        as the embedding's fixed scales, instead of the review's id sequence."""
        return self.architecture == "nbsvm"

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
    # (`--lazy` is ~25x faster a step; benchmarks/HISTORY.md, "fasttext").
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
    # NBSVM (Wang & Manning 2012) as npnet.models.nbsvm, settings chosen on a validation split of train
    # (docs/derivations/nbsvm.md): binarized bags of the full vocabulary's words and bigrams (num_words
    # above the largest word id of either IMDB file: 88,587 in Keras's, 124,254 in one built from the
    # Stanford reviews), each bag's ids ascending, post-padded to the longest IMDB bag (2,599 ids; a longer
    # bag keeps its smallest ids, the words), Adam(1e-2), batch 32, 4 epochs.
    "nbsvm": {
        "architecture": "nbsvm",
        "num_words": 125_000,
        "ngrams": 2,
        "maxlen": 2600,
        "padding": "post",
        "truncating": "post",
        "learning_rate": 1e-2,
        "decay": 0.0,
        "batch_size": 32,
        "epochs": 4,
    },
    # Keras's examples/nlp/text_classification_with_transformer.py as written: load_data(num_words=20000),
    # pad_sequences(maxlen=200) with its defaults (padding and truncating 'pre'), TokenAndPositionEmbedding
    # (200, 20000, 32), TransformerBlock(32, 2 heads, ff 32, dropout 0.1), Dense(20, relu), Dense(2, softmax)
    # trained on class ids (sparse categorical cross-entropy), Adam() defaults, batch 32, 2 epochs, the
    # test set as validation. `--mask-zero` (`--mask`) masks the padding, which the example does not.
    "transformer": {
        "architecture": "transformer",
        "num_words": 20_000,
        "maxlen": 200,
        "padding": "pre",
        "truncating": "pre",
        "embedding_dim": 32,
        "hidden_units": 20,
        "dropout": 0.1,
        "learning_rate": 1e-3,
        "decay": 0.0,
        "epsilon": 1e-7,
        "batch_size": 32,
        "epochs": 2,
    },
}


def preset_config(preset: str, **overrides: Any) -> TrainConfig:
    """The config of `preset` with `overrides` (None values are ignored, so unset CLI flags can be passed)."""
    if preset not in PRESETS:
        raise RunError(f"unknown preset {preset!r}: use one of {', '.join(PRESETS)}")
    values = {**PRESETS[preset], **{k: v for k, v in overrides.items() if v is not None}, "preset": preset}
    return TrainConfig.from_dict(values)
