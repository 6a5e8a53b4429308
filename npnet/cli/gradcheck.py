"""`npnet gradcheck`: verify every hand-written gradient of the seed model on realistic IMDB-like batches.

Checks, each in float64 copies (the model itself is built in --dtype and left untouched):
each layer of the seed model on the input it really receives (the embedding with ~10,000 rows, padding,
repeated ids), ReLU and Sigmoid on the model's own pre-activations, the loss on both paths (probabilities with
Keras's clipping, and logits), and the whole model, with and without `mask_zero`. Then the convolution
layers (Conv1D in every padding, strided and dilated, the pooling layers, Flatten, Activation, Dropout) on
embedded reviews and Keras's imdb_cnn model at small sizes (dropout 0: the check's repeated forwards must
see one function). Then the recurrent layers on short padded sequences (pre- and post-padding under
Embedding's mask): SimpleRNN, LSTM and GRU with return_sequences off and on and go_backwards,
Bidirectional(LSTM) in each merge mode, and the whole lstm and bilstm models (small sizes, dropouts 0).
Then attention on the same short batch: MultiHeadAttention under the padding mask (fully masked rows
included; key_dim != D / heads, value_dim != key_dim, causal), Softmax, LayerNormalization, the categorical
losses, the Transformer example's block and embedding, and its whole model with and without mask_zero.
Then Masking, SpatialDropout1D and BatchNormalization (training, masked, inference) on short
sequences of features. Then a functional graph (two inputs, shared layers, a fork, the merges) and the
fastText model on the same
reviews with their bigram ids appended (`npnet.preprocessing.ngrams`: a table of ~10,000 + n-gram rows, the
n-gram ids past num_words). Then NBSVM: ScaledEmbedding alone and the nbsvm
model on the reviews' binarized bags of words and bigrams, scaled by their log-count ratio. Prints one
table per check; exits 1 if any check fails.

    npnet gradcheck                       # every check
    npnet gradcheck --list                # what --layer and --model can name
    npnet gradcheck --layer lstm          # only the LSTM's checks (any case; repeatable)
    npnet gradcheck --model imdb_cnn      # only the imdb_cnn model's
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

import npnet
from npnet import gradcheck, layers, losses, models, runs
from npnet.cli.argtypes import int_in
from npnet.datasets import imdb, synthetic
from npnet.datasets.ragged import Ragged
from npnet.layers.base import Layer
from npnet.preprocessing import add_ngrams, pad_flat
from npnet.preprocessing.nbsvm import binary_bags, log_count_ratio, pad_bags
from npnet.preprocessing.ngrams import NgramTable
from npnet.runs import capacity
from npnet.runs.config import MAX_NUM_WORDS, MAX_SEED

MAX_BATCH = 4096  # central differences run the batch twice per checked element: more only takes longer
MIN_SEQ_LEN = 3  # the widest window of conv_reports' valid Conv1D: a shorter review gives it no step


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "gradcheck",
        help="check every layer's, the loss's and the seed model's gradients against finite differences",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    select = parser.add_argument_group("what to check (default: everything; --layer and --model add up)")
    select.add_argument(
        "--layer",
        action="append",
        type=_name_of("layer", LAYER_NAMES),
        metavar="NAME",
        help="only the checks of this layer (or loss) class, as the report names it, e.g. Dense, LSTM, "
        "Conv1D, BinaryCrossentropy; any case; repeatable",
    )
    select.add_argument(
        "--model",
        action="append",
        type=_name_of("model", MODEL_NAMES),
        metavar="NAME",
        help=f"only the checks of this model: {', '.join(MODEL_NAMES)}; repeatable",
    )
    select.add_argument(
        "--list", action="store_true", help="list what --layer and --model can name, and exit"
    )
    parser.add_argument(
        "--seed",
        type=int_in(0, MAX_SEED),
        default=0,
        help="seed for the batch, the weights and the checks (0 to 2**32 - 1)",
    )
    parser.add_argument(
        "--dtype",
        choices=("float32", "float64"),
        default=None,
        help="dtype to build the model in (default: npnet.config.floatx()); checks run on float64 copies",
    )
    parser.add_argument(
        "--batch-size",
        type=int_in(1, MAX_BATCH),
        default=32,
        help=f"reviews per batch (default 32, at most {MAX_BATCH})",
    )
    parser.add_argument(
        "--seq-len",
        type=int_in(MIN_SEQ_LEN, capacity.SIZE_LIMITS["maxlen"]),
        default=256,
        help=f"padded review length (default 256, at least {MIN_SEQ_LEN}: the Conv1D checks' window)",
    )
    parser.add_argument(
        "--vocab",
        type=int_in(8, MAX_NUM_WORDS),
        default=10_000,
        help="embedding rows, num_words (default 10000, at least 8)",
    )
    parser.set_defaults(run=run)


def imdb_like_batch(
    rng: np.random.Generator, batch_size: int, seq_len: int, vocab: int
) -> tuple[np.ndarray, np.ndarray]:
    """Token ids (batch_size, seq_len) of padded IMDB-like reviews (`npnet.datasets.synthetic`), lengths
    around `seq_len` so that some are padded and some truncated, and 0/1 labels."""
    x = synthetic.imdb_like_ids(batch_size, seq_len, vocab, rng, median_length=seq_len)
    return x, rng.integers(0, 2, size=batch_size)


def seed_model(vocab: int, seed: int, dtype: str | None, mask_zero: bool = False) -> npnet.Sequential:
    """The notebook's model, built and compiled exactly as `npnet train` builds it."""
    config = runs.TrainConfig(
        num_words=vocab, seed=seed, dtype=dtype or npnet.config.floatx(), mask_zero=mask_zero
    )
    return runs.build_model(config)


@dataclass(frozen=True)
class Check:
    """One check of `npnet gradcheck`: `kind` "layer" (a layer or loss class, as the report names it) or
    "model", the `name` that --layer or --model selects it by, and `run`, which makes it from the inputs."""

    kind: str
    name: str
    run: Callable[[Inputs], gradcheck.Report]


@dataclass
class Inputs:
    """What the checks share, each made on first use: a selection builds only what its checks need, and the
    full run draws exactly the same batches and weights whatever the order."""

    seed: int
    dtype: str | None
    batch_size: int
    seq_len: int
    vocab: int

    @cached_property
    def batch(self) -> tuple[np.ndarray, np.ndarray]:
        """IMDB-like ids (batch_size, seq_len) and 0/1 labels (batch_size,)."""
        return imdb_like_batch(np.random.default_rng(self.seed), self.batch_size, self.seq_len, self.vocab)

    @cached_property
    def model(self) -> npnet.Sequential:
        """The seed model, built: its layers are checked with the weights the model check sees."""
        model = seed_model(self.vocab, self.seed, self.dtype)
        model.build()
        return model

    @cached_property
    def signals(self) -> dict[str, np.ndarray]:
        """What each layer of the seed model receives on the batch, in float64, and the two pre-activations
        (for ReLU and Sigmoid alone)."""
        _, _, hidden, output = self.model.layers
        outputs = (np.asarray(out, np.float64) for out in self.model.layer_outputs(self.batch[0]))
        signals = dict(zip(("embedded", "pooled", "activated", "probabilities"), outputs, strict=True))
        signals["z1"] = signals["pooled"] @ hidden.params["kernel"] + hidden.params["bias"]
        signals["z2"] = signals["activated"] @ output.params["kernel"] + output.params["bias"]
        return signals

    @cached_property
    def cnn(self) -> npnet.Sequential:
        """Keras's imdb_cnn model with small sizes: Embedding(vocab, 8) -> Conv1D(16, 3, relu) ->
        GlobalMaxPooling1D -> Dense(16) -> relu -> Dense(1) -> sigmoid (dropout 0: the check's repeated
        forwards must see one function)."""
        return runs.build_model(
            runs.preset_config(
                "cnn", num_words=self.vocab, embedding_dim=8, filters=16, hidden_units=16, dropout=0.0,
                seed=self.seed, dtype=self.dtype or npnet.config.floatx(),
            )
        )  # fmt: skip

    @cached_property
    def features(self) -> np.ndarray:
        """The reviews' embeddings in the small imdb_cnn (8 wide), first 64 steps: every window rule shows
        there and the convolution checks stay quick."""
        embedded = np.asarray(self.cnn.layer_outputs(self.batch[0])[0], np.float64)
        return embedded[:, : min(64, self.seq_len)]

    @cached_property
    def sequences(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """A short batch for the recurrent checks: ids (6, 7) of 30 words, pre- and post-padded, labels (6,),
        the mask as Embedding(mask_zero=True) makes it (6, 7), and inputs (6, 7, 3)."""
        rng = np.random.default_rng(self.seed)
        ids = rng.integers(imdb.INDEX_FROM, 30, size=(6, 7))
        ids[0, :3] = imdb.PAD_CHAR  # padding='pre'
        ids[1, 5:] = imdb.PAD_CHAR  # padding='post'
        y = rng.integers(0, 2, size=len(ids))
        return ids, y, ids != imdb.PAD_CHAR, rng.normal(size=(*ids.shape, 3))

    @cached_property
    def attention(self) -> dict[str, Any]:
        """The attention checks' short batch: ids (6, 7) of 30 words, pre- and post-padded and one review of
        padding only (fully masked attention rows), labels (6,), the mask (6, 7), inputs (6, 7, 4),
        probabilities over 3 classes (6, 3), and the generator the transformer checks draw their tables from
        next (they run in order: the report's)."""
        rng = np.random.default_rng(self.seed)
        ids = rng.integers(imdb.INDEX_FROM, 30, size=(6, 7))
        ids[0, :3] = imdb.PAD_CHAR  # padding='pre'
        ids[1, 5:] = imdb.PAD_CHAR  # padding='post'
        ids[2] = imdb.PAD_CHAR  # a review of padding only: fully masked attention rows
        y = rng.integers(0, 2, size=len(ids))
        x = rng.normal(size=(*ids.shape, 4))
        probabilities = rng.dirichlet(np.ones(3), size=len(ids))
        return {"ids": ids, "y": y, "mask": ids != imdb.PAD_CHAR, "x": x, "p": probabilities, "rng": rng}

    @cached_property
    def nbsvm(self) -> tuple[npnet.Sequential, np.ndarray]:
        """The nbsvm model (`npnet.models.nbsvm`) on the batch's binarized bags of words and bigrams, scaled
        by these reviews' log-count ratio, its table moved off its zero start (from zero the table's gradient
        is the ratio alone); and the padded bags."""
        x, y = self.batch
        words = x != imdb.PAD_CHAR
        reviews = Ragged(x[words], words.sum(axis=1))
        table = NgramTable.build(reviews, 2)
        bags = binary_bags(reviews, table, 2)
        ratio = log_count_ratio(bags, y, table.input_dim)
        model = models.nbsvm(table.input_dim, ratio, seed=self.seed, dtype=self.dtype)
        model.compile(optimizer="adam", loss="binary_crossentropy")
        embedding = model.layers[0]
        embedding.params["embeddings"][:] = np.random.default_rng(self.seed).normal(size=(table.input_dim, 1))
        return model, pad_bags(bags)


def _seed_checks() -> list[Check]:
    """Each layer of the seed model on the input it really receives (the embedding with ~10,000 rows,
    padding, repeated ids), ReLU and Sigmoid on its own pre-activations, the loss on both paths, and the whole
    model with and without mask_zero."""

    def layer(index: int, signal: str | None) -> Callable[[Inputs], gradcheck.Report]:
        def run(i: Inputs) -> gradcheck.Report:
            x = i.batch[0] if signal is None else i.signals[signal]
            return gradcheck.check_layer(i.model.layers[index], x, seed=i.seed)

        return run

    def alone(make: Callable[[], layers.Layer], signal: str) -> Callable[[Inputs], gradcheck.Report]:
        return lambda i: gradcheck.check_layer(make(), i.signals[signal], seed=i.seed)

    def loss(from_logits: bool, signal: str) -> Callable[[Inputs], gradcheck.Report]:
        def run(i: Inputs) -> gradcheck.Report:
            y_col = i.batch[1].reshape(-1, 1).astype(np.float64)
            bce = losses.BinaryCrossentropy(from_logits=from_logits)
            return gradcheck.check_loss(bce, y_col, i.signals[signal], seed=i.seed)

        return run

    def masked_pooling(i: Inputs) -> gradcheck.Report:
        mask = i.batch[0] != imdb.PAD_CHAR
        report = gradcheck.check_layer(i.model.layers[1], i.signals["embedded"], mask=mask, seed=i.seed)
        return _titled(report, "with the padding mask")

    def masked_model(i: Inputs) -> gradcheck.Report:
        model = seed_model(i.vocab, i.seed, i.dtype, mask_zero=True)
        return _titled(gradcheck.check_model(model, *i.batch, seed=i.seed), "with Embedding(mask_zero=True)")

    bce = losses.BinaryCrossentropy.__name__
    return [
        Check("layer", layers.Embedding.__name__, layer(0, None)),
        Check("layer", layers.GlobalAveragePooling1D.__name__, layer(1, "embedded")),
        Check("layer", layers.GlobalAveragePooling1D.__name__, masked_pooling),
        Check("layer", layers.Dense.__name__, layer(2, "pooled")),
        Check("layer", layers.Dense.__name__, layer(3, "activated")),
        Check("layer", layers.ReLU.__name__, alone(layers.ReLU, "z1")),
        Check("layer", layers.Sigmoid.__name__, alone(layers.Sigmoid, "z2")),
        Check("layer", bce, loss(False, "probabilities")),
        Check("layer", bce, loss(True, "z2")),
        Check("model", "notebook", lambda i: gradcheck.check_model(i.model, *i.batch, seed=i.seed)),
        Check("model", "notebook", masked_model),
    ]


def _conv_checks() -> list[Check]:
    """The convolution and pooling layers (Conv1D's paddings, strides and dilation, the four poolings,
    Flatten, Dropout) on the reviews' embeddings, and the small imdb_cnn model."""
    makers: list[tuple[type[layers.Layer], Callable[[], layers.Layer]]] = [
        (layers.Conv1D, lambda: layers.Conv1D(6, 3, activation="relu", name="conv1d_valid_relu")),
        (layers.Conv1D, lambda: layers.Conv1D(6, 4, strides=3, padding="same", name="conv1d_same_strided")),
        (
            layers.Conv1D,
            lambda: layers.Conv1D(
                6, 3, dilation_rate=2, padding="causal", activation="tanh", name="conv1d_causal_dilated"
            ),
        ),
        (layers.MaxPooling1D, lambda: layers.MaxPooling1D(3, 2, padding="same")),
        (layers.AveragePooling1D, lambda: layers.AveragePooling1D(3, 2, padding="same")),
        (layers.GlobalMaxPooling1D, layers.GlobalMaxPooling1D),
        (layers.Flatten, layers.Flatten),
        (layers.Dropout, lambda: layers.Dropout(0.2)),
    ]

    def layer(make: Callable[[], layers.Layer]) -> Callable[[Inputs], gradcheck.Report]:
        return lambda i: gradcheck.check_layer(make(), i.features, seed=i.seed)

    def cnn(i: Inputs) -> gradcheck.Report:
        return _titled(
            gradcheck.check_model(i.cnn, *i.batch, seed=i.seed), "imdb_cnn (small sizes, dropout 0)"
        )

    return [
        *(Check("layer", cls.__name__, layer(make)) for cls, make in makers),
        Check("model", "imdb_cnn", cnn),
    ]


def _recurrent_checks() -> list[Check]:
    """SimpleRNN, LSTM and GRU under Embedding's mask with return_sequences off and on and go_backwards,
    Bidirectional(LSTM) in each merge mode, and the small lstm and bilstm models (dropouts 0)."""
    done = []
    option_sets: list[dict[str, Any]] = [
        {},
        {"return_sequences": True},
        {"return_sequences": True, "go_backwards": True},
    ]
    for cls in (layers.SimpleRNN, layers.LSTM, layers.GRU):
        for options in option_sets:

            def recurrent(
                i: Inputs, cls: Callable[..., layers.Layer] = cls, options: dict[str, Any] = options
            ) -> gradcheck.Report:
                _, _, mask, x = i.sequences
                report = gradcheck.check_layer(cls(4, **options), x, mask=mask, seed=i.seed)
                return _titled(report, "with a mask" + "".join(f", {key}" for key in options))

            done.append(Check("layer", cls.__name__, recurrent))
    for merge_mode in ("concat", "sum", "mul", "ave"):

        def bidirectional(i: Inputs, merge_mode: str = merge_mode) -> gradcheck.Report:
            _, _, mask, x = i.sequences
            layer = layers.Bidirectional(layers.LSTM(3, return_sequences=True), merge_mode=merge_mode)
            return _titled(
                gradcheck.check_layer(layer, x, mask=mask, seed=i.seed), f"merge_mode={merge_mode}"
            )

        done.append(Check("layer", layers.Bidirectional.__name__, bidirectional))

    def lstm(i: Inputs) -> npnet.Sequential:
        return models.imdb_lstm(
            30, 5, 4, dropout=0, recurrent_dropout=0, mask_zero=True, seed=i.seed, dtype=i.dtype
        )

    def bilstm(i: Inputs) -> npnet.Sequential:
        return models.imdb_bidirectional_lstm(
            30, 5, 3, dropout_rate=0, mask_zero=True, seed=i.seed, dtype=i.dtype
        )

    for name, short, build in (("imdb_lstm", "lstm", lstm), ("imdb_bidirectional_lstm", "bilstm", bilstm)):

        def whole(
            i: Inputs, build: Callable[[Inputs], npnet.Sequential] = build, short: str = short
        ) -> gradcheck.Report:
            ids, y, _, _ = i.sequences
            model = build(i)
            model.compile(optimizer="adam", loss="binary_crossentropy")
            return _titled(gradcheck.check_model(model, ids, y, seed=i.seed), f"({short}, small, masked)")

        done.append(Check("model", name, whole))
    return done


def graph_report(i: Inputs) -> gradcheck.Report:
    """A functional graph with every way gradients meet: two id inputs through one masked Embedding (a
    shared layer), its first output feeding three layers (a fork), a Dense called twice, and the four merges
    (Multiply and Concatenate under masks)."""
    rng = np.random.default_rng(i.seed)
    ids = rng.integers(imdb.INDEX_FROM, 30, size=(2, 6, 7))
    ids[:, 0, 4:] = imdb.PAD_CHAR
    ids[1, 1, 2:] = imdb.PAD_CHAR
    left, right = npnet.Input((7,), dtype="int32"), npnet.Input((7,), dtype="int32")
    embedding, twice = layers.Embedding(30, 4, mask_zero=True), layers.Dense(4, activation="tanh")
    e1, e2 = embedding(left), embedding(right)
    h = twice(twice(e1))
    merged = [
        layers.Add()([h, e1]),
        layers.Multiply()([layers.Dense(4, activation="sigmoid")(e1), e2]),
        layers.Average()([e1, e2]),
    ]
    pooled = layers.GlobalAveragePooling1D()(layers.Concatenate()(merged))
    model = npnet.Model(
        [left, right], layers.Dense(1, activation="sigmoid")(pooled), seed=i.seed, dtype=i.dtype
    )
    model.compile(optimizer="adam", loss="binary_crossentropy")
    report = gradcheck.check_model(model, list(ids), rng.integers(0, 2, size=6), seed=i.seed)
    return _titled(report, "(a graph: two inputs, a shared Embedding and Dense, a fork, four merges, masks)")


def _attention_checks() -> list[Check]:
    """The attention family on a short batch: MultiHeadAttention under the padding mask (key_dim = D / heads,
    key_dim != D / heads, value_dim != key_dim) and causal, Softmax, LayerNormalization, the categorical
    losses, the Transformer example's two layers and its whole model (small sizes, dropouts 0, with and
    without mask_zero)."""
    done = []
    option_sets: tuple[tuple[str, dict[str, Any]], ...] = (
        ("key_dim = D / heads", {"num_heads": 2, "key_dim": 2}),
        ("key_dim != D / heads", {"num_heads": 2, "key_dim": 3}),
        ("value_dim != key_dim", {"num_heads": 3, "key_dim": 2, "value_dim": 5}),
        ("causal", {"num_heads": 2, "key_dim": 3, "use_causal_mask": True}),
    )
    for label, options in option_sets:

        def attention(i: Inputs, label: str = label, options: dict[str, Any] = options) -> gradcheck.Report:
            a = i.attention
            report = gradcheck.check_layer(
                layers.MultiHeadAttention(**options), a["x"], mask=a["mask"], seed=i.seed
            )
            return _titled(report, f"with a mask, {label}")

        done.append(Check("layer", layers.MultiHeadAttention.__name__, attention))

    def block(i: Inputs) -> gradcheck.Report:
        a = i.attention
        layer = layers.TransformerBlock(4, 2, 6, rate=0.0)
        return _titled(gradcheck.check_layer(layer, a["x"], mask=a["mask"], seed=i.seed), "with a mask")

    def embedding(i: Inputs) -> gradcheck.Report:
        layer = layers.TokenAndPositionEmbedding(7, 30, 4, mask_zero=True)
        return gradcheck.check_layer(layer, i.attention["ids"], seed=i.seed)

    def transformer(mask_zero: bool) -> Callable[[Inputs], gradcheck.Report]:
        def run(i: Inputs) -> gradcheck.Report:
            a = i.attention
            model = models.transformer(
                30, 7, 4, 2, 6, 5, dropout=0.0, mask_zero=mask_zero, seed=i.seed, dtype=i.dtype
            )
            model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
            # Keras's U(-0.05, 0.05) tables leave the first LayerNorm's 4 inputs nearly equal, and its
            # curvature on that scale beyond what a central difference resolves: unit-scale tables keep the
            # check sharp.
            model.build((None, a["ids"].shape[1]))
            for table in model.layers[0].params.values():
                table[...] = a["rng"].normal(size=table.shape)
            variant = "(transformer, small" + (", mask_zero)" if mask_zero else ")")
            return _titled(gradcheck.check_model(model, a["ids"], a["y"], seed=i.seed), variant)

        return run

    def alone(make: Callable[[], layers.Layer], scale: float = 1.0) -> Callable[[Inputs], gradcheck.Report]:
        return lambda i: gradcheck.check_layer(make(), i.attention["x"] * scale, seed=i.seed)

    def loss(make: Callable[[], losses.Loss], target: str) -> Callable[[Inputs], gradcheck.Report]:
        def run(i: Inputs) -> gradcheck.Report:
            a = i.attention
            y_true, y_pred = {
                "two probabilities": (a["y"], a["p"][:, :2]),
                "one-hot": (np.eye(3)[a["y"]], a["p"]),
                "logits": (a["y"], a["x"][:, 0]),
            }[target]
            return gradcheck.check_loss(make(), y_true, y_pred, seed=i.seed)

        return run

    sparse, dense = losses.SparseCategoricalCrossentropy, losses.CategoricalCrossentropy
    done += [
        Check("layer", layers.Softmax.__name__, alone(layers.Softmax, 3.0)),
        Check(
            "layer",
            layers.LayerNormalization.__name__,
            alone(lambda: layers.LayerNormalization(epsilon=1e-6)),
        ),
        Check("layer", sparse.__name__, loss(sparse, "two probabilities")),
        Check("layer", dense.__name__, loss(dense, "one-hot")),
        Check("layer", sparse.__name__, loss(lambda: sparse(from_logits=True), "logits")),
        Check("layer", layers.TransformerBlock.__name__, block),
        Check("layer", layers.TokenAndPositionEmbedding.__name__, embedding),
        Check("model", "transformer", transformer(False)),
        Check("model", "transformer", transformer(True)),
    ]
    return done


def _nbsvm_checks() -> list[Check]:
    """ScaledEmbedding alone and the nbsvm model on the reviews' bags."""

    def table(i: Inputs) -> gradcheck.Report:
        model, x_bags = i.nbsvm
        return gradcheck.check_layer(model.layers[0], x_bags, seed=i.seed)

    def whole(i: Inputs) -> gradcheck.Report:
        model, x_bags = i.nbsvm
        return _titled(gradcheck.check_model(model, x_bags, i.batch[1], seed=i.seed), "NBSVM with bigrams")

    return [Check("layer", layers.ScaledEmbedding.__name__, table), Check("model", "nbsvm", whole)]


def with_bigrams(
    x: np.ndarray, vocab: int, seed: int, dtype: str | None
) -> tuple[npnet.Sequential, np.ndarray]:
    """The fastText model (`npnet train --preset fasttext`'s builder, 16 wide) and the batch `x` with each
    review's bigram ids appended (padded with 0 at the end), from a table built on these reviews."""
    words = x != imdb.PAD_CHAR
    reviews = Ragged(x[words], words.sum(axis=1))
    table = NgramTable.build(reviews, 2, base=vocab)
    with_ids = add_ngrams(reviews, table, 2)
    assert isinstance(with_ids, Ragged)  # a Ragged in, a Ragged out
    x_ngrams = pad_flat(
        with_ids.values, with_ids.lengths, 2 * x.shape[1], padding="post", value=imdb.PAD_CHAR
    )
    config = runs.TrainConfig(
        architecture="fasttext", num_words=vocab, ngrams=2, seed=seed, dtype=dtype or npnet.config.floatx()
    )
    return runs.build_model(config, table), x_ngrams


def fasttext_report(i: Inputs) -> gradcheck.Report:
    """The fastText model on the batch with its bigram ids appended (a table of ~vocab + n-gram rows, the
    n-gram ids past num_words)."""
    model, x_ngrams = with_bigrams(i.batch[0], i.vocab, i.seed, i.dtype)
    return _titled(
        gradcheck.check_model(model, x_ngrams, i.batch[1], seed=i.seed), "fastText with bigram ids"
    )


def _sequence_feature_checks() -> list[Check]:
    """The layers on sequences of features, on 6 sequences of 7 steps of 4: Masking (two steps all at the
    mask value: jumps, reported as kinks), SpatialDropout1D and BatchNormalization in training (the same
    noise replayed for every forward), BatchNormalization under a padding mask and in inference."""

    def features(i: Inputs) -> tuple[np.ndarray, np.ndarray]:
        x = np.random.default_rng(i.seed).normal(size=(6, 7, 4))
        x[0, 5:] = 0.0  # steps Masking masks
        mask = np.ones((6, 7), dtype=bool)
        mask[1, 4:] = False
        return x, mask

    def check(make: Callable[[], Layer], masked: bool, training: bool, variant: str | None) -> Callable:
        def run(i: Inputs) -> gradcheck.Report:
            x, mask = features(i)
            report = gradcheck.check_layer(
                make(), x, mask=mask if masked else None, training=training, seed=i.seed
            )
            return _titled(report, variant) if variant else report

        return run

    norm = layers.BatchNormalization
    return [
        Check("layer", "Masking", check(layers.Masking, False, False, None)),
        Check(
            "layer", "SpatialDropout1D", check(lambda: layers.SpatialDropout1D(0.3), False, True, "training")
        ),
        Check("layer", "BatchNormalization", check(norm, False, True, "training")),
        Check("layer", "BatchNormalization", check(norm, True, True, "training, with a mask")),
        Check("layer", "BatchNormalization", check(norm, False, False, "inference")),
    ]


# Every check, in the order the report prints them.
CHECKS: list[Check] = [
    *_seed_checks(),
    *_conv_checks(),
    *_recurrent_checks(),
    *_sequence_feature_checks(),
    Check("model", "graph", graph_report),
    *_attention_checks(),
    Check("model", "fasttext", fasttext_report),
    *_nbsvm_checks(),
]
LAYER_NAMES = tuple(dict.fromkeys(c.name for c in CHECKS if c.kind == "layer"))
MODEL_NAMES = tuple(dict.fromkeys(c.name for c in CHECKS if c.kind == "model"))


def _name_of(kind: str, names: tuple[str, ...]) -> Callable[[str], str]:
    """An argparse type: `text` as one of `names`, matched without regard to case; a usage error listing
    them otherwise."""

    def parse(text: str) -> str:
        for name in names:
            if name.lower() == text.lower():
                return name
        raise argparse.ArgumentTypeError(f"no {kind} named {text!r}; choose from {', '.join(names)}")

    return parse


def selected(layer_names: list[str] | None, model_names: list[str] | None) -> list[Check]:
    """The checks --layer and --model name (every check when they name none), in report order."""
    if not layer_names and not model_names:
        return list(CHECKS)
    wanted = {("layer", n) for n in layer_names or ()} | {("model", n) for n in model_names or ()}
    return [c for c in CHECKS if (c.kind, c.name) in wanted]


def _titled(report: gradcheck.Report, variant: str) -> gradcheck.Report:
    return dataclasses.replace(report, subject=f"{report.subject} {variant}")


def run(args: argparse.Namespace) -> int:
    if args.list:
        _print_list()
        return 0
    inputs = Inputs(args.seed, args.dtype, args.batch_size, args.seq_len, args.vocab)
    done = []
    for check in selected(args.layer, args.model):
        done.append(report := check.run(inputs))
        print(report, end="\n\n")
    failed = [r.subject for r in done if not r.passed]
    if failed:
        print(f"gradcheck FAILED: {len(failed)} of {len(done)} checks ({'; '.join(failed)})")
        return 1
    worst, rtol = max(r.max_rel_error for r in done), done[0].settings.rtol
    checks = f"{len(done)} check" + ("s" if len(done) > 1 else "")
    print(f"gradcheck passed: {checks}, max relative error {worst:.2e} (rtol {rtol:.0e})")
    return 0


def _print_list() -> None:
    width = max(map(len, LAYER_NAMES + MODEL_NAMES))
    for kind, flag, names in (("layer", "--layer", LAYER_NAMES), ("model", "--model", MODEL_NAMES)):
        print(f"{flag} NAME (any case):")
        for name in names:
            count = sum(c.kind == kind and c.name == name for c in CHECKS)
            print(f"  {name:<{width}}  {count} check{'s' if count > 1 else ''}")
