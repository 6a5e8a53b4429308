"""The Keras 3 twin of an npnet model: the same layers, by Keras's names and arguments, with Keras's own
default initializers (npnet's defaults are Keras's, so the twin is what the Keras example builds).

npnet's layers carry Keras's names and `get_config()` keys, so the twin of a layer is
`keras.layers.<ClassName>(**config)` minus what only npnet records (name, dtype, initializers, the deprecated
`input_length`, an unset seed) and with activation layers named as Keras names them. Used by the benchmarks
that run a Keras counterpart of a preset (benchmarks.seeds, benchmarks.systems, benchmarks.keras_cell) and by
the parity of the cnn-lstm model (parity.recurrent); Keras is a benchmark extra, never a runtime dependency of
npnet.

npnet's ScaledEmbedding has no Keras class: its twin is two Embeddings multiplied, the factors' frozen and
holding the layer's scales (tests/parity/test_parity_nbsvm.py holds it to the layer), with the table's own
initializer (nbsvm's starts at zero).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import npnet

# npnet's activation layers under the names Keras's `activation=` takes.
ACTIVATION_NAMES = {"ReLU": "relu", "Sigmoid": "sigmoid", "Tanh": "tanh", "Linear": "linear"}
SCALED = "ScaledEmbedding"  # npnet's layer without a Keras class: `scaled_embedding_twin`
_NPNET_ONLY = ("name", "dtype", "input_length", "zero_output_for_mask")


def keras_layer(keras: Any, class_name: str, config: dict[str, Any]) -> Any:
    """The Keras layer `class_name` built from an npnet layer's `get_config()` (a wrapped layer's config,
    `{"class_name", "config"}` as Bidirectional stores it, likewise)."""
    arguments: dict[str, Any] = {}
    for key, value in config.items():
        if key in _NPNET_ONLY or key.endswith("_initializer") or (key == "seed" and value is None):
            continue
        if key == "activation" and isinstance(value, dict):
            value = ACTIVATION_NAMES[value["class_name"]]
        if key == "layer":
            value = keras_layer(keras, value["class_name"], value["config"])
        arguments[key] = value
    return getattr(keras.layers, class_name)(**arguments)


def keras_model(keras: Any, model: npnet.Sequential, length: int) -> Any:
    """keras.Sequential of the twins of `model`'s layers, for int32 inputs (batch, length); a functional
    keras.Model where a ScaledEmbedding's twin (two layers) is needed."""
    if SCALED not in [type(layer).__name__ for layer in model.layers]:
        twins = [keras_layer(keras, type(layer).__name__, layer.get_config()) for layer in model.layers]
        return keras.Sequential([keras.Input((length,), dtype="int32"), *twins])
    x = ids = keras.Input((length,), dtype="int32")
    for layer in model.layers:
        name = type(layer).__name__
        x = (
            scaled_embedding_twin(keras, layer, x)
            if name == SCALED
            else keras_layer(keras, name, layer.get_config())(x)
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
