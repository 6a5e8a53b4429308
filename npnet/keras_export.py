"""`to_keras(model)`: the Keras 3 model of an npnet `Sequential`, with its weights -- how to get a `.keras`
file of a model trained in npnet (`to_keras(model).save("m.keras")`).

npnet's layers carry Keras's names and `get_config()` keys, so the Keras layer of an npnet layer is
`keras.layers.<ClassName>(**config)` minus what only npnet records (name, dtype, initializers, the
deprecated `input_length`, an unset seed), with activation layers named as Keras's `activation=` names
them. The same translation builds the Keras counterparts the parity checks and benchmarks race npnet
against (with Keras's own initial weights there). Keras is imported only here, when asked: it is never a
dependency of npnet itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import npnet

# npnet's activation layers under the names Keras's `activation=` takes.
ACTIVATION_NAMES = {"ReLU": "relu", "Sigmoid": "sigmoid", "Tanh": "tanh", "Linear": "linear"}
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


def keras_model(keras: Any, model: npnet.Sequential, length: int | None, dtype: str = "int32") -> Any:
    """keras.Sequential of the Keras layers of `model`'s layers, for inputs (batch, length) of `dtype`
    (token ids by default), with Keras's own initial weights."""
    twins = [keras_layer(keras, type(layer).__name__, layer.get_config()) for layer in model.layers]
    return keras.Sequential([keras.Input((length,), dtype=dtype), *twins])


def to_keras(model: npnet.Sequential) -> Any:
    """The Keras 3 twin of a built `Sequential`: the same layers, its weights (`get_weights()` order is
    Keras's), its frozen layers frozen. Inputs are token ids (int32) when the first layer is an Embedding,
    else floats of the model's shape. Not compiled: compile it in Keras to train or evaluate there.
    ValueError for a functional model; ImportError naming the package when Keras is missing."""
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
    ids = isinstance(model.layers[0], Embedding)
    shape = tuple(model.input_shape[1:])
    dtype = "int32" if ids else np.dtype(model.dtype).name
    twin = keras.Sequential(
        [
            keras.Input(shape, dtype=dtype),
            *(keras_layer(keras, type(layer).__name__, layer.get_config()) for layer in model.layers),
        ],
        name=model.name,
    )
    twin.set_weights(model.get_weights())  # refuses any count or shape that differs
    for ours, theirs in zip(model.layers, twin.layers, strict=True):
        theirs.trainable = ours.trainable
    return twin
