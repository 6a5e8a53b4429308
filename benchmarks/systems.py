"""The systems the harness races, each built inside its own worker process.

A system is a factory `make(data, seed)` returning a trainer with `epoch() -> (train_s, validation_s)` and
`setup_seconds`; heavy imports happen inside the factory, so a missing peer only skips that peer.
"""

from __future__ import annotations

import functools
import importlib.util
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from benchmarks.workload import Workload

if TYPE_CHECKING:
    import npnet

EMBEDDING_DIM = 16
LEARNING_RATE, DECAY, EPSILON = 1e-3, 1e-5, 1e-7


class Trainer(Protocol):
    setup_seconds: float

    def epoch(self) -> tuple[float, float]: ...


@dataclass(frozen=True)
class System:
    name: str
    label: str
    make: Callable[[Workload, int], Trainer]
    needs: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)

    def missing(self) -> list[str]:
        """The modules this system needs that are not installed here."""
        return [m for m in self.needs if importlib.util.find_spec(m) is None]


def seed_model(vocab_size: int, seed: int = 0) -> npnet.Sequential:
    """The notebook's model, compiled as the peers are: Adam(1e-3, decay 1e-5, eps 1e-7), BCE, accuracy."""
    from npnet import models, optimizers

    model = models.notebook(vocab_size, EMBEDDING_DIM, 16, seed=seed)
    model.compile(
        optimizer=optimizers.Adam(learning_rate=LEARNING_RATE, decay=DECAY, epsilon=EPSILON),
        loss="binary_crossentropy",
        metrics=["accuracy"],
    )
    model.build()
    return model


def cnn_model(vocab_size: int, seed: int = 0) -> npnet.Sequential:
    """Keras's imdb_cnn example (npnet.models.imdb_cnn, dropout 0.2), compiled as the example: Adam()
    defaults (lr 1e-3, no decay, eps 1e-7), BCE, accuracy."""
    from npnet import models, optimizers

    model = models.imdb_cnn(num_words=vocab_size, seed=seed)
    model.compile(
        optimizer=optimizers.Adam(learning_rate=1e-3, decay=0.0, epsilon=EPSILON),
        loss="binary_crossentropy",
        metrics=["accuracy"],
    )
    model.build()
    return model


def preset_model(preset: str, vocab_size: int, seed: int = 0) -> npnet.Sequential:
    """`npnet train --preset PRESET`'s model and optimizer (npnet.runs), for the data's vocabulary."""
    from npnet import runs

    model = runs.build_model(runs.preset_config(preset, num_words=vocab_size, seed=seed))
    model.build()
    return model


def keras_preset_layers(keras: Any, data: Workload, preset: str) -> tuple[list[Any], Any]:
    """The Keras twins (`npnet.keras_export`) of `npnet train --preset PRESET`'s layers, the Keras
    example's, for the data's vocabulary; and the preset's learning rate (these presets have no decay)."""
    from npnet import models, runs
    from npnet.keras_export import keras_layer
    from parity.keras_transformer import EXAMPLE_LAYERS

    config = runs.preset_config(preset, num_words=data.vocab_size)
    if config.decay:
        raise ValueError(f"preset {preset!r} decays its learning rate; KerasTrainer takes a constant one")
    model = models.build(config.architecture, **config.to_dict())
    layers = [
        keras_layer(keras, type(layer).__name__, layer.get_config(), EXAMPLE_LAYERS) for layer in model.layers
    ]
    return layers, (config.learning_rate)


class NpnetTrainer:
    """npnet's epoch: `npnet.Sequential.fit` itself, as a long training run uses it.

    One `fit(epochs=...)` call runs in a background thread, and a callback holds it at the start of each
    epoch until the harness asks for one. So the per-fit precomputation (the bags of words of the training
    and validation data) is paid once, in `setup_seconds`, as in a 60-epoch run, and each timed epoch is
    exactly fit's own batches and validation. The split train/validation is the last batch's end.
    """

    def __init__(
        self, data: Workload, seed: int, build: Callable[[int, int], npnet.Sequential] = seed_model
    ) -> None:
        start = time.perf_counter()
        from npnet import callbacks

        model = build(data.vocab_size, seed)
        # The thread is a daemon: when the worker exits, it is left waiting for an epoch that never comes.
        self._go: queue.SimpleQueue[None] = queue.SimpleQueue()
        self._times: queue.SimpleQueue[tuple[float, float] | BaseException] = queue.SimpleQueue()
        go, times, marks = self._go, self._times, {}

        class Pace(callbacks.Callback):
            def on_train_begin(self, logs: dict[str, float] | None = None) -> None:
                times.put((time.perf_counter() - start, 0.0))  # setup: model and bags are ready

            def on_epoch_begin(self, epoch: int, logs: dict[str, float] | None = None) -> None:
                go.get()
                marks["begin"] = marks["batch_end"] = time.perf_counter()

            def on_batch_end(self, batch: int, logs: dict[str, float] | None = None) -> None:
                marks["batch_end"] = time.perf_counter()

            def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
                end = time.perf_counter()
                times.put((marks["batch_end"] - marks["begin"], end - marks["batch_end"]))

        def train() -> None:
            try:
                model.fit(
                    data.x_train,
                    data.y_train,
                    batch_size=data.batch_size,
                    epochs=1_000_000,
                    validation_data=(data.x_val, data.y_val),
                    shuffle=True,
                    verbose=0,
                    callbacks=[Pace()],
                )
            except BaseException as error:  # handed to the harness's thread by the next epoch()
                times.put(error)

        self._thread = threading.Thread(target=train, daemon=True)
        self._thread.start()
        self.setup_seconds = self._next()[0]

    def _next(self) -> tuple[float, float]:
        answer = self._times.get()
        if isinstance(answer, BaseException):
            raise answer
        return answer

    def epoch(self) -> tuple[float, float]:
        self._go.put(None)
        return self._next()


def numpy_naive_trainer(data: Workload, seed: int) -> Trainer:
    from benchmarks.numpy_loop import NaiveTrainer

    return NaiveTrainer(data, EMBEDDING_DIM, seed)


def keras_seed_layers(keras: Any, data: Workload) -> tuple[list[Any], Any]:
    """The seed model's layers and learning rate: Keras 2's Adam(lr, decay) exactly, lr / (1 + decay k)."""
    layers = [
        keras.layers.Embedding(data.vocab_size, EMBEDDING_DIM),
        keras.layers.GlobalAveragePooling1D(),
        keras.layers.Dense(16, activation="relu"),
        keras.layers.Dense(1, activation="sigmoid"),
    ]
    return layers, keras.optimizers.schedules.InverseTimeDecay(LEARNING_RATE, decay_steps=1, decay_rate=DECAY)


class KerasTrainer:
    """Keras 3 on the backend named by KERAS_BACKEND (set by the harness before the import); `loss`: the
    model's (sparse categorical cross-entropy for a softmax output, whose labels Keras casts to ids)."""

    def __init__(
        self,
        data: Workload,
        seed: int,
        layers_of: Callable[[Any, Workload], tuple[list[Any], Any]] = keras_seed_layers,
        loss: str = "binary_crossentropy",
    ) -> None:
        start = time.perf_counter()
        import keras

        keras.utils.set_random_seed(seed)
        self.data = data
        layers, learning_rate = layers_of(keras, data)
        self.model = keras.Sequential([keras.Input((data.length,), dtype="int32"), *layers])
        self.model.compile(
            optimizer=keras.optimizers.Adam(learning_rate=learning_rate, epsilon=EPSILON),
            loss=loss,
            metrics=["accuracy"],
        )
        self.marks: dict[str, float] = {}
        marks = self.marks

        class _Marks(keras.callbacks.Callback):
            def on_test_begin(self, logs: dict[str, float] | None = None) -> None:
                marks["test_begin"] = time.perf_counter()

        self.callbacks = [_Marks()]
        self.setup_seconds = time.perf_counter() - start

    def epoch(self) -> tuple[float, float]:
        self.marks.clear()
        start = time.perf_counter()
        d = self.data
        self.model.fit(
            d.x_train,
            d.y_train,
            batch_size=d.batch_size,
            epochs=1,
            validation_data=(d.x_val, d.y_val),
            shuffle=True,
            verbose=0,
            callbacks=self.callbacks,
        )
        end = time.perf_counter()
        split = self.marks.get("test_begin", end)
        return split - start, end - split


class TorchTrainer:
    """PyTorch eager: EmbeddingBag(mode="mean") over the padded rows (padding averaged in, as Keras does)."""

    def __init__(self, data: Workload, seed: int) -> None:
        start = time.perf_counter()
        import torch

        torch.manual_seed(seed)
        self.torch, self.data = torch, data
        self.embedding = torch.nn.EmbeddingBag(data.vocab_size, EMBEDDING_DIM, mode="mean")
        torch.nn.init.uniform_(self.embedding.weight, -0.05, 0.05)
        self.head = torch.nn.Sequential(
            torch.nn.Linear(EMBEDDING_DIM, 16), torch.nn.ReLU(), torch.nn.Linear(16, 1)
        )
        params = [*self.embedding.parameters(), *self.head.parameters()]
        self.optimizer = torch.optim.Adam(params, lr=LEARNING_RATE, eps=EPSILON)
        self.schedule = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda it: 1 / (1 + DECAY * it))
        self.loss = torch.nn.BCEWithLogitsLoss()
        self.x = torch.from_numpy(data.x_train.astype(np.int64))
        self.y = torch.from_numpy(data.y_train.astype(np.float32))
        self.xv = torch.from_numpy(data.x_val.astype(np.int64))
        self.yv = torch.from_numpy(data.y_val.astype(np.float32))
        self.setup_seconds = time.perf_counter() - start

    def epoch(self) -> tuple[float, float]:
        torch, size = self.torch, self.data.batch_size
        start = time.perf_counter()
        order = torch.randperm(len(self.x))
        for first in range(0, len(order), size):
            idx = order[first : first + size]
            logits = self.head(self.embedding(self.x[idx]))[:, 0]
            loss = self.loss(logits, self.y[idx])
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
            self.schedule.step()
        middle = time.perf_counter()
        with torch.no_grad():
            for first in range(0, len(self.xv), size):
                logits = self.head(self.embedding(self.xv[first : first + size]))[:, 0]
                self.loss(logits, self.yv[first : first + size])
                ((logits > 0) == (self.yv[first : first + size] > 0.5)).float().mean()
        return middle - start, time.perf_counter() - middle


SYSTEMS: dict[str, System] = {
    s.name: s
    for s in (
        System("npnet", "npnet Sequential.fit", NpnetTrainer),
        System("keras-jax", "Keras 3 + JAX", KerasTrainer, ("keras", "jax"), {"KERAS_BACKEND": "jax"}),
        System("torch-eager", "PyTorch eager, EmbeddingBag(mean)", TorchTrainer, ("torch",)),
        System(
            "keras-torch", "Keras 3 + torch", KerasTrainer, ("keras", "torch"), {"KERAS_BACKEND": "torch"}
        ),
        System("numpy-naive", "NumPy naive (E[x].mean(1), 2-D np.add.at)", numpy_naive_trainer),
        # Keras's imdb_cnn example (benchmarks.cnn races these two on its own workload).
        System(
            "npnet-cnn", "npnet imdb_cnn, Sequential.fit", functools.partial(NpnetTrainer, build=cnn_model)
        ),
        System(
            "keras-jax-cnn",
            "Keras 3 + JAX, imdb_cnn",
            functools.partial(KerasTrainer, layers_of=functools.partial(keras_preset_layers, preset="cnn")),
            ("keras", "jax"),
            {"KERAS_BACKEND": "jax"},
        ),
    )
}
CNN_SYSTEMS = ("npnet-cnn", "keras-jax-cnn")


# The recurrent presets, raced by benchmarks.recurrent on data padded as each preset pads it (not part of
# benchmarks.run's default race of the seed model).
RECURRENT_SYSTEMS: dict[str, System] = {
    s.name: s
    for preset, example in (
        ("lstm", "imdb_lstm"),
        ("bilstm", "imdb_bidirectional_lstm"),
        ("cnn-lstm", "imdb_cnn_lstm"),
    )
    for s in (
        System(
            f"npnet-{preset}",
            f"npnet --preset {preset}",
            functools.partial(NpnetTrainer, build=functools.partial(preset_model, preset)),
        ),
        System(
            f"keras-jax-{preset}",
            f"Keras 3 + JAX, examples/{example}.py",
            functools.partial(KerasTrainer, layers_of=functools.partial(keras_preset_layers, preset=preset)),
            ("keras", "jax"),
            {"KERAS_BACKEND": "jax"},
        ),
    )
}
# Keras's IMDB Transformer example (benchmarks.transformer races these two on data padded as the preset pads).
TRANSFORMER_SYSTEMS: dict[str, System] = {
    s.name: s
    for s in (
        System(
            "npnet-transformer",
            "npnet --preset transformer",
            functools.partial(NpnetTrainer, build=functools.partial(preset_model, "transformer")),
        ),
        System(
            "keras-jax-transformer",
            "Keras 3 + JAX, examples/nlp/text_classification_with_transformer.py",
            functools.partial(
                KerasTrainer,
                layers_of=functools.partial(keras_preset_layers, preset="transformer"),
                loss="sparse_categorical_crossentropy",
            ),
            ("keras", "jax"),
            {"KERAS_BACKEND": "jax"},
        ),
    )
}
ALL_SYSTEMS: dict[str, System] = {**SYSTEMS, **RECURRENT_SYSTEMS, **TRANSFORMER_SYSTEMS}
