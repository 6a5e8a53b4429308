"""The parity checks. Each runs npnet and Keras on the same input and returns `Row`s (see `compare`).

`tests/parity/` asserts every row; `python -m parity` prints them. Tolerances live here, once, each
with the measurement or argument behind it.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from npnet import losses
from npnet.datasets import imdb
from npnet.preprocessing import pad_sequences
from parity import keras_side as ks
from parity import npnet_side as ns
from parity.compare import Row, array_row, exception_row, merge_rows, sequences_row, uniform_rows
from parity.specs import BATCH_SIZE, PADDING, SEQUENCE_LENGTH, VOCAB_SIZE, ModelSpec, TrainSpec

DTYPES = ("float64", "float32")  # of the initializer checks (no Keras arithmetic involved)


@dataclass(frozen=True)
class Precision:
    """A dtype for both sides, and whether Keras really computes in it.

    Keras 3 on a non-TensorFlow backend demotes every 64-bit result dtype it is asked for to 32-bit
    (`BIT64_TO_BIT32_DTYPE` in `keras.src.backend.common.dtypes`, mirroring JAX's default). On JAX (with x64
    enabled) that reaches the ops that ask `result_type` for a compute dtype: `ops.mean` (the pooling, the
    loss and metric means) runs float64 input in float32, while matmul and elementwise ops stay float64
    (tests/parity/test_parity_keras_facts.py). "float64" lifts that demotion for the check (Keras then
    computes in float64 and agrees with npnet to rounding, 1e-13 at worst); "float64-stock" is Keras as
    shipped.
    """

    name: str
    dtype: str
    keras_float64_ops: bool = False

    def __str__(self) -> str:
        return self.name


PRECISIONS: dict[str, Precision] = {
    p.name: p
    for p in (
        Precision("float64", "float64", keras_float64_ops=True),
        Precision("float64-stock", "float64"),
        Precision("float32", "float32"),
    )
}


@dataclass(frozen=True)
class Tolerance:
    """How close npnet must stay to Keras. Relative values are normwise (see `compare`); weights also pass
    within `weights_abs` (0: relative only)."""

    loss: float  # per-step / per-epoch loss, relative
    accuracy: float  # per-step / per-epoch accuracy, absolute (a fraction of the samples)
    predictions: float  # predict outputs, relative
    weights: float  # final weights, relative to each tensor's largest entry
    updates: float  # final minus initial weights, relative to each tensor's largest change
    weights_abs: float = 0.0


TOLERANCES: dict[str, Tolerance] = {
    # Measured on Keras 3.15.1 + JAX 0.10 (CPU, x64), `python -m parity --detail`, worst over every check.
    # Both sides in float64: they differ only in summation order (BLAS vs XLA kernels), ~1e-16 per
    # operation. Measured: loss 3.2e-16, predictions 3.3e-16, final weights 5.7e-15, updates 6.7e-14 (the
    # seed config's first kernel, which moves only ~5e-4 in 50 steps). 1e-11 leaves room for other BLAS
    # builds and is still 10,000x tighter than the 1e-7 the parity target asks for. An accuracy can only
    # change by whole samples and no p lies within 1e-14 of 0.5: exact.
    "float64": Tolerance(loss=1e-11, accuracy=0.0, predictions=1e-11, weights=1e-11, updates=1e-11),
    # Keras as shipped: float64 storage and products, float32 means (see Precision), so Keras's side carries
    # float32 rounding (6e-8) in the pooling and the loss only. Measured: loss 3.0e-9, predictions 1.9e-9,
    # final weights 2.1e-8 (SGD momentum), updates 1.6e-7 (amsgrad, the output kernel). (On the torch backend,
    # which demoted every op, these were 4.5e-8, 7e-9, 5.2e-7 and 1.3e-6.) About 10x of margin each.
    # Accuracy: measured equal; 1e-6 is far below one sample in 25,000 (4e-5).
    "float64-stock": Tolerance(loss=3e-8, accuracy=1e-6, predictions=2e-8, weights=2e-7, updates=2e-6),
    # Both sides in float32, rounding in different orders. Measured: loss 2.6e-7 (SGD with Nesterov),
    # predictions 1.8e-7, final weights 5.0e-6 and updates 7.7e-5 (the seed config: tensors that barely move
    # are mostly rounding). A tensor that barely moves from zero (the seed config's output bias, |b| ~ 7e-8
    # after 50 steps of lr 1e-5) is all rounding relative to its size and is judged absolutely instead: 1e-9
    # (measured 2.4e-11). Accuracy: early predictions sit at 0.5 +- 0.01 where float32 rounding could flip a
    # sample: one per batch of 512 is allowed (measured: one sample, on the fast config below).
    # These hold over the steps before the two runs' forwards part at a ReLU or clip kink (see
    # `first_kink_split`): on the fast config from Keras-JAX's seed-0 weights, here, that is step 23 of 50;
    # past it the runs legitimately separate (npnet's ends 6.9e-3 from Keras's on the embeddings).
    "float32": Tolerance(
        loss=1e-6, accuracy=1 / 512, predictions=1e-6, weights=1e-5, updates=5e-4, weights_abs=1e-9
    ),
}


# ---------------------------------------------------------------------------------------------------- data
def write_synthetic_npz(
    path: Path, seed: int = 0, n_train: int = 300, n_test: int = 200, vocab: int = 120
) -> Path:
    """An imdb.npz-shaped file of random reviews: object arrays of lists of Python ints >= 1, 0/1 labels.

    Word ranks follow a Zipf-like law (small ranks common, as in the real file) so that num_words and skip_top
    cut through real mass; lengths vary from 1 to 60 so that maxlen filters some of each split.
    """
    rng = np.random.default_rng(seed)

    def reviews(n: int) -> np.ndarray:
        lengths = rng.integers(1, 61, size=n)
        ranks = np.minimum(rng.zipf(1.3, size=int(lengths.sum())), vocab)
        out = np.empty(n, dtype=object)
        out[:] = [chunk.tolist() for chunk in np.split(ranks, np.cumsum(lengths)[:-1])]
        return out

    np.savez(
        path,
        x_train=reviews(n_train),
        y_train=rng.integers(0, 2, size=n_train),
        x_test=reviews(n_test),
        y_test=rng.integers(0, 2, size=n_test),
    )
    return path


# Arguments for load_data on the synthetic file (ranks 1-120, lengths 1-60): each argument on its own, then
# combinations; num_words and skip_top cut inside the vocabulary, maxlen inside the length range.
SYNTHETIC_LOAD_DATA_GRID: tuple[dict[str, Any], ...] = (
    {},
    {"num_words": 50},
    {"num_words": 50, "skip_top": 5},
    {"skip_top": 10},
    {"maxlen": 30},
    {"maxlen": 2},  # only reviews of length 0 would pass (length counts start_char): Keras refuses
    {"seed": 7},
    {"start_char": None},
    {"start_char": 5, "oov_char": 7},
    {"oov_char": None, "num_words": 40, "skip_top": 4},
    {"oov_char": None, "skip_top": 2},  # start_char (1) < skip_top: dropped
    {"index_from": 0},
    {"index_from": 0, "start_char": None},
    {"index_from": 10, "num_words": 60},
    {
        "num_words": 30,
        "skip_top": 3,
        "maxlen": 40,
        "seed": 1,
        "start_char": 2,
        "oov_char": None,
        "index_from": 4,
    },
)

# On the real 50,000 reviews each load takes seconds, so a few representative combinations: the defaults, the
# notebook's num_words=10000, and every other argument changed at once.
REAL_LOAD_DATA_GRID: tuple[dict[str, Any], ...] = (
    {},
    {"num_words": VOCAB_SIZE},
    {"num_words": 5000, "skip_top": 20, "maxlen": 300, "seed": 7, "oov_char": None},
    {"start_char": None, "index_from": 0, "maxlen": 120, "num_words": 20000},
)


def load_data_rows(npz_path: Path, kwargs: dict[str, Any], label: str) -> list[Row]:
    """npnet's and Keras's load_data on one file with the same arguments: identical output, or both refuse."""
    check = f"load_data {label} {kwargs_text(kwargs)}"
    ours, ours_error = _attempt(lambda: imdb.load_data(path=npz_path, **kwargs))
    theirs, theirs_error = _attempt(lambda: ks.load_data(npz_path, **kwargs))
    if ours_error is not None or theirs_error is not None:
        return [exception_row(check, "refusal", ours_error, theirs_error)]
    (x_train, y_train), (x_test, y_test) = ours
    (kx_train, ky_train), (kx_test, ky_test) = theirs
    return [
        sequences_row(check, "x_train", x_train, kx_train),
        array_row(check, "y_train", "int", y_train, ky_train),
        sequences_row(check, "x_test", x_test, kx_test),
        array_row(check, "y_test", "int", y_test, ky_test),
    ]


def kwargs_text(kwargs: dict[str, Any]) -> str:
    return "(" + ", ".join(f"{k}={v}" for k, v in kwargs.items()) + ")" if kwargs else "(defaults)"


def _attempt(call: Any) -> tuple[Any, BaseException | None]:
    try:
        return call(), None
    except (ValueError, TypeError) as error:
        return None, error


def pad_sequences_row(sequences: Any, kwargs: dict[str, Any]) -> Row:
    """npnet's and Keras's pad_sequences: the same array (values and dtype), or both refuse the input."""
    check = f"pad_sequences {kwargs_text(kwargs)}"
    ours, ours_error = _attempt(lambda: pad_sequences(sequences, **kwargs))
    theirs, theirs_error = _attempt(lambda: ks.pad_sequences(sequences, **kwargs))
    if ours_error is not None or theirs_error is not None:
        return exception_row(check, "refusal", ours_error, theirs_error)
    if ours.dtype != theirs.dtype:
        note = f"dtype {ours.dtype} vs Keras {theirs.dtype}"
        return Row(check, "values", str(theirs.dtype), math.inf, math.inf, "identical", False, note)
    return array_row(check, "values", str(theirs.dtype), ours, theirs)


OMIT = object()  # an option left out of the call, so the default applies (a changed default must show)
PAD_OPTIONS: dict[str, tuple[Any, ...]] = {
    "padding": (OMIT, "pre", "post"),
    "truncating": (OMIT, "pre", "post"),
    "maxlen": (OMIT, None, 0, 1, 3, 8),
    "dtype": (OMIT, "int32", "int64", "float32", "float64"),
    "value": (OMIT, 0, -1, 2.5),
}


def call_kwargs(options: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments to pass: every option except those left at OMIT."""
    return {key: value for key, value in options.items() if value is not OMIT}


def pad_sequences_cases(seed: int = 0) -> Iterator[tuple[list[list[int]], dict[str, Any]]]:
    """Every combination of PAD_OPTIONS, each on its own random ragged batch (empty sequences included)."""
    rng = np.random.default_rng(seed)
    for combo in itertools.product(*PAD_OPTIONS.values()):
        lengths = rng.integers(0, 12, size=rng.integers(1, 6))
        sequences = [rng.integers(-50, 50, size=n).tolist() for n in lengths]
        yield sequences, call_kwargs(dict(zip(PAD_OPTIONS, combo, strict=True)))


def pad_sequences_summary(seed: int = 0) -> Row:
    """All of `pad_sequences_cases` as one row."""
    cases = list(pad_sequences_cases(seed))
    rows = [pad_sequences_row(sequences, kwargs) for sequences, kwargs in cases]
    return merge_rows(
        rows, f"pad_sequences ({len(cases)} padding/truncating/maxlen/dtype/value combos)", "values"
    )


# ------------------------------------------------------------------------------------------- initializers
INIT_SEEDS = range(40)  # Dense kernels hold 256 and 16 values: pool 40 models' worth for the statistics


def initializer_rows(dtype: str = "float32") -> list[Row]:
    """Embedding U(-0.05, 0.05) and glorot_uniform kernels: npnet draws as Keras does; biases are zero."""
    spec = ModelSpec()
    ours = [ns.initial_weights(spec, dtype, seed) for seed in INIT_SEEDS]
    theirs = [ks.build_model(spec, dtype, seed).get_weights() for seed in INIT_SEEDS]
    rows = uniform_rows("init: Embedding (seed 0)", dtype, ours[0][0], theirs[0][0], 0.05)
    kernels = (
        (1, "Dense(16) kernel", spec.embedding_dim, spec.hidden_units),
        (3, "Dense(1) kernel", spec.hidden_units, 1),
    )
    for index, name, fan_in, fan_out in kernels:
        limit = math.sqrt(6 / (fan_in + fan_out))  # glorot_uniform
        pooled = (
            np.concatenate([w[index].ravel() for w in ours]),
            np.concatenate([w[index].ravel() for w in theirs]),
        )
        rows += uniform_rows(f"init: {name} ({len(INIT_SEEDS)} seeds)", dtype, pooled[0], pooled[1], limit)
    for index, name in ((2, "Dense(16) bias"), (4, "Dense(1) bias")):
        rows.append(array_row(f"init: {name}", "values (zeros)", dtype, ours[0][index], theirs[0][index]))
    return rows


# ------------------------------------------------------------------------------------------ real IMDB data
@dataclass(frozen=True)
class PaddedImdb:
    """The notebook's arrays: load_data(num_words=10000), padded/truncated to 256 with padding='post'."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    def head(self, n_train: int, n_test: int) -> PaddedImdb:
        """The first reviews of each split (checks whose cost grows with the data use a slice)."""
        return PaddedImdb(
            self.x_train[:n_train], self.y_train[:n_train], self.x_test[:n_test], self.y_test[:n_test]
        )

    def batches(self, steps: int, batch_size: int = BATCH_SIZE) -> list[tuple[np.ndarray, np.ndarray]]:
        """`steps` full batches walking the training set in order, wrapping around past its end."""
        order = np.arange(steps * batch_size).reshape(steps, batch_size) % len(self.x_train)
        return [(self.x_train[rows], self.y_train[rows]) for rows in order]


def padded_imdb(npz_path: Path) -> PaddedImdb:
    (x_train, y_train), (x_test, y_test) = imdb.load_data(path=npz_path, num_words=VOCAB_SIZE)

    def pad(x: Sequence[Sequence[int]]) -> np.ndarray:
        return pad_sequences(x, maxlen=SEQUENCE_LENGTH, padding=PADDING)

    return PaddedImdb(pad(x_train), np.asarray(y_train), pad(x_test), np.asarray(y_test))


# ----------------------------------------------------------------------------------------------- training
class KerasLikeModel(Protocol):
    """What both libraries' models offer, so one runner drives either."""

    def train_on_batch(self, x: np.ndarray, y: np.ndarray) -> Any: ...
    def get_weights(self) -> list[np.ndarray]: ...


@dataclass(frozen=True)
class Trace:
    """A run of train_on_batch steps: per-step [loss, accuracy] (from before each update), the weights before
    each step (`before[k]`: after k updates) and the final weights."""

    losses: np.ndarray
    accuracies: np.ndarray
    before: list[list[np.ndarray]]
    final: list[np.ndarray]

    @property
    def initial(self) -> list[np.ndarray]:
        return self.before[0]


def run_steps(model: KerasLikeModel, batches: Sequence[tuple[np.ndarray, np.ndarray]]) -> Trace:
    before, logs = [], []
    for x, y in batches:
        before.append([w.copy() for w in model.get_weights()])
        logs.append(model.train_on_batch(x, y))
    steps = np.array(logs, dtype=np.float64)
    return Trace(steps[:, 0], steps[:, 1], before, model.get_weights())


# --------------------------------------------------------------------------- kinks between two trajectories
# Two runs in different arithmetic (npnet and Keras in float32, or float32 and float64) follow the same
# trajectory only while every forward takes the same branch at the model's non-differentiable points: each
# ReLU unit on or off for each sample, each probability clipped to [1e-7, 1 - 1e-7] or not. Once a
# pre-activation lies between the two runs' values (they differ by rounding), the two gradients differ by
# that sample's whole contribution through that unit and the runs legitimately part: the loss is continuous
# there, its gradient is not. Measured on the fast config from Keras-JAX's seed-0 weights (the paragraph
# "Kinks part float32 runs" in docs/architecture.md): at step 23 the pre-activation of unit 7 for sample 135
# is +2.0e-7 from npnet's float64 weights, +1.2e-8 from Keras-JAX's float32 weights and -1.7e-8 from npnet's
# float32 weights (all three evaluated in float64). Both float32 runs sit 2e-7 from float64 and 3e-8 from
# each other, on either side of 0. Embedding row 8332 (a word only sample 135 holds) shows it most: Adam
# divides its ~1e-6 gradient by sqrt(v) ~ 2e-7 + eps, so a change of that gradient by its own size moves the
# update by ~lr. Before step 23 npnet's float32 run is as close to float64 as Keras's (6.2e-6 vs 6.0e-6 on
# the embeddings). Which side a machine's rounding lands on is chance, so a training check compares the two
# runs over the steps before the first such split, and requires that there be enough of them.
MIN_STEPS_BEFORE_KINK = 15  # of 25 or 50: a defect that grows step by step has room to show (see tests)


class KinkProbe:
    """The kink pattern of a model's forward on a batch for given weights, evaluated by npnet's readable
    layers in float64 (so both runs' weights are judged by one arithmetic): every layer's `kink_pattern()`
    and the loss's `kink_pattern(y_pred)`, flat."""

    def __init__(self, spec: ModelSpec) -> None:
        self.model = ns.build_model(spec, "float64", seed=0, fused=False)
        self.loss = losses.BinaryCrossentropy(from_logits=spec.from_logits)

    def __call__(self, weights: Sequence[np.ndarray], x: np.ndarray) -> np.ndarray:
        self.model.set_weights([np.asarray(w, dtype=np.float64) for w in weights])
        y_pred = self.model.forward(x, training=True)
        parts = [layer.kink_pattern().ravel() for layer in self.model.layers]
        parts.append(self.loss.kink_pattern(y_pred).ravel())
        return np.concatenate(parts)


def first_kink_split(
    spec: ModelSpec,
    ours: Sequence[Sequence[np.ndarray]],
    theirs: Sequence[Sequence[np.ndarray]],
    xs: Sequence[np.ndarray],
) -> int | None:
    """The first step k (0-based) whose forward on `xs[k]` takes a different branch from `ours[k]`'s weights
    than from `theirs[k]`'s, or None: updates 0..k-1 were taken on the same branches."""
    probe = KinkProbe(spec)
    for k, (mine, keras, x) in enumerate(zip(ours, theirs, xs, strict=True)):
        if not np.array_equal(probe(mine, x), probe(keras, x)):
            return k
    return None


WEIGHT_NAMES = ("embeddings", "kernel 1", "bias 1", "kernel 2", "bias 2")  # Keras's get_weights() order


def keras_context(precision: Precision) -> Any:
    """Where every Keras call of a check runs: its floatx, and whether its float64 ops stay float64."""
    return ks.precision(precision.dtype, float64_ops=precision.keras_float64_ops)


def keras_and_npnet(
    spec: TrainSpec, precision: Precision, seed: int = 0, fused: bool | None = None
) -> tuple[Any, Any]:
    """Both compiled models, npnet's holding Keras's initial weights."""
    keras_model = ks.build_model(spec.model, precision.dtype, seed)
    with keras_context(precision):
        ks.compile_model(keras_model, spec.model, spec.optimizer)
    npnet_model = ns.build_model(spec.model, precision.dtype, seed, fused=fused)
    ns.compile_model(npnet_model, spec.model, spec.optimizer)
    npnet_model.set_weights(keras_model.get_weights())
    return keras_model, npnet_model


def weight_rows(
    check: str, quantity: str, precision: Precision, ours: Sequence[np.ndarray], keras: Sequence[np.ndarray]
) -> list[Row]:
    """One row per weight tensor (named), held to the weights (or updates) tolerance."""
    tol = TOLERANCES[precision.name]
    rel = tol.updates if quantity.startswith("weight updates") else tol.weights
    abs_tol = tol.weights_abs or None
    return [
        array_row(check, f"{quantity}: {name}", precision.name, o, k, rel_tol=rel, abs_tol=abs_tol)
        for name, o, k in zip(WEIGHT_NAMES, ours, keras, strict=True)
    ]


def training_rows(spec: TrainSpec, precision: Precision, data: PaddedImdb, detail: bool = False) -> list[Row]:
    """`spec.steps` train_on_batch steps, same batches, same start: per-step logs and weights agree over the
    steps before the runs part at a kink (`trajectory_rows`)."""
    batches = data.batches(spec.steps)
    keras_model, npnet_model = keras_and_npnet(spec, precision)
    with keras_context(precision):
        theirs = run_steps(keras_model, batches)
    ours = run_steps(npnet_model, batches)
    xs = [x for x, _ in batches]
    return trajectory_rows(
        f"train_on_batch x{spec.steps}: {spec.name}", spec, precision, ours, theirs, xs, detail
    )


def trajectory_rows(
    check: str,
    spec: TrainSpec,
    precision: Precision,
    ours: Trace,
    theirs: Trace,
    xs: Sequence[np.ndarray],
    detail: bool = False,
) -> list[Row]:
    """Rows: how many steps both runs took on the same kink branches (at least MIN_STEPS_BEFORE_KINK, or
    all), then over those steps the per-step losses and accuracies, the weights and the weight updates (the
    last two per tensor when `detail`, else the worst tensor). Without a split the weights are the final ones.

    The loss and accuracy of the step whose forward parts the runs still come from weights that agree (the
    loss is continuous at a kink), so they are compared too; its update is not.
    """
    tol = TOLERANCES[precision.name]
    name = precision.name
    split = first_kink_split(spec.model, ours.before, theirs.before, xs)
    steps = len(xs)
    agreed = steps if split is None else split
    where = "none" if split is None else f"step {split + 1}'s forward parts them"
    rows = [
        Row(
            check,
            "steps on the same ReLU/clip branches",
            name,
            0.0,
            0.0,
            f">= {min(MIN_STEPS_BEFORE_KINK, steps)}",
            agreed >= min(MIN_STEPS_BEFORE_KINK, steps),
            f"{agreed} of {steps}; kink split: {where}",
        )
    ]
    logged = slice(0, steps if split is None else split + 1)
    rows += [
        array_row(check, "per-step loss", name, ours.losses[logged], theirs.losses[logged], rel_tol=tol.loss),
        array_row(
            check,
            "per-step accuracy",
            name,
            ours.accuracies[logged],
            theirs.accuracies[logged],
            abs_tol=tol.accuracy,
        ),
    ]
    if split is None:
        label, mine, keras = "final weights", ours.final, theirs.final
    else:
        label, mine, keras = f"weights after {agreed} steps", ours.before[agreed], theirs.before[agreed]
    updates = (
        [o - i for o, i in zip(mine, ours.initial, strict=True)],
        [k - i for k, i in zip(keras, theirs.initial, strict=True)],
    )
    for quantity, (a, b) in ((label, (mine, keras)), (f"weight updates ({label} - initial)", updates)):
        parts = weight_rows(check, quantity, precision, a, b)
        rows += parts if detail else [merge_rows(parts, check, quantity)]
    return rows


FORWARD_SAMPLES = 5_000  # test reviews; Keras predicts ~15,000 reviews/s here, the check runs 6 times


def path_label(fused: bool | None) -> str:
    """npnet's predict/evaluate/fit run Embedding + pooling fused unless `fused=False` (see npnet.trainer)."""
    return "readable layers" if fused is False else "fused path"


def forward_rows(
    precision: Precision, data: PaddedImdb, spec: ModelSpec | None = None, fused: bool | None = None
) -> list[Row]:
    """Keras's freshly initialized weights copied into npnet: same predictions on 5,000 test reviews."""
    spec = spec or ModelSpec()
    data = data.head(0, FORWARD_SAMPLES)
    keras_model = ks.build_model(spec, precision.dtype, seed=0)
    npnet_model = ns.build_model(spec, precision.dtype, seed=0, fused=fused)
    npnet_model.set_weights(keras_model.get_weights())
    with keras_context(precision):
        theirs = keras_model.predict(data.x_test, batch_size=BATCH_SIZE, verbose=0)
    ours = npnet_model.predict(data.x_test, batch_size=BATCH_SIZE)
    check = f"forward (Keras's weights, {path_label(fused)})" + (", mask_zero=True" if spec.mask_zero else "")
    tol = TOLERANCES[precision.name].predictions
    quantity = f"predict on {len(data.x_test):,} reviews"
    return [array_row(check, quantity, precision.name, ours, theirs, rel_tol=tol)]


FIT_EPOCHS = 3
# Slices that keep fit's aggregation honest (full batches and a partial last one, in training and in
# validation) at a fifth of the cost of the whole set: 5,000 = 9 x 512 + 392, 2,500 = 4 x 512 + 452.
FIT_TRAIN_SAMPLES = 5_000
FIT_VALIDATION_SAMPLES = 2_500


def fit_rows(spec: TrainSpec, precision: Precision, data: PaddedImdb, fused: bool | None = None) -> list[Row]:
    """fit(shuffle=False, validation_data) for 3 epochs at batch 512, then evaluate and predict on the
    validation reviews."""
    data = data.head(FIT_TRAIN_SAMPLES, FIT_VALIDATION_SAMPLES)
    check = (
        f"fit x{FIT_EPOCHS} epochs on {FIT_TRAIN_SAMPLES:,}, shuffle=False ({path_label(fused)}): {spec.name}"
    )
    tol = TOLERANCES[precision.name]
    keras_model, npnet_model = keras_and_npnet(spec, precision, fused=fused)
    with keras_context(precision):
        theirs = _fit_evaluate_predict(keras_model, data, verbose=0)
    ours = _fit_evaluate_predict(npnet_model, data)
    (ours_history, ours_eval, ours_pred), (theirs_history, theirs_eval, theirs_pred) = ours, theirs
    name = precision.name
    rows = []
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        tolerance = {"abs_tol": tol.accuracy} if key.endswith("accuracy") else {"rel_tol": tol.loss}
        rows.append(
            array_row(check, f"history {key}", name, ours_history[key], theirs_history[key], **tolerance)
        )
    rows.append(array_row(check, "evaluate loss", name, ours_eval[0], theirs_eval[0], rel_tol=tol.loss))
    rows.append(
        array_row(check, "evaluate accuracy", name, ours_eval[1], theirs_eval[1], abs_tol=tol.accuracy)
    )
    rows.append(array_row(check, "predict", name, ours_pred, theirs_pred, rel_tol=tol.predictions))
    return rows


def _fit_evaluate_predict(
    model: Any, data: PaddedImdb, **quiet: Any
) -> tuple[dict[str, list[float]], Any, Any]:
    """The same calls on either library; `quiet` silences Keras's progress bars (npnet has none there)."""
    history = model.fit(
        data.x_train,
        data.y_train,
        epochs=FIT_EPOCHS,
        batch_size=BATCH_SIZE,
        validation_data=(data.x_test, data.y_test),
        shuffle=False,
        verbose=0,
    )
    evaluation = model.evaluate(data.x_test, data.y_test, batch_size=BATCH_SIZE, **quiet)
    predictions = model.predict(data.x_test, batch_size=BATCH_SIZE, **quiet)
    return history.history, evaluation, predictions
