"""The attention twins compute exactly what the readable layers do: FastMultiHeadAttention (kept buffers, the
batch rows split over two threads), FastTransformerBlock and FastTokenAndPositionEmbedding, each against
its readable layer on the same inputs -- bitwise, since every row runs the same operations in the same order
-- and `fit` through the fast plan against `fit` through the readable one."""

from __future__ import annotations

import numpy as np
import pytest

from npnet import layers, models, optimizers
from npnet.config import set_num_threads
from npnet.fast.attention import FastMultiHeadAttention, FastTokenAndPositionEmbedding, FastTransformerBlock
from npnet.fast.plan import TWINS, fast_plan
from npnet.fast.threads import blas_threads
from npnet.fast.twin import twin
from npnet.plan import readable_plan, use_planner


@pytest.fixture(params=[1, 2], ids=["one thread", "two threads"])
def threads(request: pytest.FixtureRequest) -> int:
    set_num_threads(request.param)
    yield request.param
    set_num_threads(None)


def _mha(dropout: float) -> layers.MultiHeadAttention:
    layer = layers.MultiHeadAttention(num_heads=2, key_dim=4, dropout=dropout, seed=3)
    layer.build((None, 7, 6), np.random.default_rng(0))
    return layer


def _padding_mask(batch: int, steps: int, rng: np.random.Generator) -> np.ndarray:
    lengths = rng.integers(1, steps + 1, size=batch)
    return np.arange(steps) >= steps - lengths[:, None]  # pre-padding, as pad_sequences


@pytest.mark.parametrize("dropout", [0.0, 0.3])
@pytest.mark.parametrize("masked", [False, True])
def test_multi_head_attention_twin_is_bitwise_the_readable(
    threads: int, dropout: float, masked: bool
) -> None:
    rng = np.random.default_rng(1)
    readable, fast = _mha(dropout), twin(_mha(dropout), FastMultiHeadAttention)
    # 5 rows, then 3 (an epoch's last batch: the kept buffers' front), then 5 again
    for batch in (5, 3, 5):
        x = rng.standard_normal((batch, 7, 6)).astype(np.float32)
        mask = _padding_mask(batch, 7, rng) if masked else None
        g = rng.standard_normal((batch, 7, 6)).astype(np.float32)
        with blas_threads(1):
            outputs = [layer.forward(x, mask, training=True) for layer in (readable, fast)]
            inputs = [layer.backward(g) for layer in (readable, fast)]
        np.testing.assert_array_equal(outputs[1], outputs[0])
        np.testing.assert_array_equal(inputs[1], inputs[0])
        for key in readable.grads:
            np.testing.assert_array_equal(fast.grads[key], readable.grads[key], err_msg=key)
        np.testing.assert_array_equal(fast._probs, readable._probs)


def test_the_twins_probabilities_are_a_copy_of_its_kept_buffer() -> None:
    fast = twin(_mha(0.0), FastMultiHeadAttention)
    x = np.random.default_rng(2).standard_normal((4, 7, 6)).astype(np.float32)
    _, first = fast.call(x, return_attention_scores=True)
    kept = first.copy()
    fast.call(-x)  # overwrites the kept buffer
    np.testing.assert_array_equal(first, kept)


def test_block_and_embedding_twins_are_bitwise_the_readable(threads: int) -> None:
    rng = np.random.default_rng(4)
    ids = rng.integers(0, 30, size=(6, 9))
    ids[:, :3] = 0  # padding, looked up by many positions: the scatter-add's repeated rows
    g = rng.standard_normal((6, 9, 8)).astype(np.float32)
    models_ = [models.transformer(30, 12, 8, 2, 5, 4, dropout=0.2, seed=5) for _ in range(2)]
    for model in models_:
        model.build((None, 9))
    readable = models_[0].layers[:2]
    fast = [
        twin(models_[1].layers[0], FastTokenAndPositionEmbedding),
        twin(models_[1].layers[1], FastTransformerBlock),
    ]
    for model in models_:  # the same dropout masks on both sides
        for layer in model.layers[1].sublayers():
            layer.noise_rng = np.random.default_rng(6)
    with blas_threads(1):
        results = []
        for embedding, block in (readable, fast):
            out = block.forward(embedding.forward(ids), training=True)
            embedding.backward(block.backward(g))
            results.append(out)
    assert isinstance(fast[1].att, FastMultiHeadAttention)
    np.testing.assert_array_equal(results[1], results[0])
    for mine, theirs in zip(readable, fast, strict=True):
        for key in mine.grads:
            np.testing.assert_array_equal(theirs.grads[key], mine.grads[key], err_msg=key)


def test_the_fast_plan_runs_the_twins_sharing_the_models_weights() -> None:
    model = models.transformer(40, 10, 8, 2, 6, 4, seed=0)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.build((None, 10))
    plan = fast_plan(model, model.optimizer)
    assert [type(layer) for layer in plan.layers[:2]] == [FastTokenAndPositionEmbedding, FastTransformerBlock]
    assert plan.layers[1].params is model.layers[1].params and plan.layers[1].grads is model.layers[1].grads
    assert TWINS[layers.MultiHeadAttention] is FastMultiHeadAttention
    plan.close()


@pytest.mark.slow
def test_fit_through_the_twins_equals_fit_through_the_readable_layers(threads: int) -> None:
    rng = np.random.default_rng(7)
    x = rng.integers(0, 40, size=(70, 10))
    x[:, :4] *= rng.random((70, 4)) < 0.5  # some padding
    y = rng.integers(0, 2, size=70)
    histories, weights = [], []
    for planner in (readable_plan, fast_plan):
        use_planner(planner)
        try:
            model = models.transformer(40, 10, 8, 2, 6, 4, seed=0)
            model.compile(
                optimizer=optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy", metrics=["accuracy"]
            )
            with blas_threads(1):  # the readable plan leaves BLAS alone: the same products on both sides
                history = model.fit(x, y, batch_size=16, epochs=2, validation_data=(x, y), verbose=0)
        finally:
            use_planner(fast_plan)
        histories.append(history.history)
        weights.append(model.get_weights())
    assert histories[1] == histories[0]
    for mine, theirs in zip(weights[0], weights[1], strict=True):
        np.testing.assert_array_equal(theirs, mine)
