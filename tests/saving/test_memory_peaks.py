"""Large tables are never copied whole on the way in (initializer) or out (epoch checkpoint, saved model).

NumPy reports its data allocations to `tracemalloc`, so the peak of the traced memory during one of these
operations measures its temporaries exactly. The table here is 12 MB of float32 (a small fastText table);
the fastText preset's is 239 MB, and before these fixes its run peaked at 1.9 GB for 0.7 GB of parameters
and Adam state (benchmarks/HISTORY.md, "fasttext / Memory").
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np

import npnet
from npnet import initializers, layers, optimizers
from npnet.callbacks import EpochCheckpoint
from npnet.saving import checkpoints, model_file

ROWS, DIM = 60_000, 50
TABLE_BYTES = ROWS * DIM * 4


def peak_bytes(operation: Callable[[], object]) -> int:
    """The traced memory's peak above its level when `operation` starts."""
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        operation()
        return tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()


def trained_model(lazy: bool = True) -> npnet.Sequential:
    model = npnet.Sequential(
        [layers.Embedding(ROWS, DIM), layers.GlobalAveragePooling1D(), layers.Dense(1, activation="sigmoid")]
    )
    model.compile(optimizer=optimizers.Adam(lazy=lazy), loss="binary_crossentropy")
    x = np.random.default_rng(0).integers(0, ROWS, size=(8, 20))
    model.train_on_batch(x, np.array([0, 1] * 4))
    return model


def test_the_uniform_initializer_allocates_only_its_result() -> None:
    peak = peak_bytes(lambda: initializers.get("uniform")((ROWS, DIM), np.random.default_rng(0), np.float32))
    # The result plus one 8 MB float64 block; the one-shot draw held 2x the table in float64 besides.
    assert peak < TABLE_BYTES + 8 * initializers._UNIFORM_BLOCK + (1 << 20)


def test_an_epoch_checkpoint_writes_the_live_arrays_without_copying_them(tmp_path: Path) -> None:
    model = trained_model()
    saver = EpochCheckpoint(tmp_path / "c.npz", config={})
    saver.set_model(model)
    saver.on_epoch_begin(0)
    peak = peak_bytes(lambda: saver.on_epoch_end(0, {"loss": 0.5}))
    # Weights + m + v are 3 tables; a copying capture allocated all three again (>= 3 tables). NumPy
    # writes an array into a zip member through a bytes chunk of up to 16 MB (the whole of this 12 MB
    # table), so the write alone holds at most one table's worth.
    assert peak < 1.5 * TABLE_BYTES
    restored = checkpoints.load(tmp_path / "c.npz")
    for written, live in zip(restored.weights, model.weights, strict=True):
        np.testing.assert_array_equal(written, live)
    for key, value in model.optimizer.get_state().items():
        np.testing.assert_array_equal(restored.optimizer_state[key], value)


def test_capture_copies_unless_told_not_to() -> None:
    model = trained_model()
    copied = checkpoints.capture(model, 1, {}, {})
    live = checkpoints.capture(model, 1, {}, {}, copy=False)
    table = model.weights[0]
    assert not np.shares_memory(copied.weights[0], table)
    assert live.weights[0] is table
    assert live.optimizer_state["m/0"] is model.optimizer.m[0]
    table[0, 0] += 1.0  # training goes on: a kept (copied) checkpoint must not move with it
    assert copied.weights[0][0, 0] != table[0, 0]


def test_saving_a_model_does_not_copy_its_weights_or_optimizer_state(tmp_path: Path) -> None:
    model = trained_model(lazy=False)
    peak = peak_bytes(lambda: model_file.save_model(model, tmp_path / "m.npz"))
    assert peak < 1.5 * TABLE_BYTES  # one write chunk (see above); copies were >= 3 tables
    loaded = npnet.models.load_model(tmp_path / "m.npz")
    np.testing.assert_array_equal(loaded.get_weights()[0], model.weights[0])


def test_dense_adam_on_a_large_table_keeps_one_blocks_scratch_not_a_table() -> None:
    """Adam's fused kernel updates a large table block by block, so the scratch it keeps between steps is
    one block; a table-sized scratch added the table's size again (239 MB for fastText)."""
    model = npnet.Sequential(
        [layers.Embedding(ROWS, DIM), layers.GlobalAveragePooling1D(), layers.Dense(1, activation="sigmoid")]
    )
    model.compile(optimizer=optimizers.Adam(), loss="binary_crossentropy")
    model.build((None, 20))
    x = np.random.default_rng(0).integers(0, ROWS, size=(8, 20))
    tracemalloc.start()
    try:
        model.train_on_batch(x, np.array([0, 1] * 4))
        kept = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    # What the first step keeps (the gradient buffers exist from build): Adam's m and v, 2 tables, and the
    # scratch: one block now (4 MB for the g = 0 pass begun beside the backward, npnet.fast.adam
    # BACKGROUND_BLOCK; 256 KB in the step itself), a third table before.
    from npnet.fast.adam import BACKGROUND_BLOCK

    assert kept < 2 * TABLE_BYTES + 4 * BACKGROUND_BLOCK + 2**21
