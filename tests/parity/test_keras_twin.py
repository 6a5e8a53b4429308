"""npnet.keras_export: the Keras counterpart it builds of every npnet architecture is the same model, so
the seeds and epoch benchmarks race npnet against the Keras example and not against something else."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from npnet import models  # noqa: E402
from npnet.keras_export import keras_model  # noqa: E402
from parity.keras_transformer import EXAMPLE_LAYERS  # noqa: E402

SMALL = {"num_words": 50, "embedding_dim": 6, "filters": 5, "hidden_units": 7, "units": 4}


@pytest.mark.slow
@pytest.mark.parametrize("architecture", sorted(models.ARCHITECTURES))
def test_the_twin_with_npnets_weights_predicts_what_npnet_predicts(architecture: str) -> None:
    ours = models.build(architecture, **SMALL, seed=1)
    steps = 24
    ours.build((None, steps))
    theirs = keras_model(keras, ours, steps, custom=EXAMPLE_LAYERS)
    # ScaledEmbedding has no Keras class: its twin is a table Embedding times a frozen factors Embedding
    expected = [
        name
        for m in ours.layers
        for name in (
            ["Embedding", "Embedding", "Multiply"]
            if type(m).__name__ == "ScaledEmbedding"
            else [type(m).__name__]
        )
    ]
    assert [type(t).__name__ for t in theirs.layers if type(t).__name__ != "InputLayer"] == expected
    # the same arrays in the same order; Keras holds the factors as a (V, 1) table where npnet has (V,)
    weights = [np.reshape(w, k.shape) for w, k in zip(ours.get_weights(), theirs.get_weights(), strict=True)]
    theirs.set_weights(weights)  # refuses any shape or count that differs
    x = np.random.default_rng(0).integers(0, SMALL["num_words"], size=(9, steps)).astype(np.int32)
    np.testing.assert_allclose(
        np.asarray(theirs.predict(x, verbose=0)), ours.predict(x, verbose=0), rtol=2e-5, atol=1e-6
    )
    twins = [t for t in theirs.layers if type(t).__name__ not in ("InputLayer", "Multiply")]
    mine_layers = [m for m in ours.layers for _ in range(2 if type(m).__name__ == "ScaledEmbedding" else 1)]
    for mine, twin in zip(mine_layers, twins, strict=True):  # what a shape check cannot see
        config, twin_config = mine.get_config(), twin.get_config()
        for key in ("rate", "padding", "strides", "pool_size", "dropout", "recurrent_dropout", "merge_mode"):
            if key in config:
                got = twin_config[key]
                assert (tuple(got) if isinstance(got, list) else got) in (config[key], (config[key],)), key
