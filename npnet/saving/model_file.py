"""`model.save(path)` / `load_model(path)`: a whole model in one safe file, as Keras's `.keras` file is.

The file is an `npnet.saving.archive` array archive (an `.npz` read with `allow_pickle=False`, written
atomically) of
kind "model". Its JSON header holds the architecture (each layer as `{"class_name", "config"}` from the
`Layer.get_config` protocol, rebuilt through the registry `npnet.layers.base.LAYER_CLASSES`, and for a
functional model its graph: each call as a layer name and inbound tensors, `Model.graph_config`), the model's
seed, dtype and fused setting, and the compile settings (optimizer config, loss, metrics); its arrays hold
the weights (`weights/<i>`, `get_weights()` order) and the optimizer state (`optimizer/<key>`); the
header also keeps the random generators' states, so a loaded model trains on exactly as the saved one.

Loading validates everything before building anything that is returned: a file that is not an npnet
model, is damaged, or describes layers or shapes that do not fit its arrays is refused with a
`ModelFileError` that names the file and the problem. Nothing in the file can run code.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import numpy as np

from npnet import losses, metrics, optimizers
from npnet.errors import NpnetError
from npnet.layers.base import deserialize, serialize
from npnet.saving import archive

if TYPE_CHECKING:
    from npnet.functional import Model
    from npnet.model import Sequential

KIND = "model"


class ModelFileError(NpnetError, ValueError):
    """A saved-model file is missing, foreign, damaged or inconsistent."""


# Keras's own formats: a file of npnet's under one of these names would be one Keras cannot read.
KERAS_SUFFIXES = (".keras", ".h5", ".hdf5")


def check_model_path(path: str | os.PathLike[str]) -> None:
    """ValueError when `path` names a Keras file (.keras, .h5): npnet writes its own format, and says how
    to get a Keras model instead."""
    name = os.fspath(path)
    if name.lower().endswith(KERAS_SUFFIXES):
        raise ValueError(
            f"model.save({name!r}): npnet writes its own model file, not Keras's .keras/.h5 format; save to "
            "a path ending in .npnet (read back with npnet.models.load_model), or for a Keras model call "
            "npnet.keras_export.to_keras(model).save('model.keras') (needs keras)"
        )


def save_model(model: Sequential, path: str | os.PathLike[str]) -> None:
    """Write `model` (built; compiled or not) to `path` atomically; a Keras file name is refused."""
    check_model_path(path)

    model._ensure_built()
    weights = model.weights  # live arrays, written at once: no copy of a large table
    arrays = {f"weights/{i}": w for i, w in enumerate(weights)}
    compiled = None
    if model.optimizer is not None and model.loss is not None:
        arrays |= {f"optimizer/{k}": np.asarray(v) for k, v in model.optimizer.get_state(copy=False).items()}
        compiled = {
            "optimizer": model.optimizer.get_config(),
            "loss": {"name": model.loss.name, "from_logits": bool(model.loss.from_logits)},
            "metrics": [{"class_name": type(m).__name__, **m.get_config()} for m in model.metrics],
        }
    meta = {
        "model": {
            "name": model.name,
            "seed": int(model.seed),
            "dtype": model.dtype.name,
            "fused": model.fused,
            "input_shape": list(model.input_shape or ()),
        },
        "layers": [serialize(layer) for layer in model.layers],
        # A functional model's calls: which layer runs on which tensors (None for a Sequential).
        "graph": model.graph_config(),  # None for a Sequential
        "weights": [{"shape": list(w.shape), "dtype": w.dtype.name} for w in weights],
        "compile": compiled,
        # Generator states, so training goes on exactly as it would have: the model's (shuffle, and noise
        # of layers without a seed) and each seeded layer's own.
        "rng": {
            "fit": model.fit_rng.bit_generator.state,
            "layers": {
                layer.name: layer.noise_rng.bit_generator.state
                for layer in _all_layers(model)
                if layer.noise_rng is not None and layer.noise_rng is not model.fit_rng
            },
        },
    }
    archive.save_arrays(path, arrays, kind=KIND, meta=meta)


def load_model(
    path: str | os.PathLike[str], sequential: type[Sequential], functional: type[Model]
) -> Sequential:
    """The model `save_model` wrote to `path`, rebuilt as a `sequential` or, for a file with a graph, as the
    `functional` model it describes (`npnet.models.load_model` passes `Sequential` and `Model`: this module
    never imports the models, which import it for `save`): same layers, weights and (if it was compiled)
    optimizer state, compiled again, so training continues where it stopped. ModelFileError for anything
    else."""

    try:
        arrays, header = archive.load_arrays(path, kind=KIND)
    except (FileNotFoundError, ValueError) as e:
        raise ModelFileError(f"cannot load a model: {e}") from None
    where = f"{os.fspath(path)!r}"
    try:
        spec = header["model"]
        layers = [deserialize(entry) for entry in header["layers"]]
        if header.get("graph") is not None:  # files from before the functional API have no "graph"
            model: Sequential = functional.from_graph_config(
                header["graph"], layers, str(spec["name"]), int(spec["seed"]), str(spec["dtype"])
            )
        else:
            model = sequential(
                layers,
                seed=int(spec["seed"]),
                dtype=str(spec["dtype"]),
                name=str(spec["name"]),
                fused=spec["fused"],
            )
            model.build(tuple(spec["input_shape"]))
        expected = header["weights"]
        weights = [arrays.pop(f"weights/{i}") for i in range(len(expected))]
        for i, (w, entry) in enumerate(zip(weights, expected, strict=True)):
            if list(w.shape) != list(entry["shape"]) or w.dtype.name != entry["dtype"]:
                raise ValueError(f"weights/{i} is {w.dtype} {w.shape}, the header says {entry}")
        model.set_weights(weights)
        compiled = header["compile"]
        if compiled is not None:
            config = dict(compiled["optimizer"])
            optimizer_class = config.pop("name").lower()
            model.compile(
                optimizer=optimizers.get(optimizer_class).__class__(**config),
                loss=losses.from_config(compiled["loss"]),
                metrics=[metrics.from_config(m) for m in compiled["metrics"]],
            )
            state = {
                key.removeprefix("optimizer/"): v for key, v in arrays.items() if key.startswith("optimizer/")
            }
            assert model.optimizer is not None  # compiled just above
            model.optimizer.set_state(state)
        model.fit_rng.bit_generator.state = header["rng"]["fit"]
        own = header["rng"]["layers"]
        for layer in _all_layers(model):
            if layer.name in own:
                layer.noise_rng = np.random.default_rng()
                layer.noise_rng.bit_generator.state = own[layer.name]
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as e:
        raise ModelFileError(
            f"{where} is not a valid npnet model file ({type(e).__name__}: {e}); save the model again "
            "with model.save(path)"
        ) from None
    return model


def _all_layers(model: Sequential) -> list:
    return [part for layer in model.layers for part in (layer, *layer.sublayers())]
