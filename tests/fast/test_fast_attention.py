"""The attention twins compute what the readable layers do: FastMultiHeadAttention (kept buffers, the batch
rows split over two threads, the softmax's division moved onto the context when nothing is masked or
dropped), FastTransformerBlock (the batch in two halves, each through its own replica) and
FastTokenAndPositionEmbedding, each against its readable layer on the same inputs, and `fit` through the fast
plan against `fit` through the readable one.

Where a twin runs the readable operations in the same order (a mask, dropout on the probabilities, the
embedding's scatter) the results are bitwise the readable layer's. Where it computes the same function
otherwise -- (E v) / rowsum(E) for (E / rowsum(E)) v, the softmax's weighted sum from the context, the
halves' weight gradients added -- they agree to rounding: checked in float64 to 1e-12 (a wrong formula, or
a half's gradients left out, is off by far more), and in float32 to float32's rounding over these sums."""

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


# Relative to an array's largest entry, the rounding of the rearranged sums: float64's to 1e-12 (see the
# module docstring); float32's about 100 terms times its epsilon (1.2e-7).
TOLERANCE = {np.float64: 1e-12, np.float32: 2e-5}


def _mha(dropout: float, dtype: type = np.float32) -> layers.MultiHeadAttention:
    layer = layers.MultiHeadAttention(num_heads=2, key_dim=4, dropout=dropout, seed=3)
    layer.build((None, 7, 6), np.random.default_rng(0), dtype)
    return layer


def _assert_equal(
    actual: np.ndarray, desired: np.ndarray, bitwise: bool, err_msg: str = "", magnitude: float | None = None
) -> None:
    """Bitwise, or to the rounding of sums whose terms reach `magnitude` (default: desired's largest entry;
    a gradient that is zero in exact arithmetic, as a key bias's, is the rounding noise of the others')."""
    if bitwise:
        np.testing.assert_array_equal(actual, desired, err_msg=err_msg)
    else:
        scale = TOLERANCE[desired.dtype.type]
        largest = float(np.max(np.abs(desired), initial=0.0)) if magnitude is None else magnitude
        np.testing.assert_allclose(actual, desired, rtol=scale, atol=scale * largest, err_msg=err_msg)


def _padding_mask(batch: int, steps: int, rng: np.random.Generator) -> np.ndarray:
    lengths = rng.integers(1, steps + 1, size=batch)
    return np.arange(steps) >= steps - lengths[:, None]  # pre-padding, as pad_sequences


def _largest(grads: dict[str, np.ndarray]) -> float:
    return max(float(np.max(np.abs(g), initial=0.0)) for g in grads.values())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("dropout", [0.0, 0.3])
@pytest.mark.parametrize("masked", [False, True])
def test_multi_head_attention_twin_equals_the_readable(
    threads: int, dropout: float, masked: bool, dtype: type
) -> None:
    rng = np.random.default_rng(1)
    readable, fast = _mha(dropout, dtype), twin(_mha(dropout, dtype), FastMultiHeadAttention)
    bitwise = masked or dropout > 0  # the readable operations on each part's rows
    # 5 rows, then 3 (an epoch's last batch: the kept buffers' front), then 5 again
    for batch in (5, 3, 5):
        x = rng.standard_normal((batch, 7, 6)).astype(dtype)
        mask = _padding_mask(batch, 7, rng) if masked else None
        g = rng.standard_normal((batch, 7, 6)).astype(dtype)
        with blas_threads(1):
            outputs = [layer.forward(x, mask, training=True) for layer in (readable, fast)]
            inputs = [layer.backward(g) for layer in (readable, fast)]
        assert fast._unnormalized is not bitwise
        _assert_equal(outputs[1], outputs[0], bitwise)
        _assert_equal(inputs[1], inputs[0], bitwise)
        for key in readable.grads:
            _assert_equal(fast.grads[key], readable.grads[key], bitwise, key, _largest(readable.grads))


@pytest.mark.parametrize("masked", [False, True])
def test_the_twins_attention_scores_are_the_readable_probabilities(masked: bool) -> None:
    rng = np.random.default_rng(8)
    readable, fast = _mha(0.0, np.float64), twin(_mha(0.0, np.float64), FastMultiHeadAttention)
    x = rng.standard_normal((4, 7, 6))
    mask = _padding_mask(4, 7, rng) if masked else None
    results = [layer.call(x, query_mask=mask, value_mask=mask, return_attention_scores=True)
               for layer in (readable, fast)]  # fmt: skip
    _assert_equal(results[1][1], results[0][1], bitwise=False)


def test_the_twins_probabilities_are_a_copy_of_its_kept_buffer() -> None:
    fast = twin(_mha(0.0), FastMultiHeadAttention)
    x = np.random.default_rng(2).standard_normal((4, 7, 6)).astype(np.float32)
    _, first = fast.call(x, return_attention_scores=True)
    kept = first.copy()
    fast.call(-x)  # overwrites the kept buffer
    np.testing.assert_array_equal(first, kept)


def _block_pair(dtype: type, dropout: float = 0.2, mask_zero: bool = False) -> tuple[list, list]:
    """The readable embedding and block of one model, and the twins of another's, with the same weights
    and the same noise generators."""
    models_ = [
        models.transformer(30, 12, 8, 2, 5, 4, dropout=dropout, mask_zero=mask_zero, seed=5, dtype=dtype)
        for _ in range(2)
    ]
    for model in models_:
        model.build((None, 9))
        for layer in model.layers[1].sublayers():  # the same dropout masks on both sides
            layer.noise_rng = np.random.default_rng(6)
    readable = models_[0].layers[:2]
    fast = [
        twin(models_[1].layers[0], FastTokenAndPositionEmbedding),
        twin(models_[1].layers[1], FastTransformerBlock),
    ]
    return readable, fast


@pytest.mark.parametrize("mask_zero", [False, True], ids=["the example", "--mask"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("batch", [6, 7, 1])
def test_block_and_embedding_twins_equal_the_readable(
    threads: int, dtype: type, batch: int, mask_zero: bool
) -> None:
    rng = np.random.default_rng(4)
    readable, fast = _block_pair(dtype, mask_zero=mask_zero)
    for _ in range(2):  # a second step: the replicas' kept buffers and gradients reused
        ids = rng.integers(0, 30, size=(batch, 9))
        ids[:, :3] = 0  # padding, looked up by many positions: the scatter-add's repeated rows
        g = rng.standard_normal((batch, 9, 8)).astype(dtype)
        with blas_threads(1):
            results = []
            for embedding, block in (readable, fast):
                mask = embedding.compute_mask(ids, None)  # with --mask: the padding, in each half's rows
                out = block.forward(embedding.forward(ids), mask, training=True)
                embedding.backward(block.backward(g))
                results.append(out)
        halves = fast[1]._halves is not None
        assert halves == (threads == 2 and batch > 1)  # the case under test ran
        assert isinstance(fast[1].att, FastMultiHeadAttention)
        assert (mask is not None) == mask_zero
        _assert_equal(results[1], results[0], bitwise=False)
        for mine, theirs in zip(readable, fast, strict=True):
            for key in mine.grads:
                # the token table's scatter-add is the readable one's; its input gradient is not
                _assert_equal(theirs.grads[key], mine.grads[key], False, key, _largest(mine.grads))


def test_the_halves_draw_the_readable_blocks_dropout_masks() -> None:
    set_num_threads(2)
    try:
        readable, fast = _block_pair(np.float64, dropout=0.5)
        x = np.random.default_rng(9).standard_normal((8, 9, 8))
        outputs = [block.forward(x, training=True) for block in (readable[1], fast[1])]
        assert fast[1]._halves == 8
        for name in ("dropout1", "dropout2"):  # each replica holds its half of the whole batch's draw
            whole = getattr(readable[1], name)._scale
            halves = [getattr(replica, name)._scale for replica in fast[1]._replicas]
            np.testing.assert_array_equal(np.concatenate(halves), whole)
        _assert_equal(outputs[1], outputs[0], bitwise=False)
    finally:
        set_num_threads(None)


def test_dropout_on_the_probabilities_runs_the_block_whole() -> None:
    """The halves would draw the attention's probabilities' mask in another order: the block runs whole."""
    set_num_threads(2)
    try:
        readable, fast = _block_pair(np.float64)
        for block in (readable[1], fast[1]):
            block.att.dropout_layer.rate = 0.3
            block.att.dropout_layer.noise_rng = np.random.default_rng(2)
        x = np.random.default_rng(9).standard_normal((8, 9, 8))
        outputs = [block.forward(x, training=True) for block in (readable[1], fast[1])]
        assert fast[1]._halves is None
        np.testing.assert_array_equal(outputs[1], outputs[0])  # the same operations: masked softmax path
    finally:
        set_num_threads(None)


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
            model = models.transformer(40, 10, 8, 2, 6, 4, seed=0, dtype="float64")
            model.compile(
                optimizer=optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy", metrics=["accuracy"]
            )
            with blas_threads(1):  # the readable plan leaves BLAS alone: the same products on both sides
                history = model.fit(x, y, batch_size=16, epochs=2, validation_data=(x, y), verbose=0)
        finally:
            use_planner(fast_plan)
        histories.append(history.history)
        weights.append(model.get_weights())
    for key, values in histories[0].items():
        np.testing.assert_allclose(histories[1][key], values, rtol=1e-10, err_msg=key)
    largest = _largest(dict(enumerate(weights[0])))
    for mine, theirs in zip(weights[0], weights[1], strict=True):
        _assert_equal(theirs, mine, False, magnitude=largest)


@pytest.mark.parametrize(("start", "then"), [(0.3, 0.0), (0.0, 0.3)])
def test_a_dropout_rate_changed_during_fit_is_the_rate_the_halves_use(start: float, then: float) -> None:
    """The halves' dropouts were copies made at the fit's first batch: a callback annealing the rate crashed
    them (0.3 -> 0) or left them dropping nothing (0 -> 0.3). The attention's own rate too (then the block
    runs whole, and back in halves when it returns to 0)."""
    from npnet.callbacks import LambdaCallback

    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 30, (12, 6)), rng.integers(0, 2, 12)
    set_num_threads(2)
    histories = []
    try:
        for planner in (readable_plan, fast_plan):
            use_planner(planner)
            model = models.transformer(30, 6, 8, 2, 8, 4, dropout=start, seed=0, dtype="float64")
            model.compile(optimizer=optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy")
            block = model.layers[1]

            def anneal(epoch: int, logs: dict, block: layers.TransformerBlock = block) -> None:
                block.dropout1.rate = block.dropout2.rate = then if epoch >= 1 else start
                block.att.dropout_layer.rate = 0.2 if epoch == 2 else 0.0

            callback = LambdaCallback(on_epoch_begin=anneal)
            with blas_threads(1):
                histories.append(model.fit(x, y, batch_size=6, epochs=4, verbose=0, callbacks=[callback]))
    finally:
        use_planner(fast_plan)
        set_num_threads(None)
    np.testing.assert_allclose(histories[1].history["loss"], histories[0].history["loss"], rtol=1e-10)
