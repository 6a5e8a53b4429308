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
Then the fastText model on the same reviews with their bigram ids appended (`npnet.preprocessing.ngrams`: a
table of
~10,000 + n-gram rows, the n-gram ids past num_words). Prints one table per check; exits 1 if any check
fails.
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

import numpy as np

import npnet
from npnet import gradcheck, layers, losses, models, runs
from npnet.cli.argtypes import int_in
from npnet.datasets import imdb, synthetic
from npnet.datasets.ragged import Ragged
from npnet.preprocessing import add_ngrams, pad_flat
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


def reports(
    seed: int, dtype: str | None, batch_size: int, seq_len: int, vocab: int
) -> list[gradcheck.Report]:
    """Every check `npnet gradcheck` runs, in order."""
    rng = np.random.default_rng(seed)
    x, y = imdb_like_batch(rng, batch_size, seq_len, vocab)
    y_col = y.reshape(-1, 1).astype(np.float64)
    model = seed_model(vocab, seed, dtype)
    masked = seed_model(vocab, seed, dtype, mask_zero=True)
    embedding, pooling, hidden, output = model.layers
    embedded, pooled, activated, probabilities = (
        np.asarray(out, np.float64) for out in model.layer_outputs(x)
    )
    z1 = (
        pooled @ hidden.params["kernel"] + hidden.params["bias"]
    )  # pre-activations, for ReLU and Sigmoid alone
    z2 = activated @ output.params["kernel"] + output.params["bias"]
    return [
        gradcheck.check_layer(embedding, x, seed=seed),
        gradcheck.check_layer(pooling, embedded, seed=seed),
        _titled(
            gradcheck.check_layer(pooling, embedded, mask=x != imdb.PAD_CHAR, seed=seed),
            "with the padding mask",
        ),
        gradcheck.check_layer(hidden, pooled, seed=seed),
        gradcheck.check_layer(output, activated, seed=seed),
        gradcheck.check_layer(layers.ReLU(), z1, seed=seed),
        gradcheck.check_layer(layers.Sigmoid(), z2, seed=seed),
        gradcheck.check_loss(losses.BinaryCrossentropy(), y_col, probabilities, seed=seed),
        gradcheck.check_loss(losses.BinaryCrossentropy(from_logits=True), y_col, z2, seed=seed),
        gradcheck.check_model(model, x, y, seed=seed),
        _titled(gradcheck.check_model(masked, x, y, seed=seed), "with Embedding(mask_zero=True)"),
        *conv_reports(x, y, seed, dtype, vocab),
        *recurrent_reports(seed, dtype),
        graph_report(seed, dtype),
        _titled(
            gradcheck.check_model(*with_bigrams(x, vocab, seed, dtype), y, seed=seed),
            "fastText with bigram ids",
        ),
    ]


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


def conv_reports(
    x: np.ndarray, y: np.ndarray, seed: int, dtype: str | None, vocab: int
) -> list[gradcheck.Report]:
    """The convolution and pooling layers (Conv1D's paddings, strides and dilation, the four poolings,
    Flatten, Dropout) on the reviews' embeddings (8 wide, so the checks stay quick), and
    the imdb_cnn model with small sizes: Embedding(vocab, 8) -> Conv1D(16, 3, relu) -> GlobalMaxPooling1D
    -> Dense(16) -> relu -> Dense(1) -> sigmoid."""
    cnn = runs.build_model(
        runs.preset_config(
            "cnn", num_words=vocab, embedding_dim=8, filters=16, hidden_units=16, dropout=0.0, seed=seed,
            dtype=dtype or npnet.config.floatx(),
        )
    )  # fmt: skip
    embedded = np.asarray(cnn.layer_outputs(x)[0], np.float64)
    features = embedded[:, : min(64, x.shape[1])]  # the first steps: every window rule shows there
    layer_checks = [
        layers.Conv1D(6, 3, activation="relu", name="conv1d_valid_relu"),
        layers.Conv1D(6, 4, strides=3, padding="same", name="conv1d_same_strided"),
        layers.Conv1D(
            6, 3, dilation_rate=2, padding="causal", activation="tanh", name="conv1d_causal_dilated"
        ),
        layers.MaxPooling1D(3, 2, padding="same"),
        layers.AveragePooling1D(3, 2, padding="same"),
        layers.GlobalMaxPooling1D(),
        layers.Flatten(),
        layers.Dropout(0.2),
    ]
    return [
        *(gradcheck.check_layer(layer, features, seed=seed) for layer in layer_checks),
        _titled(gradcheck.check_model(cnn, x, y, seed=seed), "imdb_cnn (small sizes, dropout 0)"),
    ]


def recurrent_reports(seed: int, dtype: str | None = None) -> list[gradcheck.Report]:
    """The recurrent layers and models on a short batch: 6 reviews of 7 steps, 30 words, pre- and
    post-padded, the mask as Embedding(mask_zero=True) makes it."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(imdb.INDEX_FROM, 30, size=(6, 7))
    ids[0, :3] = imdb.PAD_CHAR  # padding='pre'
    ids[1, 5:] = imdb.PAD_CHAR  # padding='post'
    y = rng.integers(0, 2, size=len(ids))
    mask = ids != imdb.PAD_CHAR
    x = rng.normal(size=(*ids.shape, 3))
    done = []
    for cls in (layers.SimpleRNN, layers.LSTM, layers.GRU):
        option_sets: list[dict[str, Any]] = [
            {},
            {"return_sequences": True},
            {"return_sequences": True, "go_backwards": True},
        ]
        for options in option_sets:
            report = gradcheck.check_layer(cls(4, **options), x, mask=mask, seed=seed)
            flags = "".join(f", {key}" for key in options)
            done.append(_titled(report, f"with a mask{flags}"))
    for merge_mode in ("concat", "sum", "mul", "ave"):
        layer = layers.Bidirectional(layers.LSTM(3, return_sequences=True), merge_mode=merge_mode)
        done.append(
            _titled(gradcheck.check_layer(layer, x, mask=mask, seed=seed), f"merge_mode={merge_mode}")
        )
    for name, model in (
        (
            "lstm",
            models.imdb_lstm(
                30, 5, 4, dropout=0, recurrent_dropout=0, mask_zero=True, seed=seed, dtype=dtype
            ),
        ),
        (
            "bilstm",
            models.imdb_bidirectional_lstm(30, 5, 3, dropout_rate=0, mask_zero=True, seed=seed, dtype=dtype),
        ),
    ):
        model.compile(optimizer="adam", loss="binary_crossentropy")
        done.append(_titled(gradcheck.check_model(model, ids, y, seed=seed), f"({name}, small, masked)"))
    return done


def graph_report(seed: int, dtype: str | None = None) -> gradcheck.Report:
    """A functional graph with every way gradients meet: two id inputs through one masked Embedding (a
    shared layer), its first output feeding three layers (a fork), a Dense called twice, and the four merges
    (Multiply and Concatenate under masks)."""
    rng = np.random.default_rng(seed)
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
    model = npnet.Model([left, right], layers.Dense(1, activation="sigmoid")(pooled), seed=seed, dtype=dtype)
    model.compile(optimizer="adam", loss="binary_crossentropy")
    report = gradcheck.check_model(model, list(ids), rng.integers(0, 2, size=6), seed=seed)
    return _titled(report, "(a graph: two inputs, a shared Embedding and Dense, a fork, four merges, masks)")


def _titled(report: gradcheck.Report, variant: str) -> gradcheck.Report:
    return dataclasses.replace(report, subject=f"{report.subject} {variant}")


def run(args: argparse.Namespace) -> int:
    done = reports(args.seed, args.dtype, args.batch_size, args.seq_len, args.vocab)
    for report in done:
        print(report, end="\n\n")
    failed = [r.subject for r in done if not r.passed]
    if failed:
        print(f"gradcheck FAILED: {len(failed)} of {len(done)} checks ({'; '.join(failed)})")
        return 1
    worst, rtol = max(r.max_rel_error for r in done), done[0].settings.rtol
    print(f"gradcheck passed: {len(done)} checks, max relative error {worst:.2e} (rtol {rtol:.0e})")
    return 0
