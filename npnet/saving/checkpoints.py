"""Epoch checkpoints that let a run continue exactly where it stopped.

A checkpoint is one `.npz` file (written by `npnet.saving.archive.save_arrays`: atomic, no pickle) holding
everything the
next epoch depends on:
- the weights, in `get_weights()` order               arrays `weights/<i>`
- the optimizer state (Adam's m, v, iterations)       arrays `optimizer/<key>` (`Optimizer.get_state()`)
- which weights the optimizer's slots belong to        JSON `trainable`: their positions in `get_weights()`
- the state of the shuffle generator `model.fit_rng`  JSON (`bit_generator.state`; big ints are fine in JSON)
- the per-epoch history and the number of epochs done  JSON
- the run's config                                     JSON

Restoring all of it into a freshly built model and calling `fit(..., initial_epoch=epochs_done)` replays the
rest of the run bit for bit: the same shuffles, the same updates, the same final weights as a run never
interrupted.

One file, one `os.replace`: a crash (even SIGKILL) leaves either the previous checkpoint or the new one, never
a mix. A Ctrl-C that lands while the file is written is held back until the write is done.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from npnet.errors import FileFormatError, RunError, os_error_fix
from npnet.saving import archive, validate

if TYPE_CHECKING:
    from npnet.model import Sequential

KIND = "checkpoint"


@dataclass
class Checkpoint:
    """The state of a run after `epochs_done` complete epochs."""

    epochs_done: int
    weights: list[np.ndarray]
    optimizer_state: dict[str, np.ndarray]
    rng_state: dict[str, Any]
    history: dict[str, list[float]] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    # The positions in `weights` of the trainable ones, in order: optimizer slot i belongs to weight
    # trainable[i]. None: every weight (a checkpoint written before frozen weights existed).
    trainable: list[int] | None = None


def trainable_positions(model: Sequential) -> list[int]:
    """Where the model's `trainable_weights` sit in its `weights` (a frozen weight, such as
    ScaledEmbedding's scales, has no optimizer slot)."""
    trainable = {id(w) for w in model.trainable_weights}
    return [i for i, w in enumerate(model.weights) if id(w) in trainable]


def capture(
    model: Sequential,
    epochs_done: int,
    history: Mapping[str, list[float]],
    config: Mapping[str, Any],
    copy: bool = True,
) -> Checkpoint:
    """The model's current state as a checkpoint: copies of the arrays, or with `copy=False` the live
    arrays themselves, for a checkpoint written before training goes on (`EpochCheckpoint`), so that
    writing one never doubles the memory held by the weights and the optimizer state."""
    if model.optimizer is None:
        raise ValueError(
            "compile the model before checkpointing it: the optimizer state is part of a checkpoint"
        )
    return Checkpoint(
        epochs_done=epochs_done,
        weights=model.get_weights() if copy else model.weights,
        optimizer_state=model.optimizer.get_state(copy=copy),
        rng_state=dict(model.fit_rng.bit_generator.state),
        history={key: list(values) for key, values in history.items()},
        config=dict(config),
        trainable=trainable_positions(model),
    )


def save(path: str | Path, checkpoint: Checkpoint) -> None:
    """Write `checkpoint` to `path` atomically (a Ctrl-C during the write takes effect after it)."""
    arrays = {f"weights/{i}": w for i, w in enumerate(checkpoint.weights)}
    arrays |= {f"optimizer/{key}": value for key, value in checkpoint.optimizer_state.items()}
    meta = {
        "epochs_done": checkpoint.epochs_done,
        "n_weights": len(checkpoint.weights),
        "rng_state": checkpoint.rng_state,
        "history": checkpoint.history,
        "config": checkpoint.config,
        "trainable": checkpoint.trainable,
    }
    try:
        with deferred_sigint():
            archive.save_arrays(path, arrays, kind=KIND, meta=meta)
    except OSError as e:  # a full disk, `ulimit -f`, a run folder made read-only
        raise RunError(
            f"cannot write the checkpoint {path} ({e.strerror or e}); the previous one is intact: "
            f"{os_error_fix(e)}, then train again "
            f"(`npnet train --resume {Path(path).parent}` while that run folder exists)"
        ) from e


def load(path: str | Path) -> Checkpoint:
    """Read a checkpoint written by `save`, validated: every field of the right type and range, weights and
    optimizer slots finite floats, slots shaped like the weights, a history of one number per epoch done.
    A missing, corrupt, foreign or inconsistent file is a `FileFormatError` naming the problem."""
    arrays, meta = archive.load_arrays(path, kind=KIND)

    def bad(problem: str) -> FileFormatError:
        return FileFormatError(f"{path} is not a valid checkpoint: {problem}; start the run again")

    def count(name: str) -> int:
        value = meta.get(name)
        if type(value) is not int or value < 0:
            raise bad(f"{name} is {value!r}, not an integer >= 0")
        return value

    epochs_done, n_weights = count("epochs_done"), count("n_weights")
    try:
        weights = [arrays.pop(f"weights/{i}") for i in range(n_weights)]
    except KeyError as e:
        raise bad(f"weights {e} is missing") from None
    optimizer_state = {}
    for key, value in arrays.items():
        if not key.startswith("optimizer/"):
            raise bad(f"it holds an unknown array {key!r}")
        optimizer_state[key.removeprefix("optimizer/")] = value
    archive.check_float_arrays(path, {f"weights/{i}": w for i, w in enumerate(weights)}, "array")
    try:  # the model file's rules (npnet.saving.validate)
        validate.check_optimizer_state(optimizer_state)
    except validate.SchemaError as e:
        raise bad(str(e)) from None
    iterations = optimizer_state.pop("iterations")
    trainable = meta.get("trainable")
    if trainable is None:
        trainable = list(range(n_weights))
    if not (
        isinstance(trainable, list)
        and all(type(i) is int and 0 <= i < n_weights for i in trainable)
        and trainable == sorted(set(trainable))
    ):
        raise bad(f"its trainable weights {trainable!r} are not ascending positions of {n_weights} weights")
    for key, slot in optimizer_state.items():
        index = key.rpartition("/")[2]
        if not (
            index.isdigit()
            and int(index) < len(trainable)
            and slot.shape == weights[trainable[int(index)]].shape
        ):
            raise bad(f"the optimizer slot {key!r} {slot.shape} matches no trainable weight")
    optimizer_state["iterations"] = iterations
    history, config, rng_state = meta.get("history"), meta.get("config"), meta.get("rng_state")
    if not (isinstance(history, dict) and all(_numbers(v, epochs_done) for v in history.values())):
        raise bad(f"the history is not a list of {epochs_done} numbers per column")
    if not isinstance(config, dict):
        raise bad("the config is not a JSON object")
    if not (isinstance(rng_state, dict) and isinstance(rng_state.get("bit_generator"), str)):
        raise bad("the shuffle-generator state is not a NumPy bit generator's state")
    return Checkpoint(
        epochs_done=epochs_done,
        weights=weights,
        optimizer_state=optimizer_state,
        rng_state=rng_state,
        history={key: [float(v) for v in values] for key, values in history.items()},
        config=config,
        trainable=trainable,
    )


def _numbers(values: object, n: int) -> bool:
    return (
        isinstance(values, list)
        and len(values) == n
        and all(type(v) in (int, float) and np.isfinite(v) for v in values)
    )


def restore(model: Sequential, checkpoint: Checkpoint) -> None:
    """Put weights, optimizer state and shuffle-generator state back into a compiled model of the same
    shape; FileFormatError (nothing changed) when the checkpoint does not fit it."""
    if model.optimizer is None:
        raise ValueError("compile the model before restoring a checkpoint into it")
    expected = [w.shape for w in model.get_weights()]
    found = [w.shape for w in checkpoint.weights]
    if found != expected:
        raise FileFormatError(
            f"the checkpoint's weights have shapes {found}, this model's are {expected}: it was saved from "
            "another model; start the run again"
        )
    trainable = trainable_positions(model)
    if checkpoint.trainable is not None and checkpoint.trainable != trainable:
        raise FileFormatError(
            f"the checkpoint's trainable weights are {checkpoint.trainable}, this model's are {trainable}: "
            "it was saved from another model; start the run again"
        )
    generator = type(model.fit_rng.bit_generator).__name__
    if checkpoint.rng_state.get("bit_generator") != generator:
        raise FileFormatError(
            f"the checkpoint's shuffle generator is {checkpoint.rng_state.get('bit_generator')!r}, this "
            f"model's is {generator}; start the run again"
        )
    previous = model.fit_rng.bit_generator.state
    try:
        model.fit_rng.bit_generator.state = checkpoint.rng_state
        model.optimizer.set_state(checkpoint.optimizer_state)
    except (TypeError, ValueError, KeyError, OverflowError) as e:
        model.fit_rng.bit_generator.state = previous
        raise FileFormatError(
            f"the checkpoint's optimizer or shuffle-generator state does not fit this model: {e}; "
            "start the run again"
        ) from e
    model.set_weights(checkpoint.weights)


@contextlib.contextmanager
def deferred_sigint() -> Iterator[None]:
    """Hold back SIGINT (Ctrl-C) inside the block and raise KeyboardInterrupt after it, so the block
    completes.

    Only the main thread can install signal handlers; elsewhere the block runs unprotected.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if received:
        raise KeyboardInterrupt
