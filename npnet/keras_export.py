"""`to_keras(model)`: the Keras 3 model of an npnet `Sequential`, with its weights -- how to get a `.keras`
file of a model trained in npnet (`to_keras(model).save("m.keras")`).

npnet's layers carry Keras's names and `get_config()` keys, so the Keras layer of an npnet layer is
`keras.layers.<ClassName>(**config)` minus what only npnet records (name, dtype, initializers, the
deprecated `input_length`, an unset seed), with activation layers named as Keras's `activation=` names
them. The same translation builds the Keras counterparts the parity checks and benchmarks race npnet
against (with Keras's own initial weights there). Keras is imported only here, when asked: it is never a
dependency of npnet itself.

npnet's ScaledEmbedding has no Keras class: its twin is two Embeddings multiplied, the factors' frozen and
holding the layer's scales (tests/parity/test_parity_nbsvm.py holds it to the layer), with the table's own
initializer (nbsvm's starts at zero).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import npnet

# npnet's activation layers under the names Keras's `activation=` takes.
ACTIVATION_NAMES = {
    "ReLU": "relu",
    "Sigmoid": "sigmoid",
    "Tanh": "tanh",
    "Linear": "linear",
    "Softmax": "softmax",
}
_NPNET_ONLY = ("name", "dtype", "input_length", "zero_output_for_mask")
SCALED = "ScaledEmbedding"  # npnet's layer without a Keras class: `scaled_embedding_twin`


def keras_layer(
    keras: Any, class_name: str, config: dict[str, Any], custom: dict[str, Any] | None = None
) -> Any:
    """The Keras layer `class_name` built from an npnet layer's `get_config()` (a wrapped layer's config,
    `{"class_name", "config"}` as Bidirectional stores it, likewise). `custom`: Keras classes, by name, for
    npnet layers keras.layers lacks (the IMDB Transformer example's own two layers, which the example
    defines itself: `parity.keras_transformer` holds them for the benchmarks and the parity checks)."""
    arguments: dict[str, Any] = {}
    for key, value in config.items():
        if key in _NPNET_ONLY or key.endswith("_initializer") or (key == "seed" and value is None):
            continue
        if key == "activation" and isinstance(value, dict):
            value = ACTIVATION_NAMES[value["class_name"]]
        if key == "layer":
            value = keras_layer(keras, value["class_name"], value["config"], custom)
        arguments[key] = value
    if custom and class_name in custom:
        return custom[class_name](**arguments)
    return getattr(keras.layers, class_name)(**arguments)


def keras_model(
    keras: Any,
    model: npnet.Sequential,
    length: int | None,
    dtype: str = "int32",
    custom: dict[str, Any] | None = None,
    input_shape: tuple[int | None, ...] | None = None,
) -> Any:
    """keras.Sequential of the Keras layers of `model`'s layers, for inputs (batch, length) of `dtype`
    (token ids by default), with Keras's own initial weights; a functional keras.Model where a
    ScaledEmbedding's twin (two layers) is needed."""
    if SCALED not in [type(layer).__name__ for layer in model.layers]:
        twins = [
            keras_layer(keras, type(layer).__name__, layer.get_config(), custom) for layer in model.layers
        ]
        return keras.Sequential([keras.Input(input_shape or (length,), dtype=dtype), *twins])
    x = ids = keras.Input(input_shape or (length,), dtype=dtype)
    for layer in model.layers:
        name = type(layer).__name__
        x = (
            scaled_embedding_twin(keras, layer, x)
            if name == SCALED
            else keras_layer(keras, name, layer.get_config(), custom)(x)
        )
    return keras.Model(ids, x)


def scaled_embedding_twin(keras: Any, layer: Any, ids: Any) -> Any:
    """The output of ScaledEmbedding `layer` (built) on Keras tensor `ids`: Embedding(table) times a frozen
    Embedding(input_dim, 1) holding the layer's scales."""
    config = layer.get_config()
    settings = {key: config[key] for key in ("input_dim", "output_dim", "mask_zero")}
    initializer = keras.initializers.get(config["embeddings_initializer"])
    table = keras.layers.Embedding(**settings, embeddings_initializer=initializer)
    factors = keras.layers.Embedding(
        settings["input_dim"], 1, mask_zero=settings["mask_zero"], trainable=False
    )
    out = keras.layers.Multiply()([table(ids), factors(ids)])
    factors.set_weights([layer.params["scales"][:, None]])
    return out


def to_keras(model: npnet.Sequential, custom: dict[str, Any] | None = None) -> Any:
    """The Keras 3 twin of a built `Sequential`: the same layers, its weights (`get_weights()` order is
    Keras's), its frozen layers frozen. Inputs are token ids (int32) when the first layer is an Embedding,
    else floats of the model's shape. `custom`: Keras classes, by name, for layers keras.layers lacks (the
    IMDB Transformer example defines its two itself). Not compiled: compile it in Keras to train or
    evaluate there. ValueError for a functional model; ImportError naming the package when Keras is
    missing."""
    from npnet.layers.embedding import Embedding

    if model.graph_config() is not None:
        raise ValueError(
            "to_keras translates a Sequential; a functional npnet.Model is not supported yet: rebuild it "
            "with keras.Model from the Keras layers of its layers (npnet.keras_export.keras_layer)"
        )
    try:
        import keras
    except ImportError:
        raise ImportError("to_keras needs Keras 3 (and a backend): pip install keras jax") from None
    model._ensure_built()
    assert model.input_shape is not None
    # token ids when the first layer looks rows up (an Embedding, a ScaledEmbedding, the example's embedding)
    first = model.layers[0]
    ids = isinstance(first, Embedding) or any(
        first.table_ids(k, np.zeros((1, 1), int)) is not None for k in first.params
    )
    shape = tuple(model.input_shape[1:])
    dtype = "int32" if ids else np.dtype(model.dtype).name
    twin = keras_model(keras, model, None, dtype, custom, input_shape=shape)
    # the same arrays in the same order; Keras holds a ScaledEmbedding's factors as a (V, 1) table
    weights = [np.reshape(w, k.shape) for w, k in zip(model.get_weights(), twin.get_weights(), strict=True)]
    twin.set_weights(weights)  # refuses any count or size that differs
    keras_layers = [layer for layer in twin.layers if type(layer).__name__ != "InputLayer"]
    if len(keras_layers) == len(model.layers):  # one Keras layer each (no ScaledEmbedding pair)
        for ours, theirs in zip(model.layers, keras_layers, strict=True):
            theirs.trainable = ours.trainable
    return twin
