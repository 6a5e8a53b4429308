"""The Keras 3 twin of an npnet model: the same layers, by Keras's names and arguments, with Keras's own
default initializers (npnet's defaults are Keras's, so the twin is what the Keras example builds).

npnet's layers carry Keras's names and `get_config()` keys, so the twin of a layer is
`keras.layers.<ClassName>(**config)` (for the Transformer example's two layers, which Keras lacks:
`parity.keras_transformer`'s) minus what only npnet records (name, dtype, initializers, the deprecated
`input_length`, an unset seed) and with activation layers named as Keras names them. Used by the benchmarks
that run a Keras counterpart of a preset (benchmarks.seeds, benchmarks.systems) and by the parity of the cnn-
lstm model (parity.recurrent); Keras is a benchmark extra, never a runtime dependency of npnet.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

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
_EXAMPLE_LAYERS = ("TokenAndPositionEmbedding", "TransformerBlock")  # parity.keras_transformer's
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
    if class_name in _EXAMPLE_LAYERS:  # the Transformer example's own layers: not in keras.layers
        from parity import keras_transformer

        return getattr(keras_transformer, class_name)(**arguments)
    return getattr(keras.layers, class_name)(**arguments)


def keras_model(keras: Any, model: npnet.Sequential, length: int) -> Any:
    """keras.Sequential of the twins of `model`'s layers, for int32 inputs (batch, length)."""
    twins = [keras_layer(keras, type(layer).__name__, layer.get_config()) for layer in model.layers]
    return keras.Sequential([keras.Input((length,), dtype="int32"), *twins])
