"""`layer.trainable = False` (Keras's semantics): fit leaves the layer's weights as they are on both plans,
the optimizer gets slots only for the trainable weights (so a checkpoint of a model with a frozen layer
resumes exactly), summary splits the counts, and changing `trainable` after steps asks for `compile`."""

from __future__ import annotations

import numpy as np
import pytest

import npnet
from npnet import layers, optimizers
from npnet.plan import readable_plan, use_planner

VOCAB = 40


def data(n: int = 48, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(1, VOCAB, size=(n, 10)), rng.integers(0, 2, size=n)


def model_with_frozen(frozen: str, seed: int = 0) -> npnet.Sequential:
    model = npnet.Sequential(
        [
            layers.Embedding(VOCAB, 6, name="embedding"),
            layers.GlobalAveragePooling1D(),
            layers.Dense(5, activation="relu", name="hidden"),
            layers.BatchNormalization(name="norm"),
            layers.Dense(1, activation="sigmoid", name="out"),
        ],
        seed=seed,
    )
    model.get_layer(frozen).trainable = False
    model.compile(optimizer=optimizers.Adam(0.01), loss="binary_crossentropy")
    return model


@pytest.mark.parametrize("frozen", ["embedding", "hidden"])
@pytest.mark.parametrize("plan", ["fast", "readable"])
def test_fit_leaves_a_frozen_layer_as_it_is(frozen, plan):
    x, y = data()
    model = model_with_frozen(frozen)
    model.build((None, 10))
    before = [w.copy() for w in model.weights]
    if plan == "readable":
        use_planner(readable_plan)
    try:
        model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    finally:
        use_planner(npnet.fast_plan)
    names = [f"{layer.name}.{key}" for layer in model.layers for key in layer.params]
    changed = {
        name for name, a, b in zip(names, before, model.weights, strict=True) if not np.array_equal(a, b)
    }
    assert not any(name.startswith(f"{frozen}.") for name in changed)
    others = {"embedding", "hidden", "out"} - {frozen}
    assert all(any(name.startswith(f"{layer}.") for name in changed) for layer in others)
    # BatchNormalization's moving statistics move by its forward, not by the optimizer ...
    assert {"norm.moving_mean", "norm.moving_variance"} <= changed
    # ... and the optimizer has slots for the trainable weights alone.
    trainable = [w for layer in model.layers for w in layer.trainable_params().values()]
    assert [m.shape for m in model.optimizer.m] == [w.shape for w in trainable]


def test_summary_and_counts_split_trainable_and_not():
    model = model_with_frozen("hidden")
    model.build((None, 10))
    hidden, norm = 6 * 5 + 5, 4 * 5
    assert model.count_params() == 40 * 6 + hidden + norm + 6
    assert model.count_trainable_params() == 40 * 6 + 2 * 5 + 6  # gamma, beta of the norm
    text = model.summary(print_fn=None)
    assert f"Non-trainable params: {hidden + 2 * 5:,}" in text
    assert f"Trainable params: {40 * 6 + 2 * 5 + 6:,}" in text


def test_resume_of_a_model_with_a_frozen_layer_is_bitwise_identical(tmp_path):
    x, y = data()
    straight = model_with_frozen("hidden")
    straight.fit(x, y, epochs=3, batch_size=16, verbose=0)

    first = model_with_frozen("hidden")
    first.fit(x, y, epochs=2, batch_size=16, verbose=0)
    first.save(tmp_path / "m.npnet")
    resumed = npnet.models.load_model(tmp_path / "m.npnet")
    assert not resumed.get_layer("hidden").trainable  # the file keeps the switch
    resumed.fit(x, y, epochs=3, batch_size=16, verbose=0, initial_epoch=2)
    for a, b in zip(straight.get_weights(), resumed.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_changing_trainable_after_steps_asks_for_compile():
    x, y = data()
    model = model_with_frozen("hidden")
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    model.get_layer("out").trainable = False
    with pytest.raises(ValueError, match=r"fit: the trainable weights changed .* call model.compile"):
        model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    model.compile(optimizer=optimizers.Adam(0.01), loss="binary_crossentropy")
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)  # a fresh optimizer for the new set
